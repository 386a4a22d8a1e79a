package testenv

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
)

// The base image's repository and tag. The tag names the recipe: change it
// whenever EnsureBase would make a different image.
const (
	BaseRepo = "ws-e2e/debian"
	BaseTag  = "bookworm-minbase-2"
)

// EnsureBase returns a digest-pinned reference (ADDR/ws-e2e/debian:TAG@sha256:…)
// to a Debian bookworm image in the registry, making it with debootstrap
// when the registry does not have it yet. progress receives one line per
// slow step.
func EnsureBase(ctx context.Context, reg *Registry, cacheDir string, progress func(string)) (string, error) {
	ref := reg.Addr + "/" + BaseRepo + ":" + BaseTag
	if d, err := reg.Digest(ctx, BaseRepo, BaseTag); err != nil || d != "" {
		return ref + "@" + d, err
	}
	// One maker at a time: tests and the demo may start together.
	unlock, err := lockFile(filepath.Join(cacheDir, "base.lock"))
	if err != nil {
		return "", err
	}
	defer unlock()
	if d, err := reg.Digest(ctx, BaseRepo, BaseTag); err != nil || d != "" {
		return ref + "@" + d, err
	}
	if os.Geteuid() != 0 {
		return "", fmt.Errorf("making the e2e base image needs root (debootstrap)")
	}
	rootfs, err := os.MkdirTemp(cacheDir, "rootfs-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(rootfs)
	mirror := debianMirror()
	progress("debootstrap --variant=minbase bookworm from " + mirror + " (about a minute, once)")
	if out, err := exec.CommandContext(ctx, "debootstrap", "--variant=minbase", "bookworm", rootfs, mirror).CombinedOutput(); err != nil {
		return "", fmt.Errorf("debootstrap: %w\n%s", err, tail(out, 20))
	}
	// Leave no apt lists behind, as Debian's own images do.
	for _, dir := range []string{"var/lib/apt/lists", "var/cache/apt/archives"} {
		matches, _ := filepath.Glob(filepath.Join(rootfs, dir, "*"))
		for _, m := range matches {
			if filepath.Base(m) != "partial" && filepath.Base(m) != "lock" {
				os.RemoveAll(m)
			}
		}
	}
	// A base with /etc/hosts, as a machine's root has: without it, every
	// build step on dockerd's BuildKit gets a mount point made in /etc and
	// removed after, which leaves /etc with the build's time in the layer.
	if err := os.WriteFile(filepath.Join(rootfs, "etc/hosts"), []byte("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"), 0o644); err != nil {
		return "", err
	}
	progress("docker import + push " + ref)
	imp := exec.CommandContext(ctx, "sh", "-c", `tar -C "$1" -c . | docker import - "$2"`, "sh", rootfs, ref)
	if out, err := imp.CombinedOutput(); err != nil {
		return "", fmt.Errorf("docker import: %w\n%s", err, tail(out, 20))
	}
	if out, err := exec.CommandContext(ctx, "docker", "push", ref).CombinedOutput(); err != nil {
		return "", fmt.Errorf("docker push %s: %w\n%s", ref, err, tail(out, 20))
	}
	d, err := reg.Digest(ctx, BaseRepo, BaseTag)
	if err != nil {
		return "", err
	}
	if d == "" {
		return "", fmt.Errorf("pushed %s but the registry does not list it", ref)
	}
	return ref + "@" + d, nil
}

// debianMirror is the mirror apt on this machine uses, so debootstrap works
// wherever apt does.
func DebianMirror() string { return debianMirror() }

func debianMirror() string {
	if m := os.Getenv(EnvMirror); m != "" {
		return m
	}
	files, _ := filepath.Glob("/etc/apt/sources.list.d/*")
	files = append([]string{"/etc/apt/sources.list"}, files...)
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			for i, fld := range fields {
				isURI := strings.HasPrefix(fld, "http://") || strings.HasPrefix(fld, "https://")
				deb822 := i == 1 && fields[0] == "URIs:"
				oneLine := len(fields) > 0 && fields[0] == "deb"
				if isURI && (deb822 || oneLine) && !strings.Contains(fld, "security") {
					fh.Close()
					return fld
				}
			}
		}
		fh.Close()
	}
	return "http://deb.debian.org/debian"
}

// lockFile takes an exclusive flock on path.
func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil
}

func tail(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
