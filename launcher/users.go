package launcher

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"

	"github.com/ws-tools/ws/entrypoint"
)

// userDB is the image's passwd and group files with the caller in them
// (entrypoint.WithUser), so the container starts as the caller and never
// needs root to add a user. With the engine on this host they are files
// in ws's cache, mounted read-only; otherwise they are copied into the
// created container before it starts. They hold no secret.
type userDB struct {
	passwd, group []byte
	// dir holds them on this host when they are mounted.
	dir string
}

// userDB reads the image's users once per image and caller, from a
// container that is created and removed, never started.
func (l *Launcher) userDB(ctx context.Context, p Plan) (*userDB, error) {
	sum := sha256.Sum256(fmt.Appendf(nil, "%s\x00%d\x00%d\x00%s\x00%s", p.Image, p.User.UID, p.User.GID, p.User.Name, p.User.Home))
	dir := ""
	if l.CacheDir != "" {
		dir = filepath.Join(l.CacheDir, "users", hex.EncodeToString(sum[:12]))
		passwd, perr := os.ReadFile(filepath.Join(dir, "passwd"))
		group, gerr := os.ReadFile(filepath.Join(dir, "group"))
		if perr == nil && gerr == nil {
			return &userDB{passwd: passwd, group: group, dir: l.mountDir(p, dir)}, nil
		}
	}
	passwd, group, shell, err := l.imageUsers(ctx, p)
	if err != nil {
		return nil, err
	}
	u := p.User
	u.Shell = shell
	db := &userDB{}
	db.passwd, db.group = entrypoint.WithUser(passwd, group, u)
	if dir != "" {
		if err := writeAtomically(dir, db.passwd, db.group); err != nil {
			return nil, fmt.Errorf("keep the workspace's user database: %w", err)
		}
		db.dir = l.mountDir(p, dir)
	}
	if db.dir == "" && p.ReadOnly {
		return nil, fmt.Errorf("--read-only needs the Docker engine on this host (ws mounts the caller's passwd entry from here)")
	}
	return db, nil
}

// mountDir is dir when the engine can mount this host's files.
func (l *Launcher) mountDir(p Plan, dir string) string {
	if p.Delivery != entrypoint.DeliveryPipe {
		return ""
	}
	return dir
}

func (l *Launcher) imageUsers(ctx context.Context, p Plan) (passwd, group []byte, shell string, err error) {
	c, err := l.Docker.ContainerCreate(ctx, &container.Config{Image: p.Image, Entrypoint: []string{"/bin/true"}, Labels: p.Labels},
		&container.HostConfig{NetworkMode: "none"}, nil, nil, "")
	if err != nil {
		return nil, nil, "", fmt.Errorf("read the image's users: %w", err)
	}
	defer l.remove(context.WithoutCancel(ctx), c.ID)
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
	if passwd, err = read("/etc/passwd"); err != nil {
		return nil, nil, "", err
	}
	if group, err = read("/etc/group"); err != nil {
		return nil, nil, "", err
	}
	shell = "/bin/sh"
	if _, err := l.Docker.ContainerStatPath(ctx, c.ID, "/bin/bash"); err == nil {
		shell = "/bin/bash"
	}
	return passwd, group, shell, nil
}

func writeAtomically(dir string, passwd, group []byte) error {
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".users-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	os.Chmod(tmp, 0o755) //nolint:errcheck // the engine reads it as root anyway
	for name, b := range map[string][]byte{"passwd": passwd, "group": group} {
		if err := os.WriteFile(filepath.Join(tmp, name), b, 0o644); err != nil {
			return err
		}
	}
	if err := os.Rename(tmp, dir); err != nil && !isExist(dir) {
		return err
	}
	return nil
}

func isExist(dir string) bool { _, err := os.Stat(dir); return err == nil }

func (db *userDB) mounts() []mount.Mount {
	if db == nil || db.dir == "" {
		return nil
	}
	return []mount.Mount{
		{Type: mount.TypeBind, Source: filepath.Join(db.dir, "passwd"), Target: "/etc/passwd", ReadOnly: true},
		{Type: mount.TypeBind, Source: filepath.Join(db.dir, "group"), Target: "/etc/group", ReadOnly: true},
	}
}

// copyUsers puts the files into a created container when they are not
// mounted: CopyToContainer runs no process in it, and they are no secret.
func (l *Launcher) copyUsers(ctx context.Context, id string, db *userDB) error {
	if db == nil || db.dir != "" {
		return nil
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range []struct {
		name string
		data []byte
	}{{"passwd", db.passwd}, {"group", db.group}} {
		tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.data)), Typeflag: tar.TypeReg}) //nolint:errcheck // a bytes.Buffer does not fail
		tw.Write(f.data)                                                                                        //nolint:errcheck // a bytes.Buffer does not fail
	}
	tw.Close()
	if err := l.Docker.CopyToContainer(ctx, id, "/etc", &buf, container.CopyToContainerOptions{}); err != nil {
		return fmt.Errorf("give the caller a user in the workspace: %w", err)
	}
	return nil
}
