package launcher

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"path"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"
)

// File is something the process must find in SecretsDir before it starts.
type File struct {
	// Name is a path relative to SecretsDir.
	Name string
	Data []byte
	// Dir makes a directory (Data unused).
	Dir bool
}

// readyMarker tells the entrypoint that every file is in place.
const readyMarker = ".ready"

// deliver streams files into the container's tmpfs through an exec's stdin
// (tar reading stdin, as root so it can give the caller the files): never
// `docker cp`, which writes beneath a tmpfs onto disk, never the
// environment, never a file on the host. The ready marker comes last.
func (l *Launcher) deliver(ctx context.Context, id string, u User, files []File) error {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range append(files, File{Name: readyMarker}) {
		h := &tar.Header{Name: path.Clean(f.Name), Uid: u.UID, Gid: u.GID, Mode: 0o600, Size: int64(len(f.Data)), Typeflag: tar.TypeReg}
		if f.Dir {
			h.Mode, h.Size, h.Typeflag = 0o700, 0, tar.TypeDir
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if !f.Dir {
			tw.Write(f.Data) //nolint:errcheck // a bytes.Buffer does not fail
		}
	}
	tw.Close()
	exec, err := l.Docker.ContainerExecCreate(ctx, id, container.ExecOptions{
		User:         "0:0",
		Cmd:          []string{"tar", "-x", "--numeric-owner", "--same-owner", "--same-permissions", "-C", SecretsDir, "-f", "-"},
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
	if _, err := io.Copy(att.Conn, &buf); err != nil {
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
