package engine

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/docker/cli/cli/config"
	clicontext "github.com/docker/cli/cli/context"
	"github.com/docker/cli/cli/context/store"
)

// The Docker CLI's order: --context, DOCKER_HOST, DOCKER_CONTEXT,
// config.json's currentContext, default; a named context's endpoint comes
// from the CLI's own store.
func TestResolveFollowsTheDockerCLI(t *testing.T) {
	dir := t.TempDir()
	config.SetDir(dir)
	s := store.New(config.ContextStoreDir(), store.NewConfig(func() any { return &map[string]any{} },
		store.EndpointTypeGetter("docker", func() any { return &clicontext.EndpointMetaBase{} })))
	for name, host := range map[string]string{"colima": "unix:///home/me/.colima/docker.sock", "buildbox": "ssh://me@buildbox"} {
		if err := s.CreateOrUpdate(store.Metadata{Name: name, Endpoints: map[string]any{"docker": clicontext.EndpointMetaBase{Host: host}}, Metadata: map[string]any{}}); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"currentContext": "colima"}`), 0o600)
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	tests := []struct {
		name, flag            string
		vars                  map[string]string
		wantContext, wantHost string
	}{
		{"config.json's current context", "", nil, "colima", "unix:///home/me/.colima/docker.sock"},
		{"DOCKER_CONTEXT over config.json", "", map[string]string{"DOCKER_CONTEXT": "buildbox"}, "buildbox", "ssh://me@buildbox"},
		{"DOCKER_HOST over DOCKER_CONTEXT", "", map[string]string{"DOCKER_CONTEXT": "buildbox", "DOCKER_HOST": "tcp://10.0.0.5:2376"}, "default", "tcp://10.0.0.5:2376"},
		{"--context over everything", "buildbox", map[string]string{"DOCKER_HOST": "tcp://10.0.0.5:2376"}, "buildbox", "ssh://me@buildbox"},
		{"DOCKER_CONTEXT=default", "", map[string]string{"DOCKER_CONTEXT": "default"}, "default", ""},
	}
	for _, tt := range tests {
		ep, err := Resolve(tt.flag, env(tt.vars))
		if err != nil || ep.Context != tt.wantContext || ep.Host != tt.wantHost || ep.Why == "" {
			t.Errorf("%s: got %+v, %v; want %s at %q", tt.name, ep, err, tt.wantContext, tt.wantHost)
		}
	}
	if _, err := Resolve("nope", env(nil)); err == nil {
		t.Error("an unknown context resolved")
	}
}

// BenchmarkResolveContext: finding the engine through a context (reading
// config.json and the context store) against DOCKER_HOST, which reads
// nothing. The target: <= 2 ms more per ws run.
func BenchmarkResolveContext(b *testing.B) {
	dir := b.TempDir()
	config.SetDir(dir)
	s := store.New(config.ContextStoreDir(), store.NewConfig(func() any { return &map[string]any{} },
		store.EndpointTypeGetter("docker", func() any { return &clicontext.EndpointMetaBase{} })))
	s.CreateOrUpdate(store.Metadata{Name: "colima", Endpoints: map[string]any{"docker": clicontext.EndpointMetaBase{Host: "unix:///x.sock"}}, Metadata: map[string]any{}})
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"currentContext": "colima"}`), 0o600)
	for i := 0; i < b.N; i++ {
		if ep, err := Resolve("", func(string) string { return "" }); err != nil || ep.Context != "colima" {
			b.Fatal(ep, err)
		}
	}
}
