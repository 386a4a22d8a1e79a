package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Sops is the real sops CLI, built from the version go.mod pins, for tests
// that edit secrets inside the workspace as a user would.
type Sops struct {
	Path    string
	Version string // as `sops --version` prints it, e.g. 3.13.3
}

// BuildSops builds sops (cached by Go's build cache) into cacheDir. It is
// static (no cgo) so it runs in any Linux base image.
func BuildSops(ctx context.Context, repo, cacheDir string) (*Sops, error) {
	dir := filepath.Join(cacheDir, "sops")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	bin := filepath.Join(dir, "sops")
	if err := goBuild(ctx, repo, "github.com/getsops/sops/v3/cmd/sops", bin, "CGO_ENABLED=0"); err != nil {
		return nil, err
	}
	out, err := exec.CommandContext(ctx, bin, "--version", "--disable-version-check").Output()
	if err != nil {
		return nil, fmt.Errorf("run %s --version: %w", bin, err)
	}
	fields := strings.Fields(string(out))
	if len(fields) < 2 || fields[0] != "sops" {
		return nil, fmt.Errorf("read the version from %q", out)
	}
	return &Sops{Path: bin, Version: "v" + fields[1]}, nil
}
