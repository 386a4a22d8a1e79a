package launcher

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
)

// userDB holds the passwd and group files a read-only container mounts:
// the image's own, plus the caller's entries, made on the host because the
// entrypoint cannot add a user to a read-only /etc. They hold no secret.
type userDB struct {
	dir string
}

// prepareUserDB reads the image's /etc/passwd and /etc/group (from a
// created, never started container) and writes them with the caller added.
func (l *Launcher) prepareUserDB(ctx context.Context, image string, u User) (*userDB, error) {
	c, err := l.Docker.ContainerCreate(ctx, &container.Config{Image: image, Entrypoint: []string{"/bin/true"},
		Labels: l.labels()}, nil, nil, nil, "")
	if err != nil {
		return nil, fmt.Errorf("read the image's users: %w", err)
	}
	defer l.Docker.ContainerRemove(context.WithoutCancel(ctx), c.ID, container.RemoveOptions{Force: true}) //nolint:errcheck // best effort
	read := func(path string) ([]byte, error) {
		rc, _, err := l.Docker.CopyFromContainer(ctx, c.ID, path)
		if err != nil {
			return nil, fmt.Errorf("read %s from the image: %w", path, err)
		}
		defer rc.Close()
		tr := tar.NewReader(rc)
		if _, err := tr.Next(); err != nil {
			return nil, fmt.Errorf("read %s from the image: %w", path, err)
		}
		return io.ReadAll(io.LimitReader(tr, 4<<20))
	}
	passwd, err := read("/etc/passwd")
	if err != nil {
		return nil, err
	}
	group, err := read("/etc/group")
	if err != nil {
		return nil, err
	}
	if !hasID(passwd, 2, u.UID) || !hasName(passwd, u.Name) {
		passwd = appendLine(passwd, fmt.Sprintf("%s:x:%d:%d::%s:/bin/bash", u.Name, u.UID, u.GID, u.Home))
	}
	if !hasID(group, 2, u.GID) {
		name := u.Name
		if hasName(group, name) {
			name = "ws-" + strconv.Itoa(u.GID)
		}
		group = appendLine(group, fmt.Sprintf("%s:x:%d:", name, u.GID))
	}
	dir, err := os.MkdirTemp("", "ws-users-")
	if err != nil {
		return nil, err
	}
	os.Chmod(dir, 0o755) //nolint:errcheck // the daemon reads it as root anyway
	db := &userDB{dir: dir}
	if err := os.WriteFile(filepath.Join(dir, "passwd"), passwd, 0o644); err != nil {
		db.remove()
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "group"), group, 0o644); err != nil {
		db.remove()
		return nil, err
	}
	return db, nil
}

func (db *userDB) mounts() []mount.Mount {
	return []mount.Mount{
		{Type: mount.TypeBind, Source: filepath.Join(db.dir, "passwd"), Target: "/etc/passwd", ReadOnly: true},
		{Type: mount.TypeBind, Source: filepath.Join(db.dir, "group"), Target: "/etc/group", ReadOnly: true},
	}
}

func (db *userDB) remove() { os.RemoveAll(db.dir) }

// hasID reports whether a colon-separated database has field (0-based) equal to id.
func hasID(db []byte, field, id int) bool {
	sc := bufio.NewScanner(bytes.NewReader(db))
	for sc.Scan() {
		f := strings.Split(sc.Text(), ":")
		if len(f) > field && f[field] == strconv.Itoa(id) {
			return true
		}
	}
	return false
}

func hasName(db []byte, name string) bool {
	sc := bufio.NewScanner(bytes.NewReader(db))
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), name+":") {
			return true
		}
	}
	return false
}

func appendLine(b []byte, line string) []byte {
	if len(b) > 0 && b[len(b)-1] != '\n' {
		b = append(b, '\n')
	}
	return append(b, line+"\n"...)
}
