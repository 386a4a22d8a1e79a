package lock

import (
	"strings"
	"testing"
)

var k9s = NewTool{
	Name: "k9s", Source: "github:derailed/k9s", Version: "v0.32.7",
	URL:     "https://github.com/derailed/k9s/releases/download/{{.Version}}/k9s_{{title .OS}}_{{.Arch}}.tar.gz",
	Extract: "k9s", Bin: "k9s",
	SHA256: map[Platform]string{
		{OS: "linux", Arch: "arm64"}: strings.Repeat("b", 64),
		{OS: "linux", Arch: "amd64"}: strings.Repeat("a", 64),
	},
	Comment: "added by ws lock add from github:derailed/k9s",
}

func TestWithToolAppendsAndKeepsEveryOtherByte(t *testing.T) {
	t.Parallel()
	for _, tail := range []string{"", "\nworkspace:\n  network: host\n", "\n# the end\n"} {
		l, err := Parse(FileName, []byte(validLock+tail))
		must(t, err)
		next, err := l.WithTool(k9s)
		must(t, err)
		out, _ := next.Bytes()
		block := `
  # added by ws lock add from github:derailed/k9s
  k9s:
    source: github:derailed/k9s
    version: v0.32.7
    url: 'https://github.com/derailed/k9s/releases/download/{{.Version}}/k9s_{{title .OS}}_{{.Arch}}.tar.gz'
    extract: k9s
    sha256:
      linux/amd64: ` + strings.Repeat("a", 64) + `
      linux/arm64: ` + strings.Repeat("b", 64) + `
`
		if want := validLock + block + tail; string(out) != want {
			t.Fatalf("with tail %q got:\n%s\nwant:\n%s", tail, out, want)
		}
		a, err := next.Tool("k9s").Artifact(Platform{OS: "linux", Arch: "amd64"})
		if err != nil || a.URL != "https://github.com/derailed/k9s/releases/download/v0.32.7/k9s_Linux_amd64.tar.gz" {
			t.Fatalf("artifact %+v, %v", a, err)
		}
		back, err := next.WithoutTool("k9s")
		must(t, err)
		if b, _ := back.Bytes(); string(b) != validLock+tail {
			t.Fatalf("add then remove is not the original:\n%s", b)
		}
	}
	l, _ := Parse(FileName, []byte(validLock))
	if _, err := l.WithTool(NewTool{Name: "flux"}); err == nil || !strings.Contains(err.Error(), `already has a tool "flux"`) {
		t.Fatalf("duplicate: %v", err)
	}
}

func TestWithoutTool(t *testing.T) {
	t.Parallel()
	l, err := Parse(FileName, []byte(validLock))
	must(t, err)
	flux := validLock[strings.Index(validLock, "  # flux comes"):strings.Index(validLock, "  kubectl:")]
	kubectl := validLock[strings.Index(validLock, "  kubectl:"):]
	for name, want := range map[string]string{
		"flux":    strings.Replace(validLock, flux, "", 1),
		"kubectl": strings.Replace(validLock, kubectl, "", 1),
	} {
		next, err := l.WithoutTool(name)
		must(t, err)
		if b, _ := next.Bytes(); string(b) != want {
			t.Errorf("without %s:\n%s\nwant:\n%s", name, b, want)
		}
	}
	if _, err := l.WithoutTool("helm"); err == nil {
		t.Fatal("removing a tool that is not there succeeded")
	}
}
