package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// LockSpec describes an e2e tools.lock.
type LockSpec struct {
	// Base is the digest-pinned base image (EnsureBase).
	Base string
	// Packages are the Debian packages of the workspace stage.
	Packages  []string
	Platforms []string
	// Server is the artifact server's base URL.
	Server string
	Tools  []Tool
	// Image is the lock's shared image repository, if any.
	Image string
	// Snapshot is base.snapshot's url (suite bookworm, component main), if
	// any; the image's own keyring checks it unless SnapshotKey is set.
	Snapshot string
	// SnapshotKey is the archive's public key (armored), written beside
	// tools.lock as keys/archive.asc and named by base.snapshot.key.
	SnapshotKey []byte
}

// DefaultPackages keeps e2e images small and quick to build; gnupg is there
// for the agent-forwarding tests, git for the .git protection tests.
var DefaultPackages = []string{"bash", "ca-certificates", "git", "gnupg"}

// Render returns the lock file's text.
func (s LockSpec) Render() (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "# e2e lock written by cmd/e2e/testenv\nformat: 1\nbase:\n  image: %s\n  packages:", s.Base)
	if len(s.Packages) == 0 {
		b.WriteString(" []")
	}
	b.WriteString("\n")
	for _, p := range s.Packages {
		fmt.Fprintf(&b, "    - %s\n", p)
	}
	if s.Snapshot != "" {
		fmt.Fprintf(&b, "  snapshot:\n    url: %s\n    suite: bookworm\n    components: [main]\n", s.Snapshot)
		if len(s.SnapshotKey) > 0 {
			b.WriteString("    key: " + snapshotKeyPath + "\n")
		}
	}
	if s.Image != "" {
		fmt.Fprintf(&b, "image: %s\n", s.Image)
	}
	b.WriteString("platforms:\n")
	for _, p := range s.Platforms {
		fmt.Fprintf(&b, "  - %s\n", p)
	}
	b.WriteString("tools:")
	if len(s.Tools) == 0 {
		b.WriteString(" {}")
	}
	b.WriteString("\n")
	for _, t := range s.Tools {
		fmt.Fprintf(&b, "  %s:\n    version: %s\n    url: %s\n", t.Name, t.Version, t.urlTemplate(s.Server))
		if t.Extract != "" {
			fmt.Fprintf(&b, "    extract: %s\n", t.Extract)
		}
		b.WriteString("    sha256:\n")
		for _, p := range s.Platforms {
			if _, ok := t.Artifacts[p]; !ok {
				return "", fmt.Errorf("tool %s has no artifact for %s", t.Name, p)
			}
			fmt.Fprintf(&b, "      %s: %s\n", p, t.SHA256(p))
		}
	}
	return b.String(), nil
}

// Write writes tools.lock into dir.
func (s LockSpec) Write(dir string) error {
	text, err := s.Render()
	if err != nil {
		return err
	}
	if len(s.SnapshotKey) > 0 {
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(snapshotKeyPath)), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, snapshotKeyPath), s.SnapshotKey, 0o644); err != nil {
			return err
		}
	}
	return os.WriteFile(filepath.Join(dir, "tools.lock"), []byte(text), 0o644)
}

const snapshotKeyPath = "keys/archive.asc"
