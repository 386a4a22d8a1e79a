package testenv

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// Kubectl is Debian's real kubectl binary (package kubernetes-client),
// unpacked rather than installed so it cannot clash with another kubectl on
// the machine.
type Kubectl struct {
	Path    string
	Version string // as `kubectl version --client` prints it, e.g. v1.20.2
}

// DebianKubectl fetches kubernetes-client with apt (once; cached) and
// returns its kubectl.
func DebianKubectl(ctx context.Context, cacheDir string) (*Kubectl, error) {
	dir := filepath.Join(cacheDir, "kubernetes-client")
	bin := filepath.Join(dir, "usr", "bin", "kubectl")
	if _, err := os.Stat(bin); err != nil {
		if err := unpackDebianPackage(ctx, "kubernetes-client", dir); err != nil {
			return nil, err
		}
	}
	out, err := exec.CommandContext(ctx, bin, "version", "--client", "-o", "json").Output()
	if err != nil {
		return nil, fmt.Errorf("run %s: %w", bin, err)
	}
	var v struct {
		ClientVersion struct{ GitVersion string } `json:"clientVersion"`
	}
	if err := json.Unmarshal(out, &v); err != nil || v.ClientVersion.GitVersion == "" {
		return nil, fmt.Errorf("read kubectl version from %q: %v", out, err)
	}
	return &Kubectl{Path: bin, Version: v.ClientVersion.GitVersion}, nil
}

func unpackDebianPackage(ctx context.Context, pkg, dest string) error {
	tmp, err := os.MkdirTemp("", "ws-deb-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := aptDownload(ctx, pkg, tmp); err != nil {
		return err
	}
	debs, _ := filepath.Glob(filepath.Join(tmp, "*.deb"))
	if len(debs) != 1 {
		return fmt.Errorf("apt-get download %s left %d .deb files", pkg, len(debs))
	}
	staging := dest + ".tmp"
	os.RemoveAll(staging)
	if out, err := exec.CommandContext(ctx, "dpkg-deb", "-x", debs[0], staging).CombinedOutput(); err != nil {
		return fmt.Errorf("dpkg-deb -x: %w\n%s", err, tail(out, 10))
	}
	os.RemoveAll(dest)
	return os.Rename(staging, dest)
}
