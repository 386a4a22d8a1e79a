package lock

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

const validLock = `# a comment that must survive
format: 1
base:
  image: registry.example/debian:bookworm@sha256:abd67ffcfa541b485a3dff59865ab629aa048a6c613e639d36e7456b0b229241
  packages: [bash, git]
platforms: [linux/amd64, linux/arm64]
tools:
  # flux comes as a tarball
  flux:
    source: github:fluxcd/flux2
    version: v2.9.4   # trailing comment
    url: https://example.test/flux_{{trimV .Version}}_{{.OS}}_{{.Arch}}.tar.gz
    extract: flux
    sha256:
      linux/amd64: "c2c397a52930f52d2005c01d276116b059d062de379386d58e98115380a766a2"
      linux/arm64: 'dcab945f8d8658662fa1db93e150a602ba1f91da367a82e099bd65595fc7c62c'
  kubectl:
    version: v1.36.4
    url: https://example.test/{{.Version}}/{{.OS}}/{{.Arch}}/kubectl
    sha256:
      linux/amd64: 8b8f088da2dab964f853b38464033b1be15ede2839eca751482357c45abdd05a
      linux/arm64: 0ecf44450ee6063bf19dd166a103ee6df4a9034455c2abce626e6eea657d73fb
`

func TestParseValid(t *testing.T) {
	t.Parallel()
	l, err := Parse(FileName, []byte(validLock))
	if err != nil {
		t.Fatal(err)
	}
	if got := len(l.Tools); got != 2 || l.Tools[0].Name != "flux" || l.Tools[1].Name != "kubectl" {
		t.Fatalf("tools not in file order: %+v", l.Tools)
	}
	a, err := l.Tool("flux").Artifact(Platform{OS: "linux", Arch: "arm64"})
	if err != nil {
		t.Fatal(err)
	}
	want := Artifact{Tool: "flux", Platform: Platform{OS: "linux", Arch: "arm64"},
		URL: "https://example.test/flux_2.9.4_linux_arm64.tar.gz", Member: "flux",
		SHA256: "dcab945f8d8658662fa1db93e150a602ba1f91da367a82e099bd65595fc7c62c"}
	if a != want {
		t.Fatalf("artifact:\n got %+v\nwant %+v", a, want)
	}
	if l.Tool("kubectl").Bin != "kubectl" {
		t.Fatalf("bin should default to the tool name")
	}
}

func TestProjectLockIsValid(t *testing.T) {
	t.Parallel()
	l, err := Load("../../tools.lock")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tool := range l.Tools {
		names = append(names, tool.Name)
	}
	if got := strings.Join(names, " "); got != "kubectl talosctl flux sops yq helm" {
		t.Fatalf("project lock tools = %q", got)
	}
	if len(l.Warnings) != 0 {
		t.Fatalf("project lock has warnings: %v", l.Warnings)
	}
}

func TestParseProblems(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		replace [2]string // old, new applied to validLock
		want    string    // one line of the error
	}{
		{"unknown key in tool", [2]string{"    extract: flux\n", "    extract: flux\n    checksum: x\n"},
			`tools.lock:14:5: tool "flux": unknown key "checksum" in tool`},
		{"unknown top-level key", [2]string{"format: 1\n", "format: 1\nimgae: x\n"},
			`tools.lock:3:1: unknown key "imgae" in the top level`},
		{"shared image with a tag", [2]string{"format: 1\n", "format: 1\nimage: registry.example/team/tools:v1\n"},
			`tools.lock:3:8: image "registry.example/team/tools:v1": give a repository without tag or digest`},
		{"duplicate tool", [2]string{"  kubectl:\n    version: v1.36.4", "  flux:\n    version: v1.36.4"},
			`tools.lock:17:3: tool "flux": duplicate tool (first defined at line 9)`},
		{"missing checksum for a platform", [2]string{"      linux/arm64: 0ecf44450ee6063bf19dd166a103ee6df4a9034455c2abce626e6eea657d73fb\n", ""},
			`tools.lock:20:5: tool "kubectl": no sha256 for platform linux/arm64`},
		{"malformed hex", [2]string{"8b8f088da2dab964", "8B8F088DA2DAB964"},
			`tools.lock:21:20: tool "kubectl": sha256 for linux/amd64 must be 64 lowercase hex digits`},
		{"short hex", [2]string{"8b8f088da2dab964f853b38464033b1be15ede2839eca751482357c45abdd05a", "8b8f08"},
			`tools.lock:21:20: tool "kubectl": sha256 for linux/amd64 must be 64 lowercase hex digits, got "8b8f08"`},
		{"unpinned base", [2]string{"@sha256:abd67ffcfa541b485a3dff59865ab629aa048a6c613e639d36e7456b0b229241", ""},
			`tools.lock:4:10: base image "registry.example/debian:bookworm" is not pinned by digest`},
		{"template that does not render", [2]string{"{{.Version}}/{{.OS}}", "{{.Versoin}}/{{.OS}}"},
			`tools.lock:19:10: tool "kubectl": url template does not render: unknown field .Versoin (known: .Version, .OS, .Arch, .Variant; functions trimV, trimPrefix, pathEscape, title, alias)`},
		{"template that does not parse", [2]string{"{{trimV .Version}}", "{{trimV .Version}"},
			`tools.lock:12:10: tool "flux": url template does not render: bad character U+007D '}'`},
		{"checksum for an undeclared platform", [2]string{"      linux/arm64: 'dcab", "      linux/riscv64: 'dcab"},
			`tools.lock:16:7: tool "flux": sha256 for linux/riscv64, which is not in platforms`},
		{"missing version", [2]string{"    version: v1.36.4\n", ""},
			`tools.lock:17:3: tool "kubectl": missing "version"`},
		{"newer format", [2]string{"format: 1", "format: 2"},
			`tools.lock:2:9: format 2 is newer than this ws understands (1): upgrade ws`},
		{"not yaml", [2]string{"platforms: [linux/amd64, linux/arm64]", "platforms: [linux/amd64"},
			`tools.lock:5: not valid YAML`},
		{"bad source", [2]string{"github:fluxcd/flux2", "fluxcd/flux2"},
			`tools.lock:10:13: tool "flux": source "fluxcd/flux2": write it as github:OWNER/REPO`},
		{"extract escaping the archive", [2]string{"extract: flux", "extract: ../flux"},
			`tools.lock:13:14: tool "flux": extract renders to "../flux": give a relative path inside the archive`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src := strings.Replace(validLock, tt.replace[0], tt.replace[1], 1)
			if src == validLock {
				t.Fatalf("replacement %q not found", tt.replace[0])
			}
			_, err := Parse(FileName, []byte(src))
			var pe *ProblemsError
			if !errors.As(err, &pe) {
				t.Fatalf("want *ProblemsError, got %v", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error does not contain\n  %s\ngot:\n  %s", tt.want, err)
			}
		})
	}
}

func TestWorkspaceSection(t *testing.T) {
	t.Parallel()
	src := strings.Replace(validLock, "platforms:", "workspace:\n  env: [A=1, B=two words]\n  mounts: [\"~/.ssh:/home/x/.ssh:ro\"]\n  network: host\nplatforms:", 1)
	l, err := Parse(FileName, []byte(src))
	must(t, err)
	if w := l.Workspace; len(w.Env) != 2 || w.Env[1] != "B=two words" || w.Mounts[0] != "~/.ssh:/home/x/.ssh:ro" || w.Network != "host" {
		t.Fatalf("workspace: %+v", w)
	}
	bad := strings.Replace(validLock, "platforms:", "workspace:\n  env: [NOEQUALS]\nplatforms:", 1)
	if _, err := Parse(FileName, []byte(bad)); err == nil || !strings.Contains(err.Error(), `tools.lock:7:9: workspace env: "NOEQUALS" is not KEY=VALUE`) {
		t.Fatalf("bad env: %v", err)
	}
	// ws's own variables can never come from a lock, trusted or not.
	for _, kv := range []string{"WS_UID=0", "LD_PRELOAD=/tmp/x.so", "HOME=/", "PATH=/tmp", "GNUPGHOME=/tmp"} {
		bad := strings.Replace(validLock, "platforms:", "workspace:\n  env: [A=1, \""+kv+"\"]\nplatforms:", 1)
		name, _, _ := strings.Cut(kv, "=")
		if _, err := Parse(FileName, []byte(bad)); err == nil || !strings.Contains(err.Error(), "tools.lock:7:14: workspace env: "+name+" is set by ws itself") {
			t.Errorf("env %s: %v", kv, err)
		}
	}
}

func TestWorkspaceSecrets(t *testing.T) {
	t.Parallel()
	with := func(entry string) string {
		return strings.Replace(validLock, "platforms:", "workspace:\n  secrets:\n    - "+entry+"\nplatforms:", 1)
	}
	l, err := Parse(FileName, []byte(with("{file: clusters/prod/kubeconfig, env: KUBECONFIG, name: kubeconfig}")))
	must(t, err)
	if s := l.Workspace.Secrets; len(s) != 1 || s[0] != (SecretFile{File: "clusters/prod/kubeconfig", Env: "KUBECONFIG", Name: "kubeconfig"}) {
		t.Fatalf("secrets: %+v", s)
	}
	tests := []struct{ name, entry, want string }{
		{"outside the repository", "{file: ../kubeconfig, env: KUBECONFIG, name: kubeconfig}", `file "../kubeconfig" must be inside the repository`},
		{"path as a name", "{file: kubeconfig, env: KUBECONFIG, name: ../etc/passwd}", `name "../etc/passwd" must be a plain file name`},
		{"the GPG home's name", "{file: kubeconfig, env: KUBECONFIG, name: gnupg}", `name "gnupg" is where ws keeps the forwarded GPG home`},
		{"GNUPGHOME", "{file: kubeconfig, env: GNUPGHOME, name: kubeconfig}", `env "GNUPGHOME" is set by ws or the workspace itself`},
		{"the entrypoint's variables", "{file: kubeconfig, env: WS_UID, name: kubeconfig}", `env "WS_UID" is set by ws`},
		{"not a variable", "{file: kubeconfig, env: KUBE-CONFIG, name: kubeconfig}", `env "KUBE-CONFIG" is not a variable name`},
		{"missing env", "{file: kubeconfig, name: kubeconfig}", `workspace secret: missing "env"`},
		{"empty name", `{file: kubeconfig, env: KUBECONFIG, name: ""}`, `workspace secret: name must not be empty`},
		{"empty env", `{file: kubeconfig, env: "", name: kubeconfig}`, `workspace secret: env must not be empty`},
		{"the loader's variables", "{file: kubeconfig, env: LD_PRELOAD, name: kubeconfig}", `env "LD_PRELOAD" is set by ws`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse(FileName, []byte(with(tt.entry)))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want %q", err, tt.want)
			}
		})
	}
}

func TestUnpinnedBaseOptIn(t *testing.T) {
	t.Parallel()
	src := strings.Replace(validLock, "@sha256:abd67ffcfa541b485a3dff59865ab629aa048a6c613e639d36e7456b0b229241", "", 1)
	src = strings.Replace(src, "  packages:", "  allow_unpinned: true\n  packages:", 1)
	l, err := Parse(FileName, []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Warnings) != 1 || !strings.Contains(l.Warnings[0], "tools.lock:4:10: base image") {
		t.Fatalf("want one warning about the base, got %q", l.Warnings)
	}
}

func TestUnchangedLockKeepsBytes(t *testing.T) {
	t.Parallel()
	for _, path := range []string{"../../tools.lock"} {
		src, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		l, err := Parse(FileName, src)
		if err != nil {
			t.Fatal(err)
		}
		// Setting values to what they are is a no-op, byte for byte.
		for _, tool := range l.Tools {
			if err := l.SetVersion(tool.Name, tool.Version); err != nil {
				t.Fatal(err)
			}
			for _, p := range l.Platforms {
				if err := l.SetChecksum(tool.Name, p, tool.SHA256[p]); err != nil {
					t.Fatal(err)
				}
			}
		}
		out, err := l.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out, src) {
			t.Fatalf("rewriting %s changed its bytes", path)
		}
		if changed, _ := l.Changed(); changed {
			t.Fatal("Changed() reports a change for identical values")
		}
	}
}

func TestEditsKeepCommentsAndQuotes(t *testing.T) {
	t.Parallel()
	l, err := Parse(FileName, []byte(validLock))
	if err != nil {
		t.Fatal(err)
	}
	amd := Platform{OS: "linux", Arch: "amd64"}
	arm := Platform{OS: "linux", Arch: "arm64"}
	newAmd := strings.Repeat("a", 64)
	newArm := strings.Repeat("b", 64)
	must(t, l.SetVersion("flux", "v2.10.0"))
	must(t, l.SetChecksum("flux", amd, newAmd))
	must(t, l.SetChecksum("flux", arm, newArm))
	out, err := l.Bytes()
	must(t, err)
	want := strings.NewReplacer(
		"version: v2.9.4   # trailing comment", "version: v2.10.0   # trailing comment",
		`"c2c397a52930f52d2005c01d276116b059d062de379386d58e98115380a766a2"`, `"`+newAmd+`"`,
		`'dcab945f8d8658662fa1db93e150a602ba1f91da367a82e099bd65595fc7c62c'`, `'`+newArm+`'`,
	).Replace(validLock)
	if string(out) != want {
		t.Fatalf("edited lock:\n%s\nwant:\n%s", out, want)
	}
	again, err := Parse(FileName, out)
	must(t, err)
	if v := again.Tool("flux").Version; v != "v2.10.0" {
		t.Fatalf("reparsed version %q", v)
	}
}

func TestSetRejectsUnsafeValues(t *testing.T) {
	t.Parallel()
	l, err := Parse(FileName, []byte(validLock))
	must(t, err)
	if err := l.SetVersion("flux", "v1 # x"); err == nil {
		t.Fatal("a version with a space and # must be refused")
	}
	if err := l.SetChecksum("flux", Platform{OS: "linux", Arch: "amd64"}, "ABC"); err == nil {
		t.Fatal("a malformed digest must be refused")
	}
	if err := l.SetVersion("nope", "v1"); err == nil {
		t.Fatal("an unknown tool must be refused")
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// base.snapshot: what it accepts, and what would reach a shell or apt's
// sources line, or a file outside the repository, refused at parse.
func TestSnapshot(t *testing.T) {
	t.Parallel()
	with := func(snapshot string) string {
		return strings.Replace(validLock, "  packages: [bash, git]\n", "  packages: [bash, git=1:2.39.5-0+deb12u2]\n  snapshot:\n"+snapshot, 1)
	}
	l, err := Parse(FileName, []byte(with("    url: https://snapshot.debian.org/archive/debian/20261101T000000Z/\n    suite: bookworm\n")))
	if err != nil {
		t.Fatal(err)
	}
	s := l.Base.Snapshot
	if s == nil || s.URL != "https://snapshot.debian.org/archive/debian/20261101T000000Z" || s.Suite != "bookworm" || len(s.Components) != 1 || s.Components[0] != "main" {
		t.Fatalf("snapshot %+v", s)
	}
	if !l.Base.Floating() {
		t.Error("bash has no version: the packages float")
	}
	if !slicesContains(l.Reach().Hosts, "https://snapshot.debian.org") {
		t.Errorf("the snapshot's host is not in the reach: %v", l.Reach().Hosts)
	}
	if err := l.SetPackageVersion("bash", "5.2.15-2+b7"); err != nil {
		t.Fatal(err)
	}
	b, _ := l.Bytes()
	if !strings.Contains(string(b), "packages: [bash=5.2.15-2+b7, git=1:2.39.5-0+deb12u2]") {
		t.Fatalf("after pinning bash:\n%s", b)
	}
	again, err := Parse(FileName, b)
	if err != nil || again.Base.Floating() {
		t.Fatalf("the pinned lock: %v, floating %v", err, again.Base.Floating())
	}
	// Moving the snapshot in time edits the URL's last segment only.
	at, ok := again.Base.Snapshot.Time()
	if !ok || at.Format(time.RFC3339) != "2026-11-01T00:00:00Z" {
		t.Fatalf("snapshot time %v %v", at, ok)
	}
	moved, err := again.Base.Snapshot.At(at.Add(14*24*time.Hour + 90*time.Minute))
	if err != nil || moved != "https://snapshot.debian.org/archive/debian/20261115T013000Z" {
		t.Fatalf("moved to %q, %v", moved, err)
	}
	if err := again.SetSnapshotURL(moved); err != nil {
		t.Fatal(err)
	}
	if b2, _ := again.Bytes(); string(b2) != strings.Replace(string(b), "20261101T000000Z/", "20261115T013000Z", 1) {
		t.Fatalf("after moving the snapshot:\n%s", b2)
	}
	if err := again.SetSnapshotURL("https://x.test/a'$(id)"); err == nil {
		t.Error("a URL that needs quoting was written into the lock")
	}
	mirror := &Snapshot{URL: "https://deb.debian.org/debian"}
	if _, err := mirror.At(at); err == nil || !strings.Contains(err.Error(), "names no point in time") {
		t.Errorf("a mirror URL moved in time: %v", err)
	}
	for snapshot, want := range map[string]string{
		"    url: https://x.test/a'$(id)\n    suite: bookworm\n":                               "is not an http(s) archive address",
		"    url: file:///srv/debian\n    suite: bookworm\n":                                   "is not an http(s) archive address",
		"    url: https://x.test/debian\n":                                                     "missing suite",
		"    url: https://x.test/debian\n    suite: 'a b'\n":                                   "is not a suite name",
		"    url: https://x.test/debian\n    suite: bookworm\n    key: ../../etc/key\n":        "must be a file path relative to tools.lock",
		"    url: https://x.test/debian\n    suite: bookworm\n    key: /etc/key\n":             "must be a file path relative to tools.lock",
		"    url: https://x.test/debian\n    suite: bookworm\n    components: [main, 'x;y']\n": "is not an archive component",
	} {
		_, err := Parse(FileName, []byte(with(snapshot)))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", snapshot, err, want)
		}
	}
}

func slicesContains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// A package whose version differs per architecture: NAME:ARCH=VERSION
// entries, each platform installing its own, and the split written in the
// list's own style.
func TestPackagesPerArchitecture(t *testing.T) {
	t.Parallel()
	amd64, arm64 := Platform{OS: "linux", Arch: "amd64"}, Platform{OS: "linux", Arch: "arm64"}
	for name, c := range map[string]struct{ packages, want string }{
		"flow": {"  packages: [bash=5.2, hello]\n", "  packages: [bash=5.2, hello:amd64=2.10-3, hello:arm64=2.10-3+b1]\n"},
		"block": {"  packages:\n    - bash=5.2\n    - hello   # greets\n",
			"  packages:\n    - bash=5.2\n    - hello:amd64=2.10-3\n    - hello:arm64=2.10-3+b1   # greets\n"},
	} {
		l, err := Parse(FileName, []byte(strings.Replace(validLock, "  packages: [bash, git]\n", c.packages, 1)))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := l.SplitPackage("hello", map[string]string{"arm64": "2.10-3+b1", "amd64": "2.10-3"}); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		b, _ := l.Bytes()
		if want := strings.Replace(validLock, "  packages: [bash, git]\n", c.want, 1); string(b) != want {
			t.Fatalf("%s: after the split:\n%s\nwant:\n%s", name, b, want)
		}
		again, err := Parse(FileName, b)
		if err != nil {
			t.Fatalf("%s: the split lock: %v", name, err)
		}
		if got := strings.Join(again.Base.PackagesFor(amd64), " "); got != "bash=5.2 hello=2.10-3" {
			t.Errorf("%s: amd64 installs %s", name, got)
		}
		if got := strings.Join(again.Base.PackagesFor(arm64), " "); got != "bash=5.2 hello=2.10-3+b1" {
			t.Errorf("%s: arm64 installs %s", name, got)
		}
	}
	// An entry for one architecture wins over the one for every architecture.
	l, err := Parse(FileName, []byte(strings.Replace(validLock, "[bash, git]", "[git=1, 'git:arm64=2']", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if a, b := strings.Join(l.Base.PackagesFor(amd64), " "), strings.Join(l.Base.PackagesFor(arm64), " "); a != "git=1" || b != "git=2" {
		t.Errorf("amd64 %s, arm64 %s", a, b)
	}
	for packages, want := range map[string]string{
		"[git:sparc=1]":            "is not a Debian architecture",
		"[git:arm64, git:arm64=2]": "listed twice",
		"['git:arm64 =1']":         "is not a Debian package name",
	} {
		if _, err := Parse(FileName, []byte(strings.Replace(validLock, "[bash, git]", packages, 1))); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", packages, err, want)
		}
	}
}
