// Package launcher runs one workspace container: the repository mounted at
// its own path, the caller's ids, no capabilities for the user's process,
// a private tmpfs for secrets, the terminal in raw mode when there is one,
// signals passed on, the exit status passed back — and the container
// removed on every way out. It knows nothing of tools.lock or BuildKit.
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
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/pkg/stdcopy"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/term"

	"github.com/docker/docker/api/types"

	"github.com/ws-tools/ws/entrypoint"
)

// Docker is what the launcher asks of the Docker daemon.
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
	CopyFromContainer(ctx context.Context, id, srcPath string) (io.ReadCloser, container.PathStat, error)
}

// Labels on every workspace container, so ws can find its own.
const (
	LabelManaged   = "dev.ws.managed"
	LabelWorkspace = "dev.ws.workspace"
	LabelPID       = "dev.ws.pid"
	LabelHost      = "dev.ws.host"
)

// SecretsDir is the tmpfs for secrets, 0700 and owned by the caller.
const SecretsDir = "/run/ws"

// detachKeys is a sequence nobody types: Docker's default (Ctrl-P Ctrl-Q)
// would swallow keys meant for the shell.
const detachKeys = "ctrl-@,ctrl-@,ctrl-@,ctrl-@"

// Spec is one run.
type Spec struct {
	Image string
	// Root is the workspace root, mounted read-write at the same path.
	Root string
	// Dir is the working directory (the caller's, inside Root).
	Dir string
	// Argv is the command; empty means the user's login shell.
	Argv []string
	// TTY gives the process a terminal (ws enter; ws exec -t).
	TTY bool
	User
	// Env are extra KEY=VALUE variables.
	Env []string
	// Mounts are extra bind mounts, SRC:DST[:ro].
	Mounts []string
	// Network is the container's network mode ("" for Docker's default).
	Network string
	// Files must be in SecretsDir before the command starts (decrypted
	// credentials, the GPG home); they live in memory only.
	Files []File
	// SocketMounts bind single host sockets into the container, SRC:DST.
	SocketMounts [][2]string
	// ReadOnly makes the root file system read-only: HOME and /tmp become
	// tmpfs, and the caller's passwd/group entries are mounted in.
	ReadOnly bool

	Stdin          io.Reader
	Stdout, Stderr io.Writer
}

// User is who the process runs as.
type User struct {
	UID, GID int
	Name     string
	Home     string
}

// ExitError is a process that ended with a non-zero status (128+N when a
// signal killed it): ws exits with the same status.
type ExitError struct{ Code int }

func (e *ExitError) Error() string { return fmt.Sprintf("exit status %d", e.Code) }

// Launcher runs workspace containers on one daemon.
type Launcher struct {
	Docker Docker
	// Workspace identifies the workspace in labels (a hash of its root).
	Workspace string
	// DaemonOnThisHost: the daemon can bind-mount this machine's files
	// (see DaemonOnThisHost); secrets then go in through a FIFO.
	DaemonOnThisHost bool
	// Log gets each step of a run (--debug), with its time; nil for none.
	Log *slog.Logger
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

// RemoveStale removes this workspace's containers whose ws process is gone
// (killed with SIGKILL, a crashed machine): they were left behind.
func (l *Launcher) RemoveStale(ctx context.Context) error {
	list, err := l.Docker.ContainerList(ctx, container.ListOptions{All: true,
		Filters: filters.NewArgs(filters.Arg("label", LabelWorkspace+"="+l.Workspace))})
	if err != nil {
		return fmt.Errorf("list workspace containers: %w", err)
	}
	host, _ := os.Hostname()
	for _, c := range list {
		pid, _ := strconv.Atoi(c.Labels[LabelPID])
		if c.Labels[LabelHost] != host || pid <= 0 || processAlive(pid) {
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

// Run runs s to its end and returns nil for status 0, *ExitError otherwise.
func (l *Launcher) Run(ctx context.Context, s Spec) error {
	files, err := l.newDelivery(s)
	if err != nil {
		return err
	}
	defer files.remove()
	cfg, hostCfg, err := l.configs(s, files)
	if err != nil {
		return err
	}
	if s.ReadOnly {
		db, err := l.prepareUserDB(ctx, s.Image, s.User)
		if err != nil {
			return err
		}
		defer db.remove()
		hostCfg.Mounts = append(hostCfg.Mounts, db.mounts()...)
		hostCfg.Mounts = append(hostCfg.Mounts,
			mount.Mount{Type: mount.TypeTmpfs, Target: "/tmp"},
			mount.Mount{Type: mount.TypeTmpfs, Target: s.Home})
		hostCfg.ReadonlyRootfs = true
		cfg.Env = append(cfg.Env, entrypoint.EnvReadOnly+"=1")
	}
	name := "ws-" + sanitize(filepath.Base(s.Root)) + "-" + randomSuffix()
	created, err := l.Docker.ContainerCreate(ctx, cfg, hostCfg, nil, nil, name)
	if err != nil {
		return fmt.Errorf("create workspace container: %w", err)
	}
	id := created.ID
	l.debug("container created", "id", id[:12])
	// Removal must happen whatever ctx has become.
	defer l.Docker.ContainerRemove(context.WithoutCancel(ctx), id, container.RemoveOptions{Force: true}) //nolint:errcheck // nothing better to do on the way out

	// Wait and attach before starting, so neither the first output nor a
	// quick exit is missed.
	waitC, waitErr := l.Docker.ContainerWait(ctx, id, container.WaitConditionNextExit)
	attach, err := l.Docker.ContainerAttach(ctx, id, container.AttachOptions{
		Stream: true, Stdin: s.Stdin != nil, Stdout: true, Stderr: true, DetachKeys: detachKeys,
	})
	if err != nil {
		return fmt.Errorf("attach to workspace container: %w", err)
	}
	defer attach.Close()

	var restore func()
	if s.TTY {
		if restore, err = rawTerminal(s.Stdin); err != nil {
			return err
		}
		defer restore()
	}

	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGWINCH)
	defer signal.Stop(signals)

	if err := l.Docker.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
		return fmt.Errorf("start workspace container: %w", err)
	}
	l.debug("container started")
	// The entrypoint holds the command back until the files are in; a
	// failed delivery ends the run (the deferred removal kills it).
	delivered := make(chan error, 1)
	exited := make(chan struct{})
	defer close(exited)
	if len(s.Files) > 0 {
		go func() { delivered <- files.run(ctx, l, id, exited) }()
	}
	if s.TTY {
		l.resize(ctx, id, s.Stdin)
	}

	outputDone := make(chan error, 1)
	go func() {
		var err error
		if s.TTY {
			_, err = io.Copy(s.Stdout, attach.Reader)
		} else {
			_, err = stdcopy.StdCopy(s.Stdout, s.Stderr, attach.Reader)
		}
		outputDone <- err
	}()
	if s.Stdin != nil {
		go func() {
			io.Copy(attach.Conn, s.Stdin) //nolint:errcheck // the process may well exit before reading it all
			attach.CloseWrite()           //nolint:errcheck // EOF for the process's stdin
		}()
	}

	for {
		select {
		case err := <-delivered:
			if err != nil {
				return err
			}
			l.debug("secrets delivered", "files", len(s.Files))
		case sig := <-signals:
			if sig == syscall.SIGWINCH {
				l.resize(ctx, id, s.Stdin)
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

func (l *Launcher) configs(s Spec, files *delivery) (*container.Config, *container.HostConfig, error) {
	env := append([]string{
		entrypoint.EnvUID + "=" + strconv.Itoa(s.UID),
		entrypoint.EnvGID + "=" + strconv.Itoa(s.GID),
		entrypoint.EnvUser + "=" + s.Name,
		entrypoint.EnvHome + "=" + s.Home,
	}, s.Env...)
	env = append(env, files.env()...)
	// Docker's init (tini) passes the signals ws forwards to the command's
	// whole process group, as a terminal's Ctrl-C does; that also reaches
	// the command when the entrypoint stays to watch the secrets.
	env = append(env, "TINI_KILL_PROCESS_GROUP=1")
	if s.TTY {
		if t := os.Getenv("TERM"); t != "" {
			env = append(env, "TERM="+t)
		}
	}
	cfg := &container.Config{
		Image: s.Image,
		// The prompt then says where the shell runs.
		Hostname:     "ws-" + sanitize(filepath.Base(s.Root)),
		Cmd:          s.Argv,
		Env:          env,
		WorkingDir:   s.Dir,
		User:         "0:0", // the entrypoint drops to the caller
		Tty:          s.TTY,
		OpenStdin:    s.Stdin != nil,
		StdinOnce:    s.Stdin != nil,
		AttachStdin:  s.Stdin != nil,
		AttachStdout: true,
		AttachStderr: true,
		Labels:       l.labels(),
	}
	init := true
	mounts := []mount.Mount{
		{Type: mount.TypeBind, Source: s.Root, Target: s.Root},
		{Type: mount.TypeTmpfs, Target: SecretsDir, TmpfsOptions: &mount.TmpfsOptions{Mode: 0o700}},
	}
	for _, sm := range append(s.SocketMounts, files.mounts()...) {
		mounts = append(mounts, mount.Mount{Type: mount.TypeBind, Source: sm[0], Target: sm[1]})
	}
	for _, m := range s.Mounts {
		mt, err := parseMount(m)
		if err != nil {
			return nil, nil, err
		}
		mounts = append(mounts, mt)
	}
	hostCfg := &container.HostConfig{
		Init:    &init,
		Mounts:  mounts,
		CapDrop: []string{"ALL"},
		// Only what the entrypoint needs to add the user and drop to it
		// (SETPCAP to empty the bounding set); the user's process gets none.
		CapAdd:      []string{"SETUID", "SETGID", "SETPCAP", "CHOWN", "DAC_OVERRIDE", "FOWNER"},
		SecurityOpt: []string{"no-new-privileges"},
		NetworkMode: container.NetworkMode(s.Network),
		// ws streams the output through attach; a log driver would also
		// keep it on disk under Docker's data root, and a workspace prints
		// decrypted credentials (kubectl config view --raw, cat $KUBECONFIG).
		LogConfig: container.LogConfig{Type: "none"},
	}
	return cfg, hostCfg, nil
}

// labels mark a container as this ws process's, for RemoveStale.
func (l *Launcher) labels() map[string]string {
	host, _ := os.Hostname()
	return map[string]string{
		LabelManaged:   "1",
		LabelWorkspace: l.Workspace,
		LabelPID:       strconv.Itoa(os.Getpid()),
		LabelHost:      host,
	}
}

// MountError is a -v that cannot be mounted.
type MountError struct{ Spec, Why string }

func (e *MountError) Error() string { return fmt.Sprintf("mount %q: %s", e.Spec, e.Why) }

// Hint says what to do about it.
func (e *MountError) Hint() string { return "write -v as /host/path:/container/path[:ro]" }

func parseMount(spec string) (mount.Mount, error) {
	parts := strings.Split(spec, ":")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return mount.Mount{}, &MountError{spec, "want SRC:DST[:ro]"}
	}
	src, err := filepath.Abs(parts[0])
	if err != nil {
		return mount.Mount{}, &MountError{spec, err.Error()}
	}
	if _, err := os.Stat(src); err != nil {
		return mount.Mount{}, &MountError{spec, "source does not exist"}
	}
	if !filepath.IsAbs(parts[1]) {
		return mount.Mount{}, &MountError{spec, "destination must be an absolute path"}
	}
	m := mount.Mount{Type: mount.TypeBind, Source: src, Target: parts[1]}
	if len(parts) == 3 {
		if parts[2] != "ro" && parts[2] != "rw" {
			return mount.Mount{}, &MountError{spec, "the only options are ro and rw"}
		}
		m.ReadOnly = parts[2] == "ro"
	}
	return m, nil
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
	w, h, err := term.GetSize(int(f.Fd()))
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

func sanitize(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			b.WriteRune(r)
		}
	}
	if b.Len() == 0 {
		return "workspace"
	}
	return b.String()
}

func randomSuffix() string {
	b := make([]byte, 4)
	rand.Read(b) //nolint:errcheck // crypto/rand does not fail on Linux
	return hex.EncodeToString(b)
}
