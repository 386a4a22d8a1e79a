// Package launcher runs one workspace container from a Plan: the
// repository mounted at its own path, every process as the caller with no
// capabilities, private tmpfs mounts for HOME and secrets, the terminal in
// raw mode when there is one, signals passed on, the exit status passed
// back, and the container removed on every way out. It only talks to
// Docker (and gpg, to find the agent); it knows nothing of tools.lock,
// images or BuildKit.
package launcher

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/pkg/stdcopy"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/term"

	"github.com/ws-tools/ws/launcher/gpgrelay"
)

// Docker is what the launcher asks of the Docker engine.
type Docker interface {
	ContainerCreate(ctx context.Context, config *container.Config, hostConfig *container.HostConfig, networkingConfig *network.NetworkingConfig, platform *ocispecs.Platform, name string) (container.CreateResponse, error)
	ContainerAttach(ctx context.Context, id string, options container.AttachOptions) (types.HijackedResponse, error)
	ContainerStart(ctx context.Context, id string, options container.StartOptions) error
	ContainerWait(ctx context.Context, id string, condition container.WaitCondition) (<-chan container.WaitResponse, <-chan error)
	ContainerKill(ctx context.Context, id, signal string) error
	ContainerResize(ctx context.Context, id string, options container.ResizeOptions) error
	ContainerRemove(ctx context.Context, id string, options container.RemoveOptions) error
	ContainerList(ctx context.Context, options container.ListOptions) ([]container.Summary, error)
	ContainerExecCreate(ctx context.Context, id string, options container.ExecOptions) (container.ExecCreateResponse, error)
	ContainerExecAttach(ctx context.Context, execID string, config container.ExecAttachOptions) (types.HijackedResponse, error)
	ContainerExecInspect(ctx context.Context, execID string) (container.ExecInspect, error)
	ContainerExecStart(ctx context.Context, execID string, config container.ExecStartOptions) error
	ContainerExecResize(ctx context.Context, execID string, options container.ResizeOptions) error
	CopyFromContainer(ctx context.Context, id, srcPath string) (io.ReadCloser, container.PathStat, error)
	CopyToContainer(ctx context.Context, id, dstPath string, content io.Reader, options container.CopyToContainerOptions) error
	ContainerStatPath(ctx context.Context, id, path string) (container.PathStat, error)
}

// Labels on every workspace container, so ws can find its own.
const (
	LabelManaged   = "dev.ws.managed"
	LabelWorkspace = "dev.ws.workspace"
	LabelPID       = "dev.ws.pid"
	LabelHost      = "dev.ws.host"
)

// detachKeys is a sequence nobody types: Docker's default (Ctrl-P Ctrl-Q)
// would swallow keys meant for the shell.
const detachKeys = "ctrl-@,ctrl-@,ctrl-@,ctrl-@"

// ExitError is a process that ended with a non-zero status (128+N when a
// signal killed it): ws exits with the same status.
type ExitError struct{ Code int }

func (e *ExitError) Error() string { return fmt.Sprintf("exit status %d", e.Code) }

// IO is where a run's process reads and writes.
type IO struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
}

// Launcher runs workspace containers on one engine.
type Launcher struct {
	Docker Docker
	// CacheDir keeps the passwd/group files made for an image and caller
	// (they hold no secret), so only a new image costs a read.
	CacheDir string
	// Log gets each step of a run (--debug), with its time; nil for none.
	Log *slog.Logger
	// AgentStream, when set, is the GPG relay to reach from inside the
	// workspace over an exec stream (an engine not on this host): each run
	// starts the agent bridge in the container and stops it after.
	AgentStream *gpgrelay.Relay
}

func (l *Launcher) debug(msg string, args ...any) {
	if l.Log != nil {
		l.Log.Debug(msg, args...)
	}
}

// WorkspaceID names a workspace root in container labels.
func WorkspaceID(root string) string {
	h := fnv.New64a()
	h.Write([]byte(root))
	return strconv.FormatUint(h.Sum64(), 16)
}

// Labels mark a container as ws's, the workspace's and this process's.
func Labels(root string) map[string]string {
	host, _ := os.Hostname()
	return map[string]string{
		LabelManaged:   "1",
		LabelWorkspace: WorkspaceID(root),
		LabelPID:       strconv.Itoa(os.Getpid()),
		LabelHost:      host,
	}
}

// RemoveStale removes the workspace's containers whose ws process is gone
// (killed with SIGKILL, a crashed machine): they were left behind.
func (l *Launcher) RemoveStale(ctx context.Context, root string) error {
	list, err := l.Docker.ContainerList(ctx, container.ListOptions{All: true,
		Filters: filters.NewArgs(filters.Arg("label", LabelManaged+"=1"), filters.Arg("label", LabelWorkspace+"="+WorkspaceID(root)))})
	if err != nil {
		return fmt.Errorf("list workspace containers: %w", err)
	}
	host, _ := os.Hostname()
	for _, c := range list {
		pid, _ := strconv.Atoi(c.Labels[LabelPID])
		// A kept container outlives the ws that started it by design.
		if c.Labels[LabelKept] == "1" || c.Labels[LabelHost] != host || pid <= 0 || processAlive(pid) {
			continue
		}
		if err := l.Docker.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true}); err != nil {
			return fmt.Errorf("remove stale container %s: %w", c.ID[:12], err)
		}
	}
	return nil
}

func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// Run runs p to its end and returns nil for status 0, *ExitError otherwise.
// Whatever happens after the container is created, it is removed.
func (l *Launcher) Run(ctx context.Context, p Plan, pay Payload, stdio IO) error {
	// Signals are ws's from here on, so none can kill ws between creating
	// the container and removing it.
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGWINCH)
	defer signal.Stop(signals)

	for _, m := range p.Mounts {
		if m.MakeDir {
			if err := os.MkdirAll(m.Source, 0o755); err != nil {
				return fmt.Errorf("prepare mount %s: %w", m.Source, err)
			}
		}
	}
	if p.Keep {
		return l.runKept(ctx, p, pay, stdio, signals)
	}
	d, err := newDelivery(p, pay)
	if err != nil {
		return err
	}
	defer d.remove()
	users, err := l.userDB(ctx, p)
	if err != nil {
		return err
	}
	cfg, hostCfg := containerConfig(p, pay, d, users)
	cfg.OpenStdin, cfg.StdinOnce, cfg.AttachStdin = stdio.Stdin != nil, stdio.Stdin != nil, stdio.Stdin != nil

	id, err := l.create(ctx, p, cfg, hostCfg)
	if err != nil {
		return err
	}
	// Removal must happen whatever ctx has become.
	defer l.remove(context.WithoutCancel(ctx), id)
	if err := l.copyUsers(ctx, id, users); err != nil {
		return err
	}
	return l.attachAndWait(ctx, id, p, d, stdio, signals)
}

func (l *Launcher) create(ctx context.Context, p Plan, cfg *container.Config, hostCfg *container.HostConfig) (string, error) {
	created, err := l.Docker.ContainerCreate(ctx, cfg, hostCfg, nil, nil, p.Name+"-"+randomSuffix())
	if err != nil {
		return "", fmt.Errorf("create workspace container: %w", err)
	}
	l.debug("container created", "id", created.ID[:min(12, len(created.ID))])
	return created.ID, nil
}

func (l *Launcher) remove(ctx context.Context, id string) {
	l.Docker.ContainerRemove(ctx, id, container.RemoveOptions{Force: true}) //nolint:errcheck // nothing better to do on the way out
}

// attachAndWait starts the container attached to stdio, delivers the
// files, passes signals and resizes on, and returns the exit status.
func (l *Launcher) attachAndWait(ctx context.Context, id string, p Plan, d *delivery, stdio IO, signals <-chan os.Signal) error {
	// Wait and attach before starting, so neither the first output nor a
	// quick exit is missed.
	waitC, waitErr := l.Docker.ContainerWait(ctx, id, container.WaitConditionNextExit)
	attach, err := l.Docker.ContainerAttach(ctx, id, container.AttachOptions{
		Stream: true, Stdin: stdio.Stdin != nil, Stdout: true, Stderr: true, DetachKeys: detachKeys,
	})
	if err != nil {
		return fmt.Errorf("attach to workspace container: %w", err)
	}
	defer attach.Close()

	if p.TTY {
		restore, err := rawTerminal(stdio.Stdin)
		if err != nil {
			return err
		}
		defer restore()
	}
	if err := l.Docker.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
		return fmt.Errorf("start workspace container: %w", err)
	}
	l.debug("container started")
	if l.AgentStream != nil {
		// Before the files go in: the command starts only after them, and
		// finds the agent socket listening.
		stop, err := l.bridgeAgent(ctx, id, p.User, l.AgentStream)
		if err != nil {
			return err
		}
		defer stop()
	}
	// The entrypoint holds the command back until the files are in; a
	// failed delivery ends the run (the deferred removal kills it).
	delivered := make(chan error, 1)
	exited := make(chan struct{})
	defer close(exited)
	if d.pending() {
		go func() { delivered <- d.run(ctx, l, id, p.User, exited) }()
	}
	if p.TTY {
		l.resize(ctx, id, stdio.Stdin)
	}

	outputDone := stream(attach, p.TTY, stdio)
	for {
		select {
		case err := <-delivered:
			if err != nil {
				return err
			}
			l.debug("secrets delivered", "files", len(d.files))
		case sig := <-signals:
			if sig == syscall.SIGWINCH {
				l.resize(ctx, id, stdio.Stdin)
				continue
			}
			l.Docker.ContainerKill(context.WithoutCancel(ctx), id, signalName(sig)) //nolint:errcheck // it may have exited already
		case err := <-waitErr:
			return fmt.Errorf("wait for workspace container: %w", err)
		case res := <-waitC:
			l.debug("container exited", "status", res.StatusCode)
			// Give the output stream a moment to drain what the process wrote last.
			select {
			case <-outputDone:
			case <-time.After(2 * time.Second):
			}
			if res.Error != nil && res.Error.Message != "" {
				return fmt.Errorf("workspace container: %s", res.Error.Message)
			}
			if res.StatusCode != 0 {
				return &ExitError{Code: int(res.StatusCode)}
			}
			return nil
		}
	}
}

func rawTerminal(stdin io.Reader) (func(), error) {
	f, ok := stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return func() {}, nil
	}
	state, err := term.MakeRaw(int(f.Fd()))
	if err != nil {
		return nil, fmt.Errorf("put the terminal in raw mode: %w", err)
	}
	return func() { term.Restore(int(f.Fd()), state) }, nil //nolint:errcheck // best effort on the way out
}

func (l *Launcher) resize(ctx context.Context, id string, stdin io.Reader) {
	f, ok := stdin.(*os.File)
	if !ok {
		return
	}
	w, h, err := termSize(f)
	if err != nil {
		return
	}
	l.Docker.ContainerResize(ctx, id, container.ResizeOptions{Height: uint(h), Width: uint(w)}) //nolint:errcheck // a missed resize is cosmetic
}

func signalName(sig os.Signal) string {
	if s, ok := sig.(syscall.Signal); ok {
		return strconv.Itoa(int(s))
	}
	return "TERM"
}

func randomSuffix() string {
	b := make([]byte, 4)
	rand.Read(b) //nolint:errcheck // crypto/rand does not fail on Linux
	return hex.EncodeToString(b)
}

func termSize(f *os.File) (int, int, error) { return term.GetSize(int(f.Fd())) }

// stream connects a hijacked attach or exec stream to stdio: the output
// demultiplexed (or raw, with a terminal) into stdout and stderr, stdin
// copied in and then closed, so the process sees EOF. The channel says
// when the output has ended.
func stream(conn types.HijackedResponse, tty bool, stdio IO) <-chan error {
	outputDone := make(chan error, 1)
	go func() {
		var err error
		if tty {
			_, err = io.Copy(stdio.Stdout, conn.Reader)
		} else {
			_, err = stdcopy.StdCopy(stdio.Stdout, stdio.Stderr, conn.Reader)
		}
		outputDone <- err
	}()
	if stdio.Stdin != nil {
		go func() {
			io.Copy(conn.Conn, stdio.Stdin) //nolint:errcheck // the process may well exit before reading it all
			conn.CloseWrite()               //nolint:errcheck // EOF for the process's stdin
		}()
	}
	return outputDone
}
