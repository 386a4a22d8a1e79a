package launcher

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/ws-tools/ws/entrypoint"
)

// Labels of kept workspace containers.
const (
	LabelKept = "dev.ws.kept"
	LabelKey  = "dev.ws.key"
	LabelRoot = "dev.ws.root"
	// LabelUID is the caller's: ws ps and ws stop --all see only theirs.
	LabelUID = "dev.ws.uid"
)

// A kept workspace is one container per (root, image, caller, settings,
// secrets' ciphertext, trust), started by the first ws exec/enter and
// ended by its own entrypoint after the plan's idle time with no command
// running. Every run execs its command into it, as docker exec does.

// GoneError is a kept container that stopped under a command.
type GoneError struct{ Why string }

func (e *GoneError) Error() string {
	return "the workspace container stopped while the command ran: " + e.Why
}

// Hint says what to do about it.
func (e *GoneError) Hint() string {
	return "run it again (a fresh workspace starts); ws stop ended it, or it was idle longer than workspace.idle"
}

// keptKey adds to the plan's key what only the run knows: the secrets'
// ciphertext (their recipients, and so the forwarded public keys, follow
// from it). It needs no plaintext, so a warm run can find its container
// before anything is decrypted.
func keptKey(p Plan, pay Payload) string {
	h := sha256.New()
	fmt.Fprintln(h, p.Key)
	for _, s := range pay.Secrets {
		fmt.Fprintln(h, s.Name, s.CipherSum)
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// runKept runs p's command in the workspace's kept container, starting
// one when there is none with the run's key.
func (l *Launcher) runKept(ctx context.Context, p Plan, pay Payload, stdio IO, signals <-chan os.Signal) error {
	key := keptKey(p, pay)
	for attempt := 0; ; attempt++ {
		id, started, err := l.findOrStart(ctx, p, pay, key, stdio)
		if err != nil {
			return err
		}
		err = l.execIn(ctx, id, p, stdio, signals)
		var gone *GoneError
		// A container that ended just as the command was handed to it
		// (its idle time ran out): start another, once.
		if errors.As(err, &gone) && gone.Why == notRunning && !started && attempt == 0 {
			continue
		}
		return err
	}
}

const notRunning = "it was not running"

// RunIfKept runs p's command in the workspace's running kept container,
// if there is one with the run's key: the common case of a warm
// workspace, which then needs no image check or clean-up first. ran is
// false when there is none (the caller goes on with Run).
func (l *Launcher) RunIfKept(ctx context.Context, p Plan, pay Payload, stdio IO) (ran bool, err error) {
	if !p.Keep {
		return false, nil
	}
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGWINCH)
	defer signal.Stop(signals)
	list, err := l.Docker.ContainerList(ctx, container.ListOptions{Filters: filters.NewArgs(
		filters.Arg("label", LabelKey+"="+keptKey(p, pay)), filters.Arg("label", LabelWorkspace+"="+WorkspaceID(p.Root)))})
	if err != nil || len(list) == 0 || list[0].State != "running" {
		return false, nil
	}
	err = l.execIn(ctx, list[0].ID, p, stdio, signals)
	var gone *GoneError
	if errors.As(err, &gone) && gone.Why == notRunning {
		return false, nil
	}
	return true, err
}

// findOrStart returns the running kept container with key, removing the
// workspace's others, or starts one. A lock file serialises it per
// workspace, so parallel first runs share one container.
func (l *Launcher) findOrStart(ctx context.Context, p Plan, pay Payload, key string, stdio IO) (id string, started bool, err error) {
	unlock, err := l.lockWorkspace(p.Root)
	if err != nil {
		return "", false, err
	}
	defer unlock()
	list, err := l.Docker.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(
		filters.Arg("label", LabelKept+"=1"), filters.Arg("label", LabelWorkspace+"="+WorkspaceID(p.Root)))})
	if err != nil {
		return "", false, fmt.Errorf("list workspace containers: %w", err)
	}
	for _, c := range list {
		if c.Labels[LabelKey] == key && c.State == "running" && id == "" {
			id = c.ID
			continue
		}
		l.debug("removing a stale kept container", "id", c.ID[:12], "state", c.State)
		l.remove(context.WithoutCancel(ctx), c.ID)
	}
	if id != "" {
		l.debug("kept container found", "id", id[:12])
		return id, false, nil
	}
	id, err = l.startKept(ctx, p, pay, key, stdio)
	return id, true, err
}

// lockWorkspace takes an exclusive lock of the workspace's kept container.
func (l *Launcher) lockWorkspace(root string) (func(), error) {
	dir := l.CacheDir
	if dir == "" {
		dir = os.TempDir()
	}
	if err := os.MkdirAll(filepath.Join(dir, "locks"), 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, "locks", WorkspaceID(root)), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock the workspace: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock the workspace: %w", err)
	}
	return func() { f.Close() }, nil
}

// startKept starts the kept container and waits until its secrets are in
// and it says it is ready.
func (l *Launcher) startKept(ctx context.Context, p Plan, pay Payload, key string, stdio IO) (string, error) {
	d, err := newDelivery(p, pay)
	if err != nil {
		return "", err
	}
	defer d.remove()
	users, err := l.userDB(ctx, p)
	if err != nil {
		return "", err
	}
	keep := p
	keep.Argv, keep.TTY = nil, false
	keep.Labels = map[string]string{LabelKept: "1", LabelKey: key, LabelRoot: p.Root, LabelUID: strconv.Itoa(p.User.UID)}
	for k, v := range p.Labels {
		keep.Labels[k] = v
	}
	keep.Name = p.Name + "-kept"
	cfg, hostCfg := containerConfig(keep, pay, d, users)
	cfg.Env = append(cfg.Env, entrypoint.EnvKeep+"="+strconv.Itoa(max(1, int(p.Idle/time.Second))))
	hostCfg.AutoRemove = true
	id, err := l.create(ctx, keep, cfg, hostCfg)
	if err != nil {
		return "", err
	}
	ok := false
	defer func() {
		if !ok {
			l.remove(context.WithoutCancel(ctx), id)
		}
	}()
	if err := l.copyUsers(ctx, id, users); err != nil {
		return "", err
	}
	waitC, waitErr := l.Docker.ContainerWait(ctx, id, container.WaitConditionNextExit)
	attach, err := l.Docker.ContainerAttach(ctx, id, container.AttachOptions{Stream: true, Stdout: true, Stderr: true})
	if err != nil {
		return "", fmt.Errorf("attach to workspace container: %w", err)
	}
	defer attach.Close()
	if err := l.Docker.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
		return "", fmt.Errorf("start workspace container: %w", err)
	}
	l.debug("kept container started", "id", id[:12], "idle", p.Idle)
	exited := make(chan struct{})
	defer close(exited)
	delivered := make(chan error, 1)
	if d.pending() {
		go func() { delivered <- d.run(ctx, l, id, p.User, exited) }()
	}
	// The entrypoint says when it is ready on stdout; what it says on
	// stderr (a setup failure) is the user's to read.
	pr, pw := io.Pipe()
	go func() {
		_, err := stdcopy.StdCopy(pw, stdio.Stderr, attach.Reader)
		pw.CloseWithError(err)
	}()
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if sc.Text() == entrypoint.ReadyLine {
				close(ready)
				io.Copy(io.Discard, pr) //nolint:errcheck // nothing more is said
				return
			}
		}
	}()
	timeout := time.After(2 * time.Minute)
	for {
		select {
		case err := <-delivered:
			if err != nil {
				return "", err
			}
			l.debug("secrets delivered", "files", len(d.files))
		case <-ready:
			ok = true
			return id, nil
		case res := <-waitC:
			if res.StatusCode != 0 {
				return "", &ExitError{Code: int(res.StatusCode)}
			}
			return "", errors.New("the workspace container ended before it was ready")
		case err := <-waitErr:
			return "", fmt.Errorf("wait for workspace container: %w", err)
		case <-timeout:
			return "", errors.New("the workspace container was not ready within 2 minutes")
		}
	}
}

// execIn runs p's command in the kept container id, passing signals to
// its process group and returning its exit status.
func (l *Launcher) execIn(ctx context.Context, id string, p Plan, stdio IO, signals <-chan os.Signal) error {
	if l.AgentStream != nil {
		stop, err := l.bridgeAgent(ctx, id, p.User, l.AgentStream)
		if err != nil {
			if strings.Contains(err.Error(), "is not running") || strings.Contains(err.Error(), "No such container") {
				return &GoneError{Why: notRunning}
			}
			return err
		}
		defer stop()
	}
	token := randomSuffix() + randomSuffix()
	env := []string{entrypoint.EnvExec + "=" + token}
	if p.TTY && p.Term != "" {
		env = append(env, "TERM="+p.Term)
	}
	l.debug("exec into the kept container", "id", id[:12])
	ex, err := l.Docker.ContainerExecCreate(ctx, id, container.ExecOptions{
		User: fmt.Sprintf("%d:%d", p.User.UID, p.User.GID), Env: env, WorkingDir: p.Dir, Tty: p.TTY,
		AttachStdin: stdio.Stdin != nil, AttachStdout: true, AttachStderr: true,
		Cmd: append([]string{entrypoint.Path}, p.Argv...),
	})
	if err != nil {
		if strings.Contains(err.Error(), "is not running") || strings.Contains(err.Error(), "No such container") {
			return &GoneError{Why: notRunning}
		}
		return fmt.Errorf("run in the workspace: %w", err)
	}
	att, err := l.Docker.ContainerExecAttach(ctx, ex.ID, container.ExecAttachOptions{Tty: p.TTY})
	if err != nil {
		if strings.Contains(err.Error(), "is not running") {
			return &GoneError{Why: notRunning}
		}
		return fmt.Errorf("run in the workspace: %w", err)
	}
	defer att.Close()
	l.debug("command exec'd", "container", id[:12])
	if p.TTY {
		restore, err := rawTerminal(stdio.Stdin)
		if err != nil {
			return err
		}
		defer restore()
		l.resizeExec(ctx, ex.ID, stdio.Stdin)
	}
	outputDone := stream(att, p.TTY, stdio)
	for {
		select {
		case sig := <-signals:
			if sig == syscall.SIGWINCH {
				l.resizeExec(ctx, ex.ID, stdio.Stdin)
				continue
			}
			go l.signalExec(context.WithoutCancel(ctx), id, p, token, sig)
		case <-outputDone:
			info, err := l.Docker.ContainerExecInspect(context.WithoutCancel(ctx), ex.ID)
			if err != nil {
				return &GoneError{Why: err.Error()}
			}
			for i := 0; info.Running && i < 50; i++ {
				time.Sleep(20 * time.Millisecond)
				if info, err = l.Docker.ContainerExecInspect(context.WithoutCancel(ctx), ex.ID); err != nil {
					return &GoneError{Why: err.Error()}
				}
			}
			if info.ExitCode == 0 {
				return nil
			}
			// A command killed with the container (docker rm -f, ws stop)
			// ends a moment before the container is gone: look twice.
			for i := 0; i < 10; i++ {
				if !l.running(ctx, id) {
					return &GoneError{Why: "it stopped"}
				}
				if info.ExitCode != 137 {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			return &ExitError{Code: info.ExitCode}
		}
	}
}

func (l *Launcher) running(ctx context.Context, id string) bool {
	list, err := l.Docker.ContainerList(context.WithoutCancel(ctx), container.ListOptions{Filters: filters.NewArgs(filters.Arg("id", id))})
	return err == nil && len(list) == 1 && list[0].State == "running"
}

// signalExec sends sig to the command's process group: the Engine API's
// exec has no kill, so a second exec does it, as the caller.
func (l *Launcher) signalExec(ctx context.Context, id string, p Plan, token string, sig os.Signal) {
	n := signalName(sig)
	script := `f="$2"; i=0; while [ ! -s "$f" ] && [ $i -lt 50 ]; do sleep 0.02; i=$((i+1)); done; kill -"$1" -"$(cat "$f")"`
	ex, err := l.Docker.ContainerExecCreate(ctx, id, container.ExecOptions{
		User: fmt.Sprintf("%d:%d", p.User.UID, p.User.GID),
		Cmd:  []string{"/bin/sh", "-c", script, "ws-kill", n, entrypoint.ExecDir + "/" + token},
	})
	if err != nil {
		l.debug("signal", "err", err)
		return
	}
	if err := l.Docker.ContainerExecStart(ctx, ex.ID, container.ExecStartOptions{Detach: true}); err != nil {
		l.debug("signal", "err", err)
	}
}

func (l *Launcher) resizeExec(ctx context.Context, execID string, stdin io.Reader) {
	f, ok := stdin.(*os.File)
	if !ok {
		return
	}
	w, h, err := termSize(f)
	if err != nil {
		return
	}
	l.Docker.ContainerExecResize(ctx, execID, container.ResizeOptions{Height: uint(h), Width: uint(w)}) //nolint:errcheck // a missed resize is cosmetic
}

// Kept is one kept workspace container, for ws ps.
type Kept struct {
	ID, Root, Image string
	Created         time.Time
	// Idle is how long no command has run; Running counts those running.
	Idle    time.Duration
	Running int
}

// ListKept lists the kept containers of root, or all of them ("").
func (l *Launcher) ListKept(ctx context.Context, root string) ([]Kept, error) {
	args := filters.NewArgs(filters.Arg("label", LabelKept+"=1"), filters.Arg("label", LabelUID+"="+strconv.Itoa(os.Getuid())))
	if root != "" {
		args.Add("label", LabelWorkspace+"="+WorkspaceID(root))
	}
	list, err := l.Docker.ContainerList(ctx, container.ListOptions{Filters: args})
	if err != nil {
		return nil, fmt.Errorf("list workspace containers: %w", err)
	}
	var out []Kept
	for _, c := range list {
		k := Kept{ID: c.ID, Root: c.Labels[LabelRoot], Image: c.Image, Created: time.Unix(c.Created, 0)}
		if status, err := l.probe(ctx, c.ID); err == nil {
			f := strings.Fields(status)
			if len(f) == 2 {
				secs, _ := strconv.Atoi(f[0])
				k.Idle = time.Duration(secs) * time.Second
				k.Running, _ = strconv.Atoi(f[1])
			}
		}
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Root < out[j].Root })
	return out, nil
}

// probe reads a kept container's idle clock and running commands.
func (l *Launcher) probe(ctx context.Context, id string) (string, error) {
	ex, err := l.Docker.ContainerExecCreate(ctx, id, container.ExecOptions{AttachStdout: true, AttachStderr: true,
		Cmd: []string{"/bin/sh", "-c", `n=0; for f in ` + entrypoint.ExecDir + `/*; do [ -e "$f" ] && n=$((n+1)); done; echo "$(cat ` + entrypoint.IdleFile + ` 2>/dev/null || echo 0) $n"`}})
	if err != nil {
		return "", err
	}
	att, err := l.Docker.ContainerExecAttach(ctx, ex.ID, container.ExecAttachOptions{})
	if err != nil {
		return "", err
	}
	defer att.Close()
	var out bytes.Buffer
	stdcopy.StdCopy(&out, io.Discard, att.Reader) //nolint:errcheck // the output says
	return strings.TrimSpace(out.String()), nil
}

// StopKept removes the kept containers of root, or all of them (""); it
// returns how many.
func (l *Launcher) StopKept(ctx context.Context, root string) (int, error) {
	list, err := l.ListKept(ctx, root)
	if err != nil {
		return 0, err
	}
	for _, k := range list {
		if err := l.Docker.ContainerRemove(ctx, k.ID, container.RemoveOptions{Force: true}); err != nil {
			return 0, fmt.Errorf("stop workspace container %s: %w", k.ID[:12], err)
		}
	}
	return len(list), nil
}
