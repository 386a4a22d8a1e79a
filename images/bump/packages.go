package bump

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/ws-tools/ws/images/apt"
	"github.com/ws-tools/ws/images/lock"
)

// debianArch is Debian's name for a Go architecture.
var debianArch = map[string]string{
	"amd64": "amd64", "arm64": "arm64", "arm": "armhf", "386": "i386",
	"ppc64le": "ppc64el", "s390x": "s390x", "riscv64": "riscv64",
}

// planPackages pins each of the base's packages to the version the lock's
// snapshot has, for every platform of the lock: InRelease checked against
// the pinned key, each Packages index against InRelease. A package must
// have one version on every platform (ws writes one NAME=VERSION).
func (b *Bumper) planPackages(ctx context.Context, l *lock.Lock) ([]Change, error) {
	s := l.Base.Snapshot
	if s == nil {
		return nil, &UsageError{Msg: "base has no snapshot: add base.snapshot (url, suite, components) to tools.lock, then ws lock bump packages pins each package's version from it"}
	}
	if len(l.Base.Packages) == 0 {
		return nil, nil
	}
	keyData := s.KeyData
	if len(keyData) == 0 {
		data, err := os.ReadFile(lock.DefaultArchiveKeyring)
		if err != nil {
			return nil, &KeyringError{Archive: s.URL, Err: err}
		}
		keyData = data
	}
	keyring, err := apt.ReadKeyring(keyData)
	if err != nil {
		return nil, &KeyringError{Archive: s.URL, Err: err}
	}
	archive := &apt.Archive{URL: s.URL, Suite: s.Suite, Components: s.Components, Keyring: keyring}
	rel, err := archive.Release(ctx, b.HTTP)
	if err != nil {
		return nil, err
	}
	b.progress("packages: %s %s verified", s.URL, s.Suite)
	versions := map[string]map[lock.Platform]string{}
	for _, p := range l.Platforms {
		arch, ok := debianArch[p.Arch]
		if !ok {
			return nil, fmt.Errorf("packages: Debian has no architecture for %s", p)
		}
		var pkgs []apt.Package
		for _, c := range s.Components {
			got, err := archive.Packages(ctx, b.HTTP, rel, c, arch)
			if err != nil {
				return nil, err
			}
			pkgs = append(pkgs, got...)
		}
		for _, entry := range l.Base.Packages {
			name := lock.PackageName(entry)
			v, ok := apt.Latest(pkgs, name)
			if !ok {
				return nil, &apt.ArchiveError{Archive: s.URL, Err: fmt.Errorf("no package %s for %s in %s (components %v)", name, arch, s.Suite, s.Components)}
			}
			if versions[name] == nil {
				versions[name] = map[lock.Platform]string{}
			}
			versions[name][p] = v
		}
	}
	var changes []Change
	for _, entry := range l.Base.Packages {
		name := lock.PackageName(entry)
		var to string
		for p, v := range versions[name] {
			if to != "" && v != to {
				return nil, fmt.Errorf("packages: %s has version %s on one platform and %s on %s; ws pins one version for every platform", name, to, v, p)
			}
			to = v
		}
		c := Change{Kind: "package", Tool: name, From: lock.PackageVersion(entry), To: to}
		if !c.Changed() {
			c.Note = "already the snapshot's version"
		}
		changes = append(changes, c)
	}
	return changes, nil
}

// KeyringError is an archive key ws cannot read.
type KeyringError struct {
	Archive string
	Err     error
}

func (e *KeyringError) Error() string {
	return fmt.Sprintf("the signing key of apt archive %s: %v", e.Archive, e.Err)
}

func (e *KeyringError) Unwrap() error { return e.Err }

// Hint says what to do about it.
func (e *KeyringError) Hint() string {
	if errors.Is(e.Err, os.ErrNotExist) {
		return "commit the archive's key beside tools.lock and name it in base.snapshot.key (on Debian: " + lock.DefaultArchiveKeyring + ")"
	}
	return "base.snapshot.key must be an OpenPGP public key file (armored or binary)"
}
