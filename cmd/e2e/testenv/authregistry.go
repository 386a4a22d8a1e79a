package testenv

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// AuthRegistryAddr is where the harness serves its registry that wants a
// login (htpasswd), beside the open one at RegistryAddr.
func AuthRegistryAddr() string {
	if a := os.Getenv(EnvAuthRegistry); a != "" {
		return a
	}
	return "127.0.0.1:5001"
}

// EnvAuthRegistry moves the login registry (default 127.0.0.1:5001).
const EnvAuthRegistry = "WS_E2E_AUTH_REGISTRY"

// AuthRegistry is Debian's docker-registry with htpasswd auth, as a team's
// private registry: every request needs User and Password (Basic auth).
type AuthRegistry struct {
	Addr, User, Password string
	cmd                  *exec.Cmd
}

// StartAuthRegistry starts a login registry with a fresh password, its
// storage under dir, for this run only (Stop ends it).
func StartAuthRegistry(ctx context.Context, dir, user, password string) (*AuthRegistry, error) {
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		return nil, fmt.Errorf("docker-registry is not installed (apt-get install docker-registry)")
	}
	r := &AuthRegistry{Addr: AuthRegistryAddr(), User: user, Password: password}
	if code := r.status(ctx); code != 0 {
		return nil, fmt.Errorf("something already answers on %s (HTTP %d): set %s to a free address", r.Addr, code, EnvAuthRegistry)
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		return nil, err
	}
	htpasswd := filepath.Join(dir, "htpasswd")
	if err := os.WriteFile(htpasswd, []byte(user+":"+string(hash)+"\n"), 0o600); err != nil {
		return nil, err
	}
	cfg := filepath.Join(dir, "config.yml")
	conf := fmt.Sprintf(`version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: %s
auth:
  htpasswd:
    realm: ws-e2e
    path: %s
http:
  addr: %s
`, filepath.Join(dir, "data"), htpasswd, r.Addr)
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "registry.log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	r.cmd = exec.Command(bin, "serve", cfg)
	r.cmd.Stdout, r.cmd.Stderr = logf, logf
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := r.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start docker-registry: %w", err)
	}
	go r.cmd.Wait() //nolint:errcheck // reaped here; Stop kills it
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if r.status(ctx) == http.StatusUnauthorized {
			return r, nil
		}
	}
	r.Stop()
	return nil, fmt.Errorf("the login registry did not answer on %s within 15s (log: %s)", r.Addr, logf.Name())
}

// status is the HTTP status of an anonymous /v2/, 0 when nothing answers.
func (r *AuthRegistry) status(ctx context.Context) int {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+r.Addr+"/v2/", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// Stop ends the registry.
func (r *AuthRegistry) Stop() {
	if r == nil || r.cmd == nil || r.cmd.Process == nil {
		return
	}
	syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL)
}
