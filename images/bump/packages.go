package bump

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/ws-tools/ws/images/apt"
	"github.com/ws-tools/ws/images/credentials"
	"github.com/ws-tools/ws/images/lock"
	"github.com/ws-tools/ws/images/registry"
)

// planPackages pins each of the base's packages to the version the lock's
// snapshot has (at url, when the snapshot moves too), for every platform of
// the lock: InRelease checked against the pinned key, each Packages index
// against InRelease. A package must have one version on every platform (ws
// writes one NAME=VERSION).
func (b *Bumper) planPackages(ctx context.Context, l *lock.Lock, url string) ([]Change, error) {
	if l.Base.Snapshot == nil {
		return nil, errNoSnapshot
	}
	if len(l.Base.Packages) == 0 {
		return nil, nil
	}
	s := *l.Base.Snapshot
	if url != "" {
		s.URL = url
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
	// What each Debian architecture of the lock's platforms has.
	available := map[string][]apt.Package{}
	var archs []string
	for _, p := range l.Platforms {
		arch, ok := lock.DebianArch(p)
		if !ok {
			return nil, fmt.Errorf("packages: Debian has no architecture for %s", p)
		}
		if _, done := available[arch]; done {
			continue
		}
		archs = append(archs, arch)
		available[arch] = nil
		for _, c := range s.Components {
			got, err := archive.Packages(ctx, b.HTTP, rel, c, arch)
			if err != nil {
				return nil, err
			}
			available[arch] = append(available[arch], got...)
		}
	}
	var changes []Change
	for _, entry := range l.Base.Packages {
		name, key := lock.PackageName(entry), lock.PackageKey(entry)
		c := Change{Kind: "package", Tool: key, From: lock.PackageVersion(entry)}
		// The architectures this entry is for: its own, or every one of
		// the lock's that has no entry of its own for the package.
		var entryArchs []string
		for _, arch := range archs {
			if l.Base.EntryApplies(entry, arch) {
				entryArchs = append(entryArchs, arch)
			}
		}
		if len(entryArchs) == 0 {
			c.To, c.Note = c.From, "no platform of the lock is "+lock.PackageArch(entry)
			changes = append(changes, c)
			continue
		}
		versions := map[string]string{}
		for _, arch := range entryArchs {
			v, ok := apt.Latest(available[arch], name)
			if !ok {
				return nil, &apt.ArchiveError{Archive: s.URL, Err: fmt.Errorf("no package %s for %s in %s (components %v)", name, arch, s.Suite, s.Components)}
			}
			if !lock.IsDebianVersion(v) {
				// Signed or not, it would reach apt and the package step's shell.
				return nil, &apt.ArchiveError{Archive: s.URL, Err: fmt.Errorf("package %s for %s has the version %q, which is not a Debian version", name, arch, v)}
			}
			versions[arch] = v
		}
		c.To = versions[entryArchs[0]]
		for _, v := range versions {
			if v != c.To {
				// A version per architecture (a binNMU on one of them):
				// the entry becomes one NAME:ARCH=VERSION per architecture.
				c.To, c.Architectures = "", versions
				break
			}
		}
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

var errNoSnapshot = &UsageError{Msg: "base has no snapshot: add base.snapshot (url, suite, components) to tools.lock, then ws lock bump packages pins each package's version from it"}

// planSnapshot moves the apt snapshot to when (if given), else forward to
// the base image's build date (base is the base's planned move, if any):
// the archive as it was when the base was made, so the packages pinned from
// it match the base's own. It never moves back on its own.
func (b *Bumper) planSnapshot(ctx context.Context, l *lock.Lock, base *Change, when string) (Change, error) {
	s := l.Base.Snapshot
	c := Change{Kind: "snapshot", Tool: "snapshot", From: s.URL, To: s.URL}
	current, hasTime := s.Time()
	var at time.Time
	switch {
	case when != "":
		t, err := ParseSnapshotTime(when)
		if err != nil {
			return c, err
		}
		at = t
	case !hasTime:
		c.Note = "its url names no point in time to move"
		return c, nil
	default:
		ref := l.Base.Image
		if base != nil {
			ref = base.To
		}
		var platforms []ocispecs.Platform
		for _, p := range l.Platforms {
			platforms = append(platforms, p.OCI())
		}
		created, err := registry.Created(ctx, b.HTTP, ref, platforms, b.Credentials)
		if err != nil {
			var login *credentials.LoginError
			if errors.As(err, &login) {
				return c, err
			}
			return c, fmt.Errorf("snapshot: the base image's build date: %w", err)
		}
		if !created.After(current) {
			c.Note = "already at or after the base image's build date"
			return c, nil
		}
		at = created
	}
	to, err := s.At(at)
	if err != nil {
		return c, &UsageError{Msg: err.Error()}
	}
	c.To = to
	if !c.Changed() {
		c.Note = "already at that time"
	}
	if c.Changed() {
		b.progress("snapshot: %s -> %s", current.Format(lock.SnapshotTimeFormat), at.UTC().Format(lock.SnapshotTimeFormat))
	}
	return c, nil
}

// ParseSnapshotTime reads --snapshot: snapshot.debian.org's 20261115T000000Z,
// an RFC 3339 time, or a date (midnight UTC).
func ParseSnapshotTime(s string) (time.Time, error) {
	for _, layout := range []string{lock.SnapshotTimeFormat, time.RFC3339, "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, &UsageError{Msg: fmt.Sprintf("--snapshot %q is not a time: write 20261115T000000Z, 2026-11-15T00:00:00Z or 2026-11-15", s)}
}
