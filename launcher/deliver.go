package launcher

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/ws-tools/ws/entrypoint"
)

// File is something the process must find in entrypoint.SecretsDir before it starts.
type File struct {
	// Name is a path relative to entrypoint.SecretsDir.
	Name string
	Data []byte
	// Dir makes a directory (Data unused).
	Dir bool
	// Link makes a symlink to this path (Data unused).
	Link string
}

// Files reach the container's tmpfs one of two ways, both through a tar
// process's stdin and never through `docker cp` (which writes beneath a
// tmpfs onto disk), the environment, or a file holding the plaintext:
//
//   - pipe: ws bind-mounts a FIFO made on the host into the tmpfs and writes
//     the archive into it; the entrypoint's tar reads it before anything
//     else runs. A FIFO stores nothing: the bytes pass through a kernel pipe
//     buffer. It needs the daemon on this host, and costs nothing extra.
//   - exec: a `docker exec tar -x`, as the caller, reads the archive from
//     its stdin and the entrypoint waits for the marker written last. It
//     works with any engine but starts a second process in the container
//     (~90 ms).

// archive packs files as a tar the caller owns, modes 0600 and 0700.
func archive(u entrypoint.User, files []File, withMarker bool) []byte {
	if withMarker {
		files = append(files, File{Name: entrypoint.ReadyMarker})
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{Name: path.Clean(f.Name), Uid: u.UID, Gid: u.GID, Mode: 0o600, Size: int64(len(f.Data)), Typeflag: tar.TypeReg}
		switch {
		case f.Dir:
			h.Mode, h.Size, h.Typeflag = 0o700, 0, tar.TypeDir
		case f.Link != "":
			h.Mode, h.Size, h.Typeflag, h.Linkname = 0o777, 0, tar.TypeSymlink, f.Link
		}
		tw.WriteHeader(h) //nolint:errcheck // a bytes.Buffer does not fail
		if h.Typeflag == tar.TypeReg {
			tw.Write(f.Data) //nolint:errcheck // a bytes.Buffer does not fail
		}
	}
	tw.Close()
	return buf.Bytes()
}

// fifo is the host end of the pipe delivery: a FIFO alone in a 0700
// directory of the caller's, so no one else on the host can open it.
type fifo struct{ dir, path string }

func newFIFO() (*fifo, error) {
	parent := os.Getenv("XDG_RUNTIME_DIR") // a tmpfs of the caller's, when there is one
	if st, err := os.Stat(parent); parent == "" || err != nil || !st.IsDir() {
		parent = os.TempDir()
	}
	removeStaleFIFOs(parent)
	dir, err := os.MkdirTemp(parent, fmt.Sprintf("ws-deliver-%d-", os.Getpid()))
	if err != nil {
		return nil, fmt.Errorf("deliver secrets: %w", err)
	}
	p := filepath.Join(dir, "pipe")
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("deliver secrets: make a FIFO: %w", err)
	}
	return &fifo{dir: dir, path: p}, nil
}

func (f *fifo) remove() { os.RemoveAll(f.dir) }

// removeStaleFIFOs removes what a ws killed with SIGKILL left: its FIFO
// directory (empty of data; a FIFO holds none), named after its pid.
func removeStaleFIFOs(parent string) {
	dirs, _ := filepath.Glob(filepath.Join(parent, "ws-deliver-*-*"))
	for _, dir := range dirs {
		pid, err := strconv.Atoi(strings.Split(filepath.Base(dir), "-")[2])
		if err == nil && pid > 0 && !processAlive(pid) {
			os.RemoveAll(dir) //nolint:errcheck // another user's, or gone already
		}
	}
}

// send writes data once the entrypoint has opened the FIFO for reading. It
// polls a non-blocking open (ENXIO: no reader yet) rather than blocking, so
// a container that dies before reading cannot hang ws.
func (f *fifo) send(ctx context.Context, data []byte, exited <-chan struct{}) error {
	for {
		fd, err := syscall.Open(f.path, syscall.O_WRONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
		if err == nil {
			w := os.NewFile(uintptr(fd), f.path)
			defer w.Close()
			// Blocking writes from here on: the reader is there.
			if err := syscall.SetNonblock(fd, false); err != nil {
				return fmt.Errorf("deliver secrets: %w", err)
			}
			if _, err := w.Write(data); err != nil {
				return fmt.Errorf("deliver secrets: %w", err)
			}
			return nil
		}
		if !errors.Is(err, syscall.ENXIO) {
			return fmt.Errorf("deliver secrets: open the FIFO: %w", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-exited:
			return errors.New("deliver secrets: the workspace ended before reading them")
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// deliverByExec streams the archive into the caller's `tar -x` started
// with docker exec; the entrypoint waits for the ready marker it writes last.
func (l *Launcher) deliverByExec(ctx context.Context, id string, u entrypoint.User, data []byte) error {
	exec, err := l.Docker.ContainerExecCreate(ctx, id, container.ExecOptions{
		User:         fmt.Sprintf("%d:%d", u.UID, u.GID),
		Cmd:          entrypoint.TarExtract,
		AttachStdin:  true,
		AttachStdout: true,
		AttachStderr: true,
	})
	if err != nil {
		return fmt.Errorf("deliver secrets: %w", err)
	}
	att, err := l.Docker.ContainerExecAttach(ctx, exec.ID, container.ExecAttachOptions{})
	if err != nil {
		return fmt.Errorf("deliver secrets: %w", err)
	}
	defer att.Close()
	if _, err := att.Conn.Write(data); err != nil {
		return fmt.Errorf("deliver secrets: %w", err)
	}
	att.CloseWrite() //nolint:errcheck // EOF for tar
	var out bytes.Buffer
	stdcopy.StdCopy(&out, &out, att.Reader) //nolint:errcheck // the exit code below tells
	info, err := l.Docker.ContainerExecInspect(ctx, exec.ID)
	if err != nil {
		return fmt.Errorf("deliver secrets: %w", err)
	}
	if info.ExitCode != 0 {
		return fmt.Errorf("deliver secrets: tar in the workspace exited %d: %s", info.ExitCode, bytes.TrimSpace(out.Bytes()))
	}
	return nil
}

// delivery is how one run gets its files in: set up before the container
// is created (the FIFO must be mounted), used once it has started.
type delivery struct {
	files []File
	pipe  *fifo // nil: by exec
}

func newDelivery(p Plan, pay Payload) (*delivery, error) {
	d := &delivery{files: pay.files()}
	if len(d.files) == 0 || p.Delivery != entrypoint.DeliveryPipe {
		return d, nil
	}
	f, err := newFIFO()
	if err != nil {
		return nil, err
	}
	d.pipe = f
	return d, nil
}

// pending says whether there is anything to deliver.
func (d *delivery) pending() bool { return len(d.files) > 0 }

// way tells the entrypoint which way the files come.
func (d *delivery) way() string {
	if d.pipe != nil {
		return entrypoint.DeliveryPipe
	}
	return entrypoint.DeliveryExec
}

func (d *delivery) mounts() []mount.Mount {
	if d.pipe == nil {
		return nil
	}
	return []mount.Mount{{Type: mount.TypeBind, Source: d.pipe.path, Target: entrypoint.DeliverPipe}}
}

func (d *delivery) run(ctx context.Context, l *Launcher, id string, u entrypoint.User, exited <-chan struct{}) error {
	if d.pipe != nil {
		return d.pipe.send(ctx, archive(u, d.files, false), exited)
	}
	return l.deliverByExec(ctx, id, u, archive(u, d.files, true))
}

func (d *delivery) remove() {
	if d.pipe != nil {
		d.pipe.remove()
	}
}
