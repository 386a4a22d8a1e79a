package testenv

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Registry is a plain-HTTP image registry on loopback. dockerd trusts
// 127.0.0.0/8 registries without TLS, so no daemon setting is needed.
type Registry struct {
	Addr string
	// PID is set when this process started the registry (0 when one was
	// already answering), so whoever started it can stop it.
	PID int
}

// RegistryAddr is the address the harness uses.
func RegistryAddr() string {
	if a := os.Getenv(EnvRegistry); a != "" {
		return a
	}
	return "127.0.0.1:5000"
}

// EnsureRegistry returns the registry at RegistryAddr, starting Debian's
// docker-registry in the background (in its own session, so it outlives the
// test run and the next run finds it) when none answers.
func EnsureRegistry(ctx context.Context, cacheDir string) (*Registry, error) {
	r := &Registry{Addr: RegistryAddr()}
	if r.answers(ctx) {
		return r, nil
	}
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		return nil, fmt.Errorf("no registry answers on %s and docker-registry is not installed (apt-get install docker-registry)", r.Addr)
	}
	dir := filepath.Join(cacheDir, "registry")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	cfg := filepath.Join(dir, "config.yml")
	conf := fmt.Sprintf(`version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
`, filepath.Join(dir, "data"), r.Addr)
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	logf, err := os.OpenFile(filepath.Join(dir, "registry.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(bin, "serve", cfg)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start docker-registry: %w", err)
	}
	r.PID = cmd.Process.Pid
	go cmd.Wait() //nolint:errcheck // reaps it if it dies while we run
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if r.answers(ctx) {
			return r, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nil, fmt.Errorf("docker-registry did not answer on %s within 15s (log: %s)", r.Addr, logf.Name())
}

func (r *Registry) answers(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+r.Addr+"/v2/", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// Digest returns the manifest digest of repo:tag, or "" when the tag is
// absent.
func (r *Registry) Digest(ctx context.Context, repo, tag string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, fmt.Sprintf("http://%s/v2/%s/manifests/%s", r.Addr, repo, tag), nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Accept", strings.Join([]string{
		"application/vnd.oci.image.index.v1+json",
		"application/vnd.docker.distribution.manifest.list.v2+json",
		"application/vnd.oci.image.manifest.v1+json",
		"application/vnd.docker.distribution.manifest.v2+json",
	}, ", "))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("ask registry for %s:%s: %w", repo, tag, err)
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		d := resp.Header.Get("Docker-Content-Digest")
		if d == "" {
			return "", fmt.Errorf("registry gave no digest for %s:%s", repo, tag)
		}
		return d, nil
	case http.StatusNotFound:
		return "", nil
	}
	return "", fmt.Errorf("ask registry for %s:%s: HTTP %s", repo, tag, resp.Status)
}
