package testenv

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// Buildkitd is a standalone BuildKit daemon (OCI worker, runc), built from
// the version go.mod pins, as a team's shared or remote builder would be.
type Buildkitd struct {
	Addr string // unix:///…/buildkitd.sock
	// TCPAddr is the same daemon on tcp://127.0.0.1:PORT with mutual TLS;
	// TLSDir holds the client's ca.pem, cert.pem and key.pem.
	TCPAddr, TLSDir string
	cmd             *exec.Cmd
}

// StartBuildkitd builds buildkitd (cached by Go's build cache) and starts it
// with its state under cacheDir, trusting the plain-HTTP local registry.
func StartBuildkitd(ctx context.Context, repo, cacheDir, registryAddr string) (*Buildkitd, error) {
	if _, err := exec.LookPath("runc"); err != nil {
		return nil, fmt.Errorf("buildkitd needs runc (apt-get install runc)")
	}
	dir := filepath.Join(cacheDir, "buildkitd")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	bin := filepath.Join(dir, "buildkitd")
	if err := goBuild(ctx, repo, "github.com/moby/buildkit/cmd/buildkitd", bin); err != nil {
		return nil, err
	}
	cfg := filepath.Join(dir, "buildkitd.toml")
	conf := fmt.Sprintf("[worker.oci]\n  enabled = true\n[worker.containerd]\n  enabled = false\n[registry.%q]\n  http = true\n[registry.%q]\n  http = true\n", registryAddr, AuthRegistryAddr())
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	sock := filepath.Join(dir, "buildkitd.sock")
	os.Remove(sock)
	logf, err := os.Create(filepath.Join(dir, "buildkitd.log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	tlsDir := filepath.Join(dir, "tls")
	if err := os.MkdirAll(tlsDir, 0o700); err != nil {
		return nil, err
	}
	if err := MutualTLS(tlsDir); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	tcpAddr := fmt.Sprintf("tcp://127.0.0.1:%d", port)
	cmd := exec.Command(bin, "--config", cfg, "--root", filepath.Join(dir, "root"), "--addr", "unix://"+sock, "--addr", tcpAddr,
		"--tlscert", filepath.Join(tlsDir, "server.pem"), "--tlskey", filepath.Join(tlsDir, "server-key.pem"), "--tlscacert", filepath.Join(tlsDir, "ca.pem"))
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start buildkitd: %w", err)
	}
	b := &Buildkitd{Addr: "unix://" + sock, TCPAddr: tcpAddr, TLSDir: tlsDir, cmd: cmd}
	for i := 0; i < 300; i++ {
		if _, err := os.Stat(sock); err == nil {
			return b, nil
		}
		if cmd.ProcessState != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.Stop()
	return nil, fmt.Errorf("buildkitd did not listen on %s within 30s (log: %s)", sock, logf.Name())
}

// Stop ends the daemon.
func (b *Buildkitd) Stop() {
	if b == nil || b.cmd.Process == nil {
		return
	}
	b.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { b.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		b.cmd.Process.Kill()
		<-done
	}
}

// goBuild builds pkg at the version the repository's go.mod pins (cached by
// Go's build cache) into bin, with env added to the environment.
func goBuild(ctx context.Context, repo, pkg, bin string, env ...string) error {
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, pkg)
	build.Dir = repo
	build.Env = append(os.Environ(), env...)
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", pkg, err, tail(out, 20))
	}
	return nil
}

// freePort is a loopback TCP port nothing listens on now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
