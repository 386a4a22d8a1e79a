// Command wsdemo brings up an offline demo of ws (`make demo`) and takes it
// down again (`make demo-down`): the local registry with the Debian base,
// an artifact server and a GPG agent holding the throwaway test key, all in
// the background, and a ready workspace in .demo/workspace. Each process it
// starts is recorded in .demo/pids and stopped by that process id.
package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ws-tools/ws/cmd/e2e/testenv"
)

const usage = "usage: wsdemo up|down [-repo DIR]   (serve ADDR is internal)"

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "wsdemo:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	repo, err := os.Getwd()
	if err != nil {
		return err
	}
	d := demo{repo: repo, dir: filepath.Join(repo, ".demo")}
	ctx := context.Background()
	switch args[0] {
	case "up":
		return d.up(ctx)
	case "down":
		return d.down()
	case "serve":
		if len(args) != 2 {
			return errors.New(usage)
		}
		return d.serve(ctx, args[1])
	}
	return errors.New(usage)
}

type demo struct {
	repo string // the ws checkout, for testdata/
	dir  string // .demo
}

// serverAddr is where the demo's artifact server listens.
func serverAddr() string {
	if a := os.Getenv("WS_DEMO_ADDR"); a != "" {
		return a
	}
	return "127.0.0.1:5081"
}

// tools is what the demo offers; serve and up must agree on it, so both
// build it the same way (the artifacts are deterministic).
func tools(kubectl *testenv.Kubectl) ([]testenv.Tool, error) {
	bin, err := os.ReadFile(kubectl.Path)
	if err != nil {
		return nil, err
	}
	const amd64 = "linux/amd64"
	return []testenv.Tool{
		testenv.BinaryTool("kubectl", kubectl.Version, amd64, bin),
		testenv.ScriptTool("hello", "v0.1.0", amd64),
		testenv.ArchiveTool("greet", "v1.2.0", amd64),
	}, nil
}

func (d demo) pidFile(name string) string { return filepath.Join(d.dir, "pids", name+".pid") }

func (d demo) up(ctx context.Context) error {
	if err := exec.CommandContext(ctx, "docker", "info").Run(); err != nil {
		return errors.New("no Docker engine answers (docker info failed); start one first (Debian: apt-get install docker.io, then dockerd &)")
	}
	for _, sub := range []string{"pids", "workspace", "gnupg"} {
		if err := os.MkdirAll(filepath.Join(d.dir, sub), 0o700); err != nil {
			return err
		}
	}
	cache, err := testenv.CacheDir()
	if err != nil {
		return err
	}
	reg, err := testenv.EnsureRegistry(ctx, cache)
	if err != nil {
		return err
	}
	if pid, ok := alive(d.pidFile("docker-registry"), "docker-registry"); ok && reg.PID == 0 {
		fmt.Printf("docker-registry already running on %s (pid %d)\n", reg.Addr, pid)
	} else if reg.PID != 0 {
		if err := writePid(d.pidFile("docker-registry"), reg.PID); err != nil {
			return err
		}
		fmt.Printf("started docker-registry on %s (pid %d)\n", reg.Addr, reg.PID)
	} else {
		fmt.Printf("using the registry already on %s\n", reg.Addr)
	}
	base, err := testenv.EnsureBase(ctx, reg, cache, func(s string) { fmt.Println(s) })
	if err != nil {
		return err
	}
	kubectl, err := testenv.DebianKubectl(ctx, cache)
	if err != nil {
		return err
	}
	ts, err := tools(kubectl)
	if err != nil {
		return err
	}
	if err := d.startServer(ctx); err != nil {
		return err
	}
	if err := d.writeWorkspace(base, ts); err != nil {
		return err
	}
	if err := d.startAgent(ctx); err != nil {
		return err
	}
	fmt.Printf(`
The demo is up. Try:

  export GNUPGHOME=%[1]s/gnupg
  cd %[1]s/workspace
  ws lock list && ws lock verify && ws doctor
  ws enter                          # your shell; kubectl, hello, greet pinned; KUBECONFIG decrypted
  ws exec -- kubectl version --client

Stop it with: make demo-down
`, d.dir)
	return nil
}

// startServer runs `wsdemo serve` in the background unless ours still runs.
func (d demo) startServer(ctx context.Context) error {
	addr := serverAddr()
	if pid, ok := alive(d.pidFile("artifact-server"), "wsdemo"); ok {
		fmt.Printf("artifact server already running on %s (pid %d)\n", addr, pid)
		return nil
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	logf, err := os.Create(filepath.Join(d.dir, "artifact-server.log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(self, "serve", addr)
	cmd.Dir = d.repo
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start artifact server: %w", err)
	}
	if err := writePid(d.pidFile("artifact-server"), cmd.Process.Pid); err != nil {
		return err
	}
	for i := 0; i < 100; i++ {
		if resp, err := http.Get("http://" + addr + "/"); err == nil {
			resp.Body.Close()
			fmt.Printf("started artifact server on %s (pid %d)\n", addr, cmd.Process.Pid)
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("artifact server did not answer on %s (log: %s)", addr, logf.Name())
}

func (d demo) serve(ctx context.Context, addr string) error {
	cache, err := testenv.CacheDir()
	if err != nil {
		return err
	}
	kubectl, err := testenv.DebianKubectl(ctx, cache)
	if err != nil {
		return err
	}
	ts, err := tools(kubectl)
	if err != nil {
		return err
	}
	srv := &http.Server{Addr: addr, Handler: testenv.NewArtifactServer(ts...), ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func (d demo) writeWorkspace(base string, ts []testenv.Tool) error {
	ws := filepath.Join(d.dir, "workspace")
	spec := testenv.LockSpec{Base: base, Packages: testenv.DefaultPackages, Platforms: []string{"linux/amd64"},
		Server: "http://" + serverAddr(), Tools: ts}
	if err := spec.Write(ws); err != nil {
		return err
	}
	for _, f := range []string{"kubeconfig", "talosconfig"} {
		b, err := os.ReadFile(filepath.Join(d.repo, "testdata", "sops", "pgp", f))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(ws, f), b, 0o644); err != nil {
			return err
		}
	}
	fpr, err := os.ReadFile(filepath.Join(d.repo, "testdata", "gpg", "key.fpr"))
	if err != nil {
		return err
	}
	sopsYAML := "creation_rules:\n  - pgp: " + strings.TrimSpace(string(fpr)) + "\n"
	return os.WriteFile(filepath.Join(ws, ".sops.yaml"), []byte(sopsYAML), 0o644)
}

// startAgent imports the throwaway key into .demo/gnupg and launches its
// gpg-agent, unless ours still runs.
func (d demo) startAgent(ctx context.Context) error {
	home := filepath.Join(d.dir, "gnupg")
	if pid, ok := alive(d.pidFile("gpg-agent"), "gpg-agent"); ok {
		fmt.Printf("gpg-agent already running for %s (pid %d)\n", home, pid)
		return nil
	}
	gpg := func(args ...string) ([]byte, error) {
		return exec.CommandContext(ctx, "gpg", append([]string{"--homedir", home, "--batch"}, args...)...).CombinedOutput()
	}
	if out, err := gpg("--import", filepath.Join(d.repo, "testdata", "gpg", "key.sec.asc")); err != nil {
		return fmt.Errorf("import demo key: %w\n%s", err, out)
	}
	if out, err := exec.CommandContext(ctx, "gpgconf", "--homedir", home, "--launch", "gpg-agent").CombinedOutput(); err != nil {
		return fmt.Errorf("launch gpg-agent: %w\n%s", err, out)
	}
	out, err := exec.CommandContext(ctx, "gpg-connect-agent", "--homedir", home, "getinfo pid", "/bye").Output()
	if err != nil {
		return fmt.Errorf("ask gpg-agent for its pid: %w", err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if pid, err := strconv.Atoi(strings.TrimPrefix(line, "D ")); err == nil && strings.HasPrefix(line, "D ") {
			fmt.Printf("started gpg-agent for %s (pid %d)\n", home, pid)
			return writePid(d.pidFile("gpg-agent"), pid)
		}
	}
	return fmt.Errorf("gpg-agent did not tell its pid: %q", out)
}

func (d demo) down() error {
	for _, p := range []struct{ name, comm string }{
		{"artifact-server", "wsdemo"}, {"gpg-agent", "gpg-agent"}, {"docker-registry", "docker-registry"},
	} {
		pid, ok := alive(d.pidFile(p.name), p.comm)
		if ok {
			syscall.Kill(pid, syscall.SIGTERM)
			for i := 0; i < 50 && processIs(pid, p.comm); i++ {
				time.Sleep(100 * time.Millisecond)
			}
			if processIs(pid, p.comm) {
				syscall.Kill(pid, syscall.SIGKILL)
			}
			fmt.Printf("stopped %s (pid %d)\n", p.name, pid)
		}
		os.Remove(d.pidFile(p.name))
	}
	return nil
}

func writePid(path string, pid int) error {
	return os.WriteFile(path, []byte(strconv.Itoa(pid)+"\n"), 0o644)
}

// alive reads a pid file and says whether that process still runs and is
// the program we started (a pid can be reused after a reboot).
func alive(pidFile, comm string) (int, bool) {
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, false
	}
	return pid, processIs(pid, comm)
}

// processIs reports whether pid runs a program named comm (not a zombie).
func processIs(pid int, comm string) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// stat is "PID (COMM) STATE …"; COMM is cut to 15 bytes by the kernel.
	s := string(stat)
	open, closing := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || closing < open || closing+2 >= len(s) {
		return false
	}
	name, state := s[open+1:closing], s[closing+2]
	want := comm
	if len(want) > 15 {
		want = want[:15]
	}
	return name == want && state != 'Z'
}
