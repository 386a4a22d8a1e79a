// Package lock owns tools.lock: its model, its validation, and the in-place
// edits that `ws lock bump` makes. It never touches the network or Docker.
//
// The file a user wrote is the source of truth, byte for byte: a Lock keeps
// the bytes it was read from and changes only the scalars it is told to, so
// comments, key order, quoting and blank lines survive every write.
package lock

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// FileName is the lock file a workspace is recognised by.
const FileName = "tools.lock"

// FormatVersion is the only format this ws reads and writes.
const FormatVersion = 1

// Lock is a parsed, validated tools.lock.
type Lock struct {
	Base      Base
	Platforms []Platform
	// Tools in the order the file lists them, so listings and images follow
	// the user's order.
	Tools []*Tool
	// Image is an optional registry repository where the team shares built
	// workspace images: ws pulls REPO:<hash> instead of building.
	Image string
	// Workspace is how containers run: extra env, mounts, network.
	Workspace Workspace
	// Warnings are problems the user opted into, such as an unpinned base.
	Warnings []string

	name string // file name used in messages
	raw  []byte
	// toolsKey and toolsNode place the tools mapping, for adding and
	// removing tools (tooledit.go).
	toolsKey, toolsNode *yaml.Node
	edits               []edit
}

// Base is the workspace stage's starting point.
type Base struct {
	// Image is a reference pinned by digest (name@sha256:…) unless
	// AllowUnpinned is set.
	Image string
	// Packages are the Debian packages installed into the workspace stage.
	Packages []string
	// AllowUnpinned lets a tag-only image through with a warning, for people
	// trying ws out before they pin.
	AllowUnpinned bool
	// Snapshot is the apt archive the packages come from, pinned in time;
	// nil means the base image's own sources (the packages float with the
	// mirror).
	Snapshot *Snapshot

	imageNode    *yaml.Node
	packageNodes map[string]*yaml.Node // by PackageKey
	packagesNode *yaml.Node
}

// Snapshot is an apt archive at a point in time, e.g. Debian's snapshot
// archive: https://snapshot.debian.org/archive/debian/20261101T000000Z.
type Snapshot struct {
	URL        string
	Suite      string
	Components []string
	// Key is the archive's signing key: a file beside tools.lock (relative
	// path), or "" for the base image's debian-archive-keyring.
	Key string
	// KeyData is Key's content, read by LoadSnapshotKey.
	KeyData []byte

	urlNode *yaml.Node
}

// SnapshotTimeFormat is how snapshot.debian.org names a point in time, the
// URL's last segment (…/archive/debian/20261101T000000Z).
const SnapshotTimeFormat = "20060102T150405Z"

// Time is the snapshot's point in time, when its URL names one.
func (s *Snapshot) Time() (time.Time, bool) {
	t, err := time.Parse(SnapshotTimeFormat, s.URL[strings.LastIndex(s.URL, "/")+1:])
	return t, err == nil
}

// At is the snapshot's URL moved to time t.
func (s *Snapshot) At(t time.Time) (string, error) {
	if _, ok := s.Time(); !ok {
		return "", fmt.Errorf("base snapshot url %s names no point in time (…/%s) to move", s.URL, SnapshotTimeFormat)
	}
	return s.URL[:strings.LastIndex(s.URL, "/")+1] + t.UTC().Format(SnapshotTimeFormat), nil
}

// SetSnapshotURL moves base.snapshot.url (the archive at another time).
func (l *Lock) SetSnapshotURL(u string) error {
	s := l.Base.Snapshot
	if s == nil {
		return fmt.Errorf("base has no snapshot")
	}
	if err := checkEditable(u); err != nil || !archiveURLRe.MatchString(u) {
		return fmt.Errorf("base snapshot url %q is not an http(s) archive address", u)
	}
	s.URL = u
	l.edits = append(l.edits, edit{node: s.urlNode, value: u})
	return nil
}

// DefaultArchiveKeyring is where Debian images (and Debian hosts) keep the
// archive's signing keys; a snapshot without key: uses it.
const DefaultArchiveKeyring = "/usr/share/keyrings/debian-archive-keyring.gpg"

// LoadSnapshotKey reads the snapshot's key file from dir (tools.lock's
// folder): a regular file inside the repository, never through a symlink.
func (l *Lock) LoadSnapshotKey(dir string) error {
	s := l.Base.Snapshot
	if s == nil || s.Key == "" {
		return nil
	}
	p := filepath.Join(dir, s.Key)
	for cur := p; cur != dir && strings.HasPrefix(cur, dir); cur = filepath.Dir(cur) {
		if st, err := os.Lstat(cur); err == nil && st.Mode()&os.ModeSymlink != 0 {
			return &SnapshotKeyError{Key: s.Key, Err: errors.New("a symbolic link; the key must be a file in the repository")}
		}
	}
	st, err := os.Stat(p)
	if err != nil {
		return &SnapshotKeyError{Key: s.Key, Err: err}
	}
	if !st.Mode().IsRegular() || st.Size() > 1<<20 {
		return &SnapshotKeyError{Key: s.Key, Err: errors.New("not a key file")}
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return &SnapshotKeyError{Key: s.Key, Err: err}
	}
	s.KeyData = data
	return nil
}

// SnapshotKeyError is a base.snapshot.key ws will not read.
type SnapshotKeyError struct {
	Key string
	Err error
}

func (e *SnapshotKeyError) Error() string {
	return fmt.Sprintf("base snapshot key %s: %v", e.Key, e.Err)
}

func (e *SnapshotKeyError) Unwrap() error { return e.Err }

// Hint says what to do about it.
func (e *SnapshotKeyError) Hint() string {
	return "commit the archive's public key as a file beside tools.lock (not a link) and name it in base.snapshot.key"
}

// A packages entry is NAME, NAME=VERSION, or NAME:ARCH=VERSION: apt's own
// spelling of a package for one Debian architecture, for a version that
// differs between platforms (a binNMU rebuilt on one architecture only).

// PackageName is a packages entry's package name.
func PackageName(entry string) string {
	name, _, _ := strings.Cut(PackageKey(entry), ":")
	return name
}

// PackageKey is a packages entry without its version: NAME or NAME:ARCH.
func PackageKey(entry string) string {
	key, _, _ := strings.Cut(entry, "=")
	return key
}

// PackageArch is the Debian architecture an entry is for, "" for every one.
func PackageArch(entry string) string {
	_, arch, _ := strings.Cut(PackageKey(entry), ":")
	return arch
}

// PackageVersion is a packages entry's pinned version, "" when it floats.
func PackageVersion(entry string) string {
	_, v, _ := strings.Cut(entry, "=")
	return v
}

// IsDebianVersion reports whether v is a package version as tools.lock
// may hold it: Debian's characters only, nothing a shell or apt would read
// as more than a version.
func IsDebianVersion(v string) bool { return debVersionRe.MatchString(v) }

// debianArch is Debian's name for a Go architecture.
var debianArch = map[string]string{
	"amd64": "amd64", "arm64": "arm64", "arm": "armhf", "386": "i386",
	"ppc64le": "ppc64el", "s390x": "s390x", "riscv64": "riscv64",
}

// DebianArch is Debian's architecture for platform p.
func DebianArch(p Platform) (string, bool) {
	a, ok := debianArch[p.Arch]
	return a, ok
}

func debianArchNames() []string {
	var names []string
	for _, a := range debianArch {
		names = append(names, a)
	}
	slices.Sort(names)
	return names
}

// PackagesFor are the packages platform p installs, as NAME[=VERSION]: the
// entries for every architecture, except where an entry for p's own
// architecture names the same package.
func (b Base) PackagesFor(p Platform) []string {
	arch, _ := DebianArch(p)
	var out []string
	for _, e := range b.Packages {
		if !b.EntryApplies(e, arch) {
			continue
		}
		entry := PackageName(e)
		if v := PackageVersion(e); v != "" {
			entry += "=" + v
		}
		out = append(out, entry)
	}
	return out
}

// EntryApplies reports whether packages entry e is installed on Debian
// architecture arch: an entry for that architecture, or one for every
// architecture where the package has no entry of arch's own.
func (b Base) EntryApplies(e, arch string) bool {
	switch a := PackageArch(e); a {
	case arch:
		return true
	case "":
		own := PackageName(e) + ":" + arch
		return !slices.ContainsFunc(b.Packages, func(o string) bool { return PackageKey(o) == own })
	}
	return false
}

// Floating reports whether the packages depend on the mirror's state that
// day: no snapshot, or a package without its exact version.
func (b Base) Floating() bool {
	if len(b.Packages) == 0 {
		return false
	}
	if b.Snapshot == nil {
		return true
	}
	for _, p := range b.Packages {
		if PackageVersion(p) == "" {
			return true
		}
	}
	return false
}

// SetPackageVersion pins a packages entry (by PackageKey: NAME or
// NAME:ARCH) to version.
func (l *Lock) SetPackageVersion(key, version string) error {
	n := l.Base.packageNodes[key]
	if n == nil {
		return fmt.Errorf("no package %q in base packages", key)
	}
	entry := key + "=" + version
	if !debPackageRe.MatchString(entry) {
		return fmt.Errorf("package %s: %q is not NAME=VERSION as Debian writes them", key, entry)
	}
	for i, p := range l.Base.Packages {
		if PackageKey(p) == key {
			l.Base.Packages[i] = entry
		}
	}
	l.edits = append(l.edits, edit{node: n, value: entry})
	return nil
}

// SplitPackage replaces the entry for every architecture of package name
// by one NAME:ARCH=VERSION entry per architecture in versions, in its
// place in the list.
func (l *Lock) SplitPackage(name string, versions map[string]string) error {
	n := l.Base.packageNodes[name]
	if n == nil {
		return fmt.Errorf("no package %q for every architecture in base packages", name)
	}
	var entries []string
	for _, arch := range slices.Sorted(maps.Keys(versions)) {
		key := name + ":" + arch
		entry := key + "=" + versions[arch]
		if !debPackageRe.MatchString(entry) || !slices.Contains(debianArchNames(), arch) {
			return fmt.Errorf("package %s: %q is not NAME:ARCH=VERSION as Debian writes them", name, entry)
		}
		if l.Base.packageNodes[key] != nil {
			return fmt.Errorf("package %s is listed for %s already", name, arch)
		}
		entries = append(entries, entry)
	}
	if len(entries) == 0 {
		return fmt.Errorf("package %s: no architecture to split into", name)
	}
	i := slices.IndexFunc(l.Base.Packages, func(e string) bool { return PackageKey(e) == name })
	l.Base.Packages = slices.Replace(l.Base.Packages, i, i+1, entries...)
	delete(l.Base.packageNodes, name) // the new entries have no node of their own until the file is parsed again
	l.edits = append(l.edits, edit{node: n, items: entries})
	return nil
}

// Workspace is the optional workspace section: what every ws enter and ws
// exec of the repository gets on top of the defaults (flags add to it).
type Workspace struct {
	// Env are KEY=VALUE pairs.
	Env []string
	// Mounts are SRC:DST[:ro] host paths; a relative SRC is relative to
	// the workspace root, ~/ is the caller's home.
	Mounts []string
	// Network is the container network mode ("host", "none"…).
	Network string
	// Secrets are sops-encrypted files to decrypt into the container's
	// memory; nil means the convention, DefaultSecrets.
	Secrets []SecretFile
	// GitWritable lets the container write .git/hooks and .git/config,
	// which the host's git runs code from (off unless asked).
	GitWritable bool
	// GPGSign lets the workspace sign with the key git signs with
	// (user.signingkey), through ws's GPG relay.
	GPGSign bool
	// Keep is whether ws exec/enter reuse a running workspace container
	// (nil: the default, yes).
	Keep *bool
	// Idle is how long a kept container lives with no command running
	// (0: the default).
	Idle time.Duration
}

// SecretFile is one credential: a sops file in the repository, exposed in
// the container as /run/ws/<Name> with Env pointing at it.
type SecretFile struct {
	File, Env, Name string
	// Optional files are skipped quietly when missing (the convention's).
	Optional bool
}

// DefaultSecrets are the convention when the lock lists none: the usual
// GitOps layout, kubeconfig and talosconfig at the repository root, each
// used when present.
var DefaultSecrets = []SecretFile{
	{File: "kubeconfig", Env: "KUBECONFIG", Name: "kubeconfig", Optional: true},
	{File: "talosconfig", Env: "TALOSCONFIG", Name: "talosconfig", Optional: true},
}

// SecretFiles are the workspace's credentials: the lock's list, else the
// convention.
func (w Workspace) SecretFiles() []SecretFile {
	if w.Secrets == nil {
		return DefaultSecrets
	}
	return w.Secrets
}

// Tool is one pinned CLI.
type Tool struct {
	Name    string
	Version string
	// Source says where new versions come from, e.g. "github:fluxcd/flux2".
	Source string
	// URL is a text/template rendered with Version, OS and Arch.
	URL string
	// Extract is the archive member to install (also a template); empty
	// when the artifact is the binary itself.
	Extract string
	// Bin is the installed file name in /usr/local/bin.
	Bin string
	// Checksums, when set, is the release's signed checksum file, one of
	// the sources `ws lock bump` trusts for new digests.
	Checksums *ChecksumFile
	// SHA256 maps a platform to the artifact's lowercase hex digest.
	SHA256 map[Platform]string

	keyNode     *yaml.Node
	versionNode *yaml.Node
	shaNodes    map[Platform]*yaml.Node
}

// ChecksumFile is an upstream "HEX  FILENAME" list with a detached OpenPGP
// signature.
type ChecksumFile struct {
	// URL and Signature are templates rendered like the tool's url.
	URL       string
	Signature string
	// Key is the armored public key that must have made the signature,
	// relative to tools.lock; committing it pins it.
	Key string
}

// Artifact is what one tool needs downloaded for one platform.
type Artifact struct {
	Tool     string
	Platform Platform
	URL      string
	// Member is the archive member to install; empty for a raw binary.
	Member string
	SHA256 string
}

// Artifact renders the tool's templates for p.
func (t *Tool) Artifact(p Platform) (Artifact, error) {
	url, err := render(t.URL, t.Version, p)
	if err != nil {
		return Artifact{}, fmt.Errorf("tool %q: render url for %s: %w", t.Name, p, err)
	}
	member, err := render(t.Extract, t.Version, p)
	if err != nil {
		return Artifact{}, fmt.Errorf("tool %q: render extract for %s: %w", t.Name, p, err)
	}
	return Artifact{Tool: t.Name, Platform: p, URL: url, Member: member, SHA256: t.SHA256[p]}, nil
}

// Tool returns the tool called name, or nil.
func (l *Lock) Tool(name string) *Tool {
	for _, t := range l.Tools {
		if t.Name == name {
			return t
		}
	}
	return nil
}

// Artifacts lists every tool's artifact for every platform of the lock.
func (l *Lock) Artifacts() ([]Artifact, error) {
	var out []Artifact
	for _, t := range l.Tools {
		for _, p := range l.Platforms {
			a, err := t.Artifact(p)
			if err != nil {
				return nil, err
			}
			out = append(out, a)
		}
	}
	return out, nil
}

// edit replaces one scalar's text in the original bytes.
type edit struct {
	node  *yaml.Node
	value string
	// items, when set, replace the node (a sequence item) by several items.
	items []string
}

// SetVersion changes a tool's version. The change reaches the bytes only
// through Bytes; the model is updated at once.
func (l *Lock) SetVersion(tool, version string) error {
	t := l.Tool(tool)
	if t == nil {
		return fmt.Errorf("no tool %q in %s", tool, l.name)
	}
	if err := checkEditable(version); err != nil {
		return fmt.Errorf("tool %q: version: %w", tool, err)
	}
	t.Version = version
	l.edits = append(l.edits, edit{node: t.versionNode, value: version})
	return nil
}

// SetChecksum changes one platform's digest of a tool.
func (l *Lock) SetChecksum(tool string, p Platform, hex string) error {
	t := l.Tool(tool)
	if t == nil {
		return fmt.Errorf("no tool %q in %s", tool, l.name)
	}
	n := t.shaNodes[p]
	if n == nil {
		return fmt.Errorf("tool %q has no sha256 entry for %s to update", tool, p)
	}
	if !isSHA256Hex(hex) {
		return fmt.Errorf("tool %q: %q is not 64 lowercase hex digits", tool, hex)
	}
	t.SHA256[p] = hex
	l.edits = append(l.edits, edit{node: n, value: hex})
	return nil
}

// SetBaseImage changes the base image reference.
func (l *Lock) SetBaseImage(ref string) error {
	if err := checkEditable(ref); err != nil {
		return fmt.Errorf("base image: %w", err)
	}
	l.Base.Image = ref
	l.edits = append(l.edits, edit{node: l.Base.imageNode, value: ref})
	return nil
}

// Bytes returns the file's content with every edit applied. With no edits it
// is exactly the bytes Parse was given.
func (l *Lock) Bytes() ([]byte, error) {
	if len(l.edits) == 0 {
		return bytes.Clone(l.raw), nil
	}
	type span struct {
		start, end int
		text       string
	}
	byNode := map[*yaml.Node]edit{}
	for _, e := range l.edits {
		byNode[e.node] = e // the last edit of a node wins
	}
	spans := make([]span, 0, len(byNode))
	for n, e := range byNode {
		start, end, err := scalarSpan(l.raw, n)
		if err != nil {
			return nil, fmt.Errorf("%s:%d:%d: %w", l.name, n.Line, n.Column, err)
		}
		text := quoteLike(n, e.value)
		if e.items != nil {
			text = l.packageItems(n, start, e.items)
		}
		spans = append(spans, span{start, end, text})
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].start < spans[j].start })
	var out bytes.Buffer
	last := 0
	for _, s := range spans {
		out.Write(l.raw[last:s.start])
		out.WriteString(s.text)
		last = s.end
	}
	out.Write(l.raw[last:])
	return out.Bytes(), nil
}

// packageItems is the text that puts items where the packages item n
// (starting at byte start) is: "a, b" in a flow list, or one "- item" line
// each in a block list, indented as n's own line.
func (l *Lock) packageItems(n *yaml.Node, start int, items []string) string {
	quoted := make([]string, len(items))
	for i, it := range items {
		quoted[i] = quoteLike(n, it)
	}
	lineStart := bytes.LastIndexAny(l.raw[:start], "\r\n") + 1
	prefix := string(l.raw[lineStart:start])
	if l.Base.packagesNode.Style&yaml.FlowStyle != 0 || strings.TrimSpace(prefix) != "-" {
		return strings.Join(quoted, ", ")
	}
	eol := "\n"
	if bytes.Contains(l.raw, []byte("\r\n")) {
		eol = "\r\n"
	}
	return strings.Join(quoted, eol+prefix)
}

// Changed reports whether any edit changes the file's bytes.
func (l *Lock) Changed() (bool, error) {
	b, err := l.Bytes()
	if err != nil {
		return false, err
	}
	return !bytes.Equal(b, l.raw), nil
}

// checkEditable keeps in-place edits to values that need no YAML escaping,
// which is all a version, digest or image reference ever is.
func checkEditable(v string) error {
	if v == "" {
		return fmt.Errorf("empty value")
	}
	for _, r := range v {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._-+/:@~", r)
		if !ok {
			return fmt.Errorf("value %q has a character other than letters, digits and ._-+/:@~", v)
		}
	}
	return nil
}

// quoteLike writes v in the quoting style the original scalar used.
func quoteLike(n *yaml.Node, v string) string {
	switch n.Style {
	case yaml.DoubleQuotedStyle:
		return `"` + v + `"`
	case yaml.SingleQuotedStyle:
		return "'" + v + "'"
	}
	return v
}
