package build

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseTarget(t *testing.T) {
	tls := TLS{CACert: "ca.pem", Cert: "cert.pem", Key: "key.pem"}
	for _, c := range []struct {
		addr    string
		tls     TLS
		wantErr string
	}{
		{addr: ""},
		{addr: "unix:///run/buildkit/buildkitd.sock"},
		{addr: "tcp://buildkit.example:1234", tls: tls},
		{addr: "docker-container://buildx_buildkit_ci0"},
		{addr: "kube-pod://buildkitd-0?namespace=ci"},
		{addr: "docker-container://bk", tls: tls, wantErr: "takes no TLS files"},
		{addr: "https://buildkit.example", wantErr: "scheme BuildKit does not dial"},
		{addr: "buildkit.example:1234", wantErr: "scheme BuildKit does not dial"},
		{addr: "no scheme", wantErr: "is not a BuildKit address"},
	} {
		got, err := ParseTarget(c.addr, c.tls)
		if c.wantErr != "" {
			var te *TargetError
			if !errors.As(err, &te) || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("%q: error %v, want one saying %q", c.addr, err, c.wantErr)
			}
			continue
		}
		if err != nil || got.Addr != c.addr || got.TLS != c.tls {
			t.Errorf("%q: %+v, %v", c.addr, got, err)
		}
	}
}

// buildx's store: each driver to the address ws dials, as buildx would.
func TestBuildxTarget(t *testing.T) {
	dir := t.TempDir()
	store := filepath.Join(dir, "buildx", "instances")
	os.MkdirAll(store, 0o755)
	for name, body := range map[string]string{
		"ci":     `{"Name":"ci","Driver":"docker-container","Nodes":[{"Name":"ci0","Endpoint":"unix:///var/run/docker.sock"}]}`,
		"colima": `{"Name":"colima","Driver":"docker-container","Nodes":[{"Name":"colima0","Endpoint":"colima"}]}`,
		"remote": `{"Name":"remote","Driver":"remote","Nodes":[{"Name":"remote0","Endpoint":"tcp://bk.example:1234","DriverOpts":{"cacert":"/c/ca.pem","cert":"/c/cert.pem","key":"/c/key.pem","servername":"bk"}}]}`,
		"k8s":    `{"Name":"k8s","Driver":"kubernetes","Nodes":[{"Name":"k8s0","Endpoint":"kubernetes:///k8s?deploymentName=k8s0","DriverOpts":{"namespace":"build"}}]}`,
		"plain":  `{"Name":"plain","Driver":"docker","Nodes":[{"Name":"plain","Endpoint":"default"}]}`,
		"broken": `{"Name":`,
	} {
		if err := os.WriteFile(filepath.Join(store, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for name, want := range map[string]Target{
		"ci":      {Addr: "docker-container://buildx_buildkit_ci0", From: "buildx builder ci"},
		"colima":  {Addr: "docker-container://buildx_buildkit_colima0?context=colima", From: "buildx builder colima"},
		"remote":  {Addr: "tcp://bk.example:1234", From: "buildx builder remote", TLS: TLS{CACert: "/c/ca.pem", Cert: "/c/cert.pem", Key: "/c/key.pem", ServerName: "bk"}},
		"plain":   {From: "buildx builder plain"},
		"default": {From: "buildx builder default"},
	} {
		got, err := buildxTarget(dir, name)
		if err != nil || got != want {
			t.Errorf("buildx:%s: %+v, %v; want %+v", name, got, err, want)
		}
	}
	for name, wantErr := range map[string]string{
		"k8s":    "kube-pod://POD?namespace=build",
		"broken": "store entry ws cannot read",
		"nosuch": "is not a buildx builder here",
		"../ci":  "needs a builder name",
	} {
		if _, err := buildxTarget(dir, name); err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("buildx:%s: %v, want %q", name, err, wantErr)
		}
	}
}

func TestTLSDirTakesEitherNaming(t *testing.T) {
	pem, kube := t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(pem, "ca.pem"), nil, 0o644)
	os.WriteFile(filepath.Join(kube, "ca.crt"), nil, 0o644)
	if got, err := TLSDir(pem); err != nil || got.Cert != filepath.Join(pem, "cert.pem") {
		t.Errorf("pem: %+v %v", got, err)
	}
	if got, err := TLSDir(kube); err != nil || got.Key != filepath.Join(kube, "tls.key") {
		t.Errorf("kube: %+v %v", got, err)
	}
	if _, err := TLSDir(t.TempDir()); err == nil {
		t.Error("an empty directory gave TLS files")
	}
}
