// Package bump moves pins in tools.lock: a tool's version together with
// every platform's sha256, or the base image's digest. It resolves and
// verifies everything first and only then edits the lock in memory; writing
// the file is the caller's single, atomic step.
package bump

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/mod/semver"

	"github.com/ws-tools/ws/images/credentials"
	"github.com/ws-tools/ws/images/fetch"
	"github.com/ws-tools/ws/images/lock"
	"github.com/ws-tools/ws/images/registry"
)

// BaseName is the argument that bumps the base image instead of a tool.
const BaseName = "base"

// PackagesName is the argument that pins the base's Debian packages to what
// the lock's apt snapshot has.
const PackagesName = "packages"

// Where a new checksum came from, strongest first.
const (
	SourceAssetDigest  = "GitHub asset digest"
	SourceChecksumFile = "signed checksum file"
	SourceDownload     = "downloaded and hashed"
)

// Options are the user's choices for one bump.
type Options struct {
	// To pins an exact version (one tool only).
	To string
	// Pre allows pre-releases.
	Pre bool
	// MinAge skips releases published less than this long ago.
	MinAge time.Duration
	// NoVerify skips downloading artifacts whose digest a release published.
	NoVerify bool
	// Snapshot moves the apt snapshot to this time (20261115T000000Z,
	// 2026-11-15 or RFC 3339) instead of the base image's build date.
	Snapshot string
}

// Bumper resolves new pins.
type Bumper struct {
	GitHub  *GitHub
	HTTP    *http.Client
	Checker *fetch.Checker
	// Credentials are the Docker CLI's registry logins, for a base image in
	// a private registry; nil means anonymous.
	Credentials *credentials.Store
	// LockDir is the folder of tools.lock; pinned signing keys are relative
	// to it.
	LockDir string
	// Now is the clock for --min-age.
	Now func() time.Time
	// Progress receives one line per step worth telling.
	Progress func(string)
}

// Change is one moved (or deliberately unmoved) pin.
type Change struct {
	// Kind is "tool", "base", "snapshot" or "package".
	Kind      string           `json:"kind"`
	Tool      string           `json:"tool"`
	From      string           `json:"from"`
	To        string           `json:"to"`
	Checksums []ChecksumChange `json:"checksums,omitempty"`
	// Architectures are a package's versions per Debian architecture, when
	// they differ (To is then empty): its entry splits into NAME:ARCH=VERSION.
	Architectures map[string]string `json:"architectures,omitempty"`
	// Note says why nothing moved, when nothing did.
	Note string `json:"note,omitempty"`
}

// Changed reports whether the pin moves.
func (c Change) Changed() bool {
	if c.From != c.To || len(c.Architectures) > 0 {
		return true
	}
	for _, cs := range c.Checksums {
		if cs.From != cs.To {
			return true
		}
	}
	return false
}

// ChecksumChange is one platform's new digest and where it came from.
type ChecksumChange struct {
	Platform lock.Platform `json:"platform"`
	From     string        `json:"from"`
	To       string        `json:"to"`
	Source   string        `json:"source"`
	Verified bool          `json:"verified"`
}

// Plan resolves the new pins of the named tools (every tool when names is
// empty; "base" for the base image) and applies them to l in memory. On any
// error l is left unedited.
func (b *Bumper) Plan(ctx context.Context, l *lock.Lock, names []string, o Options) ([]Change, error) {
	targets, wantBase, wantPackages, err := selectTargets(l, names)
	if err != nil {
		return nil, err
	}
	if o.To != "" && (len(targets)+boolInt(wantBase) != 1 || wantPackages) {
		return nil, &UsageError{Msg: "--to pins one tool: name exactly one"}
	}
	if o.Snapshot != "" && !wantBase && !wantPackages {
		return nil, &UsageError{Msg: "--snapshot moves the apt snapshot: ws lock bump base --snapshot WHEN, or ws lock bump packages --snapshot WHEN"}
	}
	if o.Snapshot != "" {
		if l.Base.Snapshot == nil {
			return nil, errNoSnapshot
		}
		if _, err := ParseSnapshotTime(o.Snapshot); err != nil {
			return nil, err
		}
	}
	var changes []Change
	var errs []error
	var baseChange *Change
	if wantBase {
		c, err := b.planBase(ctx, l)
		if err != nil {
			errs = append(errs, err)
		} else {
			changes = append(changes, c)
			baseChange = &c
		}
	}
	// The snapshot follows the base (or --snapshot), and the packages are
	// pinned again from wherever it lands.
	snapshotURL := ""
	if l.Base.Snapshot != nil && len(errs) == 0 && (wantBase || o.Snapshot != "") {
		c, err := b.planSnapshot(ctx, l, baseChange, o.Snapshot)
		if err != nil {
			errs = append(errs, err)
		} else {
			changes = append(changes, c)
			snapshotURL = c.To
			wantPackages = wantPackages || c.Changed()
		}
	}
	if wantPackages && len(errs) == 0 {
		cs, err := b.planPackages(ctx, l, snapshotURL)
		if err != nil {
			errs = append(errs, err)
		} else {
			changes = append(changes, cs...)
		}
	}
	for _, t := range targets {
		c, err := b.planTool(ctx, l, t, o)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		changes = append(changes, c)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if err := b.verify(ctx, l, changes, o); err != nil {
		return nil, err
	}
	return changes, apply(l, changes)
}

// UsageError is a bump asked for in a way that cannot work.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

// Hint says what to do about it.
func (e *UsageError) Hint() string { return "see ws lock bump --help; ws lock list shows the tools" }

func selectTargets(l *lock.Lock, names []string) (tools []*lock.Tool, base, packages bool, err error) {
	if len(names) == 0 {
		return l.Tools, false, false, nil
	}
	var out []*lock.Tool
	for _, n := range names {
		if n == BaseName {
			base = true
			continue
		}
		if n == PackagesName {
			packages = true
			continue
		}
		t := l.Tool(n)
		if t == nil {
			// Renovate knows a tool by its source repository.
			for _, c := range l.Tools {
				if c.Source != "" && strings.TrimPrefix(c.Source, "github:") == n {
					t = c
				}
			}
		}
		if t == nil {
			known := make([]string, len(l.Tools))
			for i, c := range l.Tools {
				known[i] = c.Name
			}
			return nil, false, false, &UsageError{Msg: fmt.Sprintf("no tool %q in tools.lock (tools: %s; or base, packages)", n, strings.Join(known, ", "))}
		}
		out = append(out, t)
	}
	return out, base, packages, nil
}

func (b *Bumper) planBase(ctx context.Context, l *lock.Lock) (Change, error) {
	_, tag, err := registry.TagRef(l.Base.Image)
	if err != nil {
		return Change{}, err
	}
	digest, err := registry.Resolve(ctx, b.HTTP, l.Base.Image, b.Credentials)
	var login *credentials.LoginError
	if errors.As(err, &login) {
		return Change{}, err // it names the registry; the hint says what to do
	}
	if err != nil {
		return Change{}, fmt.Errorf("base: %w", err)
	}
	// Keep the name as the user wrote it (docker.io/library/… or short).
	written := l.Base.Image
	if i := strings.Index(written, "@"); i >= 0 {
		written = written[:i]
	}
	c := Change{Kind: "base", Tool: BaseName, From: l.Base.Image, To: written + "@" + digest}
	if c.From == c.To {
		c.Note = "tag " + tag + " still points at the pinned digest"
	}
	b.progress("base: %s -> %s", tag, digest)
	return c, nil
}

func (b *Bumper) planTool(ctx context.Context, l *lock.Lock, t *lock.Tool, o Options) (Change, error) {
	c := Change{Kind: "tool", Tool: t.Name, From: t.Version, To: t.Version}
	repo := strings.TrimPrefix(t.Source, "github:")
	var rel *Release
	switch {
	case o.To != "" && repo != "":
		r, err := b.GitHub.ReleaseByTag(ctx, repo, o.To)
		var apiErr *APIError
		if errors.As(err, &apiErr) && strings.HasPrefix(apiErr.Status, "404") && !strings.HasPrefix(o.To, "v") {
			r, err = b.GitHub.ReleaseByTag(ctx, repo, "v"+o.To) // "2.10.0" for tag v2.10.0
		}
		if err != nil {
			return c, fmt.Errorf("tool %q: release %s: %w", t.Name, o.To, err)
		}
		rel = r
	case o.To != "":
		c.To = o.To
	case repo == "":
		c.Note = "no source: in tools.lock; bump it with --to VERSION"
		return c, nil
	default:
		releases, err := b.GitHub.Releases(ctx, repo)
		if err != nil {
			return c, fmt.Errorf("tool %q: %w", t.Name, err)
		}
		r, note := b.pick(releases, t.Version, o)
		c.Note = note
		if r == nil {
			return c, nil
		}
		rel = r
	}
	if rel != nil {
		c.To = rel.Tag
	}
	if c.To == t.Version && o.To == "" {
		return c, nil
	}
	if err := b.resolveChecksums(ctx, l, t, rel, &c); err != nil {
		return c, err
	}
	b.progress("%s: %s -> %s", t.Name, c.From, c.To)
	return c, nil
}

// pick chooses the newest eligible release, never older than current.
func (b *Bumper) pick(releases []Release, current string, o Options) (*Release, string) {
	now := time.Now
	if b.Now != nil {
		now = b.Now
	}
	var best, tooYoung *Release
	for i := range releases {
		r := &releases[i]
		v := canonical(r.Tag)
		if r.Draft || v == "" || (!o.Pre && (r.Prerelease || semver.Prerelease(v) != "")) {
			continue
		}
		if o.MinAge > 0 && now().Sub(r.PublishedAt) < o.MinAge {
			if tooYoung == nil || semver.Compare(v, canonical(tooYoung.Tag)) > 0 {
				tooYoung = r
			}
			continue
		}
		if best == nil || semver.Compare(v, canonical(best.Tag)) > 0 {
			best = r
		}
	}
	var note string
	if tooYoung != nil && (best == nil || semver.Compare(canonical(tooYoung.Tag), canonical(best.Tag)) > 0) &&
		semver.Compare(canonical(tooYoung.Tag), canonical(current)) > 0 {
		age := now().Sub(tooYoung.PublishedAt).Round(time.Hour)
		note = fmt.Sprintf("skipped %s: published %s ago, younger than --min-age %s", tooYoung.Tag, age, o.MinAge)
	}
	if best == nil || semver.Compare(canonical(best.Tag), canonical(current)) <= 0 {
		if note == "" {
			note = "up to date"
		}
		return nil, note
	}
	return best, note
}

// canonical makes a tag comparable as semver ("2.9.4" and "v2.9.4" alike);
// "" when it is not a version.
func canonical(tag string) string {
	v := tag
	if !strings.HasPrefix(v, "v") {
		v = "v" + v
	}
	if !semver.IsValid(v) {
		return ""
	}
	return v
}

// resolveChecksums finds every platform's digest for c.To: the release's
// asset digests first, then the signed checksum file, then a download.
func (b *Bumper) resolveChecksums(ctx context.Context, l *lock.Lock, t *lock.Tool, rel *Release, c *Change) error {
	next := *t
	next.Version = c.To
	var signed map[string]string
	for _, p := range l.Platforms {
		a, err := next.Artifact(p)
		if err != nil {
			return err
		}
		name := path.Base(a.URL)
		cs := ChecksumChange{Platform: p, From: t.SHA256[p]}
		if d := assetDigest(rel, name); d != "" {
			cs.To, cs.Source = d, SourceAssetDigest
		} else if t.Checksums != nil {
			if signed == nil {
				fileURL, err := lock.Render(t.Checksums.URL, c.To, p)
				if err != nil {
					return err
				}
				sigURL, err := lock.Render(t.Checksums.Signature, c.To, p)
				if err != nil {
					return err
				}
				if signed, err = signedChecksums(ctx, b.HTTP, t.Name, fileURL, sigURL, filepath.Join(b.LockDir, t.Checksums.Key)); err != nil {
					return err
				}
			}
			if d := signed[name]; d != "" {
				cs.To, cs.Source = d, SourceChecksumFile
			}
		}
		if cs.To == "" {
			a.SHA256 = ""
			r := b.Checker.Fetch(ctx, a)
			if r.Err != nil {
				return fmt.Errorf("tool %q %s: %w", t.Name, c.To, r.Err)
			}
			cs.To, cs.Source, cs.Verified = r.SHA256, SourceDownload, true
		}
		c.Checksums = append(c.Checksums, cs)
	}
	return nil
}

func assetDigest(rel *Release, name string) string {
	if rel == nil {
		return ""
	}
	for _, a := range rel.Assets {
		if a.Name == name && strings.HasPrefix(a.Digest, "sha256:") {
			hex := strings.ToLower(strings.TrimPrefix(a.Digest, "sha256:"))
			if len(hex) == 64 {
				return hex
			}
		}
	}
	return ""
}

// verify downloads every new artifact whose digest was published rather
// than computed, and checks bytes and archive member against it.
func (b *Bumper) verify(ctx context.Context, l *lock.Lock, changes []Change, o Options) error {
	if o.NoVerify {
		return nil
	}
	var arts []lock.Artifact
	var refs []*ChecksumChange
	for ci := range changes {
		c := &changes[ci]
		if c.Kind != "tool" {
			continue
		}
		t := l.Tool(c.Tool)
		next := *t
		next.Version = c.To
		for i := range c.Checksums {
			cs := &c.Checksums[i]
			if cs.Verified {
				continue
			}
			a, err := next.Artifact(cs.Platform)
			if err != nil {
				return err
			}
			a.SHA256 = cs.To
			arts = append(arts, a)
			refs = append(refs, cs)
		}
	}
	if len(arts) == 0 {
		return nil
	}
	b.progress("verifying %d artifacts by download", len(arts))
	var errs []error
	for i, r := range b.Checker.CheckAll(ctx, arts, nil) {
		if r.Err != nil {
			errs = append(errs, r.Err)
			continue
		}
		refs[i].Verified = true
	}
	return errors.Join(errs...)
}

// apply makes the changes to l, or none of them: they are tried on a copy
// first, so an edit refused halfway leaves l unedited, as Plan promises.
func apply(l *lock.Lock, changes []Change) error {
	b, err := l.Bytes()
	if err != nil {
		return err
	}
	trial, err := lock.Parse(lock.FileName, b)
	if err != nil {
		return err
	}
	if err := edit(trial, changes); err != nil {
		return err
	}
	return edit(l, changes)
}

func edit(l *lock.Lock, changes []Change) error {
	for _, c := range changes {
		if !c.Changed() {
			continue
		}
		if c.Kind == "base" {
			if err := l.SetBaseImage(c.To); err != nil {
				return err
			}
			continue
		}
		if c.Kind == "snapshot" {
			if err := l.SetSnapshotURL(c.To); err != nil {
				return err
			}
			continue
		}
		if c.Kind == "package" && len(c.Architectures) > 0 {
			if err := l.SplitPackage(c.Tool, c.Architectures); err != nil {
				return err
			}
			continue
		}
		if c.Kind == "package" {
			if err := l.SetPackageVersion(c.Tool, c.To); err != nil {
				return err
			}
			continue
		}
		if err := l.SetVersion(c.Tool, c.To); err != nil {
			return err
		}
		for _, cs := range c.Checksums {
			if err := l.SetChecksum(c.Tool, cs.Platform, cs.To); err != nil {
				return err
			}
		}
	}
	return nil
}

func (b *Bumper) progress(format string, args ...any) {
	if b.Progress != nil {
		b.Progress(fmt.Sprintf(format, args...))
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
