//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/ws-tools/ws/cmd/e2e/testenv"
)

// ws lock bump packages pins each Debian package to the version the
// lock's snapshot has, for every platform of the lock, from its signed index
// (InRelease checked with the key committed beside tools.lock, the index by
// InRelease's sha256). A tampered index, a bad signature or a package the
// snapshot lacks fails in one line naming the archive, exit 125, tools.lock
// byte-identical.
func TestLockBumpPackagesFromASignedSnapshot(t *testing.T) {
	t.Parallel()
	in := needInfra(t)
	archive := newTestArchive(t, in)
	snapshot := archive.URL + "/" + snapshotOld
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "keys"), 0o755)
	writeFile(t, filepath.Join(dir, "keys/archive.asc"), string(archive.key))
	lockText := func(packages, platforms string) string {
		return "format: 1\nbase:\n  image: debian:bookworm-slim@sha256:" + strings.Repeat("a", 64) + "\n" +
			"  # what the workspace installs\n  packages: [" + packages + "]\n" +
			"  snapshot:\n    url: " + snapshot + "  # the archive on 1 Nov 2026\n" +
			"    suite: bookworm\n    components: [main]\n    key: keys/archive.asc\n" +
			"platforms: [" + platforms + "]\ntools: {}\n"
	}
	lockPath := filepath.Join(dir, "tools.lock")
	// netbase is for every architecture: both platforms get its version.
	writeFile(t, lockPath, lockText("netbase", "linux/amd64, linux/arm64"))
	r := runWs(t, dir, "lock", "bump", "packages")
	pinned := lockText("netbase="+archive.versions["netbase"], "linux/amd64, linux/arm64")
	if got, _ := os.ReadFile(lockPath); r.code != 0 || string(got) != pinned {
		t.Fatalf("ws lock bump packages: exit %d\n%s\nlock:\n%s\nwant:\n%s", r.code, r.stderr, got, pinned)
	}
	if r := runWs(t, dir, "lock", "bump", "packages"); r.code != 0 {
		t.Fatalf("a second bump exited %d", r.code)
	}
	if got, _ := os.ReadFile(lockPath); string(got) != pinned {
		t.Fatalf("a bump with nothing new rewrote the lock:\n%s", got)
	}

	ctx := context.Background()
	other, err := openpgp.NewEntity("someone else", "", "else@ws.test", nil)
	if err != nil {
		t.Fatal(err)
	}
	forged, err := testenv.StartDebArchive(ctx, t.TempDir(), other)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(forged.Close)
	if _, err := forged.Publish(ctx, snapshotOld, archive.debs...); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, url, packages, want string
		tamper                    func() (func(), error)
	}{
		{"index changed after signing", snapshot, "netbase, hello", "does not match InRelease", func() (func(), error) {
			return archive.Tamper(snapshotOld, "dists/bookworm/main/binary-amd64/Packages.gz", func(b []byte) []byte {
				return testenv.Gzip([]byte("Package: hello\nVersion: 9.9-evil\nArchitecture: amd64\nFilename: pool/main/evil.deb\n"))
			})
		}},
		{"signed by another key", forged.URL + "/" + snapshotOld, "netbase, hello", "signature does not verify with the pinned key", nil},
		{"a package the snapshot lacks", snapshot, "netbase, no-such-package", "no package no-such-package for amd64", nil},
		{"a package one platform lacks", snapshot, "hello", "no package hello for arm64", nil},
	} {
		restore := func() {}
		if c.tamper != nil {
			var err error
			if restore, err = c.tamper(); err != nil {
				t.Fatal(err)
			}
		}
		before := strings.Replace(lockText(c.packages, "linux/amd64, linux/arm64"), snapshot, c.url, 1)
		writeFile(t, lockPath, before)
		r := runWs(t, dir, "lock", "bump", "packages")
		lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
		if r.code != 125 || !strings.Contains(r.stderr, "ws: apt archive "+c.url) || !strings.Contains(r.stderr, c.want) || !strings.HasPrefix(lines[len(lines)-1], "ws: ") && !strings.HasPrefix(lines[len(lines)-1], "hint: ") {
			t.Fatalf("%s: exit %d, want 125 naming the archive and %q:\n%s", c.name, r.code, c.want, r.stderr)
		}
		if got, _ := os.ReadFile(lockPath); string(got) != before {
			t.Fatalf("%s: the lock changed:\n%s", c.name, got)
		}
		restore()
	}
}

var pinnedPackageRe = regexp.MustCompile(`(?m)^    - ([a-z0-9][a-z0-9+.-]+)=(\S+)$`)

// Against Debian's real archive (this machine's mirror, its real InRelease
// checked with the Debian keyring on the host): ws lock bump packages pins
// every package, ws build installs exactly those versions from that
// archive alone (the image's own keyring checks it), and a version the
// archive does not have fails the build in one line naming it, tagging
// nothing.
func TestBuildInstallsThePinnedPackages(t *testing.T) {
	t.Parallel()
	in := needInfra(t)
	w := newBuildWorkspace(t, in, testenv.ScriptTool("pins", fmt.Sprintf("v%d", time.Now().UnixNano()), amd64))
	w.snapshot = testenv.DebianMirror()
	w.writeLock(t)
	lockPath := filepath.Join(w.dir, "tools.lock")

	if r := runWs(t, w.dir, "lock", "bump", "packages"); r.code != 0 {
		t.Fatalf("ws lock bump packages against %s: exit %d\n%s", w.snapshot, r.code, r.stderr)
	}
	text, _ := os.ReadFile(lockPath)
	var want []string
	for _, m := range pinnedPackageRe.FindAllStringSubmatch(string(text), -1) {
		want = append(want, m[1]+"="+m[2])
	}
	if len(want) != len(testenv.DefaultPackages) {
		t.Fatalf("pinned %v, want every one of %v:\n%s", want, testenv.DefaultPackages, text)
	}
	tag, r := w.build(t)
	if r.code != 0 || strings.Contains(r.stderr, "float with the mirror") {
		t.Fatalf("build of the pinned lock: exit %d\n%s", r.code, r.stderr)
	}
	out := dockerOut(t, append([]string{"run", "--rm", "--label", "ws.e2e=1", "--entrypoint", "", tag, "dpkg-query", "-W", "-f", "${Package}=${Version}\n"}, testenv.DefaultPackages...)...)
	got := strings.Fields(out)
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("installed %v, pinned %v", got, want)
	}
	// The base's own sources are untouched: the package step gave the
	// pinned archive to its own apt configuration only.
	if out := dockerOut(t, "run", "--rm", "--label", "ws.e2e=1", "--entrypoint", "", tag, "sh", "-c", "ls /etc/apt/sources.list.d; ls /tmp"); strings.Contains(out, "ws-snapshot") || strings.Contains(out, "ws-apt") {
		t.Fatalf("the package step left its sources behind:\n%s", out)
	}

	// Reproducible with Debian's real packages on dockerd's BuildKit: the
	// package step sets what it wrote to SOURCE_DATE_EPOCH itself, and the
	// image config's times are the snapshot's.
	id := imageID(t, tag)
	dockerOut(t, "image", "rm", "-f", tag)
	if _, r := w.build(t, "--no-cache"); r.code != 0 {
		t.Fatalf("--no-cache build: exit %d\n%s", r.code, r.stderr)
	}
	if got := imageID(t, tag); got != id {
		t.Fatalf("two --no-cache builds of one pinned lock gave the images %s and %s", id, got)
	}

	// A version the archive does not have.
	bad := strings.Replace(string(text), "    - git="+versionOf(want, "git"), "    - git=1:2.39.0-0+ws.nonexistent", 1)
	writeFile(t, lockPath, bad)
	badTag := mustTag(t, w)
	if badTag == tag {
		t.Fatal("moving a package pin did not change the image tag")
	}
	_, r = w.build(t)
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	if r.code != 125 || !strings.Contains(r.stderr, "ws: package git=1:2.39.0-0+ws.nonexistent is not in "+w.snapshot+" bookworm") || !strings.HasPrefix(lines[len(lines)-1], "hint: ws lock bump packages") {
		t.Fatalf("a version the archive lacks: exit %d\n%s", r.code, r.stderr)
	}
	if imageExists(badTag) {
		t.Fatalf("a failed build tagged %s", badTag)
	}
}

func versionOf(pinned []string, name string) string {
	for _, p := range pinned {
		if n, v, _ := strings.Cut(p, "="); n == name {
			return v
		}
	}
	return ""
}

// Real Debian packages in the test's own archive: netbase (for every
// architecture) and hello (amd64), as this machine's apt sources have them.
var archivePackages = []string{"netbase", "hello"}

const (
	snapshotOld = "20261101T000000Z"
	snapshotNew = "20261115T000000Z"
)

// testArchive is an archive of the test's own, made with Debian's tools
// from real .debs and signed with testdata/apt's throwaway key, serving
// archivePackages at snapshotOld.
type testArchive struct {
	*testenv.DebArchive
	debs     []string
	versions map[string]string // package → version at snapshotOld
	key      []byte            // the archive key, armored, for base.snapshot.key
	signer   *openpgp.Entity
}

func newTestArchive(t testing.TB, in *infra) *testArchive {
	t.Helper()
	ctx := context.Background()
	repo, _ := filepath.Abs("../..")
	sec, err := os.ReadFile(filepath.Join(repo, "testdata/apt/archive-key.sec.asc"))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(sec))
	if err != nil {
		t.Fatal(err)
	}
	a := &testArchive{versions: map[string]string{}, signer: keys[0]}
	if a.key, err = os.ReadFile(filepath.Join(repo, "testdata/apt/archive-key.asc")); err != nil {
		t.Fatal(err)
	}
	if a.debs, err = testenv.DebianDebs(ctx, in.cache, archivePackages...); err != nil {
		unavailable(t, "%v", err)
	}
	for i, d := range a.debs {
		if a.versions[archivePackages[i]], err = testenv.DebVersion(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	if a.DebArchive, err = testenv.StartDebArchive(ctx, t.TempDir(), a.signer); err != nil {
		unavailable(t, "%v", err)
	}
	t.Cleanup(a.Close)
	if _, err := a.Publish(ctx, snapshotOld, a.debs...); err != nil {
		t.Fatal(err)
	}
	return a
}

// gainNewer publishes at timestamp every package again with a newer upload
// beside it (the same files, version +ws1), and returns the new versions.
func (a *testArchive) gainNewer(t testing.TB, timestamp string) map[string]string {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	newer := map[string]string{}
	debs := slices.Clone(a.debs)
	for i, d := range a.debs {
		v := a.versions[archivePackages[i]] + "+ws1"
		nd, err := testenv.RepackDeb(ctx, d, v, dir)
		if err != nil {
			t.Fatal(err)
		}
		debs = append(debs, nd)
		newer[archivePackages[i]] = v
	}
	if _, err := a.Publish(ctx, timestamp, debs...); err != nil {
		t.Fatal(err)
	}
	return newer
}

func installedVersions(t testing.TB, tag string, pkgs ...string) string {
	t.Helper()
	out := dockerOut(t, append([]string{"run", "--rm", "--label", "ws.e2e=1", "--entrypoint", "", tag, "dpkg-query", "-W", "-f", "${Package}=${Version}\n"}, pkgs...)...)
	got := strings.Fields(out)
	sort.Strings(got)
	return strings.Join(got, " ")
}

func pinsOf(versions map[string]string) string {
	var s []string
	for p, v := range versions {
		s = append(s, p+"="+v)
	}
	sort.Strings(s)
	return strings.Join(s, " ")
}

func imageID(t testing.TB, tag string) string {
	t.Helper()
	return strings.TrimSpace(dockerOut(t, "image", "inspect", "--format", "{{.Id}}", tag))
}

// The acceptance path against the test's own archive: ws lock bump
// packages pins what the snapshot has; ws build installs exactly that
// (checked by the image's apt against the lock's key). Once the archive
// gains newer versions, --no-cache rebuilds still install the pinned ones
// and give the same image ID, on dockerd's BuildKit and on the standalone
// buildkitd. A bump then moves the pins and the tag.
func TestPinnedPackagesFromTheTestArchive(t *testing.T) {
	t.Parallel()
	in := needInfra(t)
	bk := needBuildkitd(t)
	archive := newTestArchive(t, in)
	w := newBuildWorkspace(t, in, testenv.ScriptTool("pins", fmt.Sprintf("v%d", time.Now().UnixNano()), amd64))
	w.packages = archivePackages
	w.snapshot = archive.URL + "/" + snapshotOld
	w.snapshotKey = archive.key
	w.writeLock(t)

	if r := runWs(t, w.dir, "lock", "bump", "packages"); r.code != 0 {
		t.Fatalf("ws lock bump packages: exit %d\n%s", r.code, r.stderr)
	}
	pinned := pinsOf(archive.versions)
	// build builds on dockerd's BuildKit, or with args, and checks what got
	// installed.
	build := func(what string, args ...string) string {
		t.Helper()
		tag, r := w.build(t, args...)
		if r.code != 0 {
			t.Fatalf("%s: exit %d\n%s", what, r.code, r.stderr)
		}
		if got := installedVersions(t, tag, archivePackages...); got != pinned {
			t.Fatalf("%s installed %s, pinned %s", what, got, pinned)
		}
		return tag
	}
	tag := build("build of the pinned lock")
	engineID := imageID(t, tag)
	build("--no-cache build on the standalone buildkitd", "--no-cache", "--builder", bk.Addr)
	standaloneID := imageID(t, tag)

	archive.gainNewer(t, snapshotOld)
	build("--no-cache rebuild after the archive gained newer versions", "--no-cache")
	if got := imageID(t, tag); got != engineID {
		t.Fatalf("dockerd's --no-cache rebuild changed the image ID from %s to %s", engineID, got)
	}
	build("standalone --no-cache rebuild after the archive gained newer versions", "--no-cache", "--builder", bk.Addr)
	if got := imageID(t, tag); got != standaloneID {
		t.Fatalf("the standalone buildkitd's --no-cache rebuild changed the image ID from %s to %s", standaloneID, got)
	}
	// The image says when its packages are from, and what made each layer.
	created := dockerOut(t, "image", "inspect", "--format", "{{.Created}}", tag)
	if !strings.HasPrefix(created, "2026-11-01T00:00:00") {
		t.Fatalf("image created %s, want the snapshot's time", created)
	}
	if history := dockerOut(t, "history", "--no-trunc", "--format", "{{.CreatedBy}}", tag); !strings.Contains(history, "apt-get install netbase=") {
		t.Fatalf("docker history lacks the package step:\n%s", history)
	}

	// Moving the pins moves the tag.
	if r := runWs(t, w.dir, "lock", "bump", "packages"); r.code != 0 {
		t.Fatalf("the second ws lock bump packages: exit %d\n%s", r.code, r.stderr)
	}
	for p, v := range archive.versions {
		archive.versions[p] = v + "+ws1"
	}
	pinned = pinsOf(archive.versions)
	if newTag := build("build of the moved pins"); newTag == tag {
		t.Fatalf("moving the package pins kept the tag %s", tag)
	}
}

// ws lock bump base moves the apt snapshot with the base: forward to the
// new base image's build date, or to --snapshot, and pins the packages
// again from there; ws lock bump packages --snapshot moves it alone. A time
// ws cannot read fails in one line and changes nothing.
func TestLockBumpBaseMovesTheSnapshot(t *testing.T) {
	t.Parallel()
	in := needInfra(t)
	archive := newTestArchive(t, in)
	old := archive.versions["netbase"]
	newer := archive.gainNewer(t, snapshotNew)["netbase"]

	repo := fmt.Sprintf("ws-e2e/snapshot-base-%d", time.Now().UnixNano())
	first := pushMarkerImage(t, in, repo, "one")
	ref := in.registry.Addr + "/" + repo + ":stable"
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "keys"), 0o755)
	writeFile(t, filepath.Join(dir, "keys/archive.asc"), string(archive.key))
	lockText := func(digest, at, version string) string {
		return "format: 1\nbase:\n  image: " + ref + "@" + digest + "\n  packages: [netbase=" + version + "]\n" +
			"  snapshot:\n    url: " + archive.URL + "/" + at + "  # moves with the base\n" +
			"    suite: bookworm\n    key: keys/archive.asc\nplatforms: [linux/amd64]\ntools: {}\n"
	}
	lockPath := filepath.Join(dir, "tools.lock")
	writeFile(t, lockPath, lockText(first, snapshotOld, old))

	built := time.Now().UTC().Add(-time.Second)
	second := pushMarkerImage(t, in, repo, "two")
	pushed := time.Now().UTC()
	if r := runWs(t, dir, "lock", "bump", "base"); r.code != 0 {
		t.Fatalf("ws lock bump base: exit %d\n%s", r.code, r.stderr)
	}
	got, _ := os.ReadFile(lockPath)
	m := regexp.MustCompile(`/archive/debian/(\d{8}T\d{6}Z) `).FindSubmatch(got)
	if m == nil {
		t.Fatalf("no snapshot time in the bumped lock:\n%s", got)
	}
	at, _ := time.Parse("20060102T150405Z", string(m[1]))
	if at.Before(built.Truncate(time.Second)) || at.After(pushed) {
		t.Fatalf("the snapshot moved to %s, want the new base's build date (between %s and %s)", m[1], built, pushed)
	}
	if want := lockText(second, string(m[1]), newer); string(got) != want {
		t.Fatalf("lock after ws lock bump base:\n%s\nwant:\n%s", got, want)
	}

	if r := runWs(t, dir, "lock", "bump", "base", "--snapshot", "2026-11-01"); r.code != 0 {
		t.Fatalf("ws lock bump base --snapshot 2026-11-01: exit %d\n%s", r.code, r.stderr)
	}
	if got, _ := os.ReadFile(lockPath); string(got) != lockText(second, snapshotOld, old) {
		t.Fatalf("lock after --snapshot 2026-11-01:\n%s", got)
	}
	if r := runWs(t, dir, "lock", "bump", "packages", "--snapshot", snapshotNew); r.code != 0 {
		t.Fatalf("ws lock bump packages --snapshot %s: exit %d\n%s", snapshotNew, r.code, r.stderr)
	}
	pinned := lockText(second, snapshotNew, newer)
	if got, _ := os.ReadFile(lockPath); string(got) != pinned {
		t.Fatalf("lock after ws lock bump packages --snapshot:\n%s", got)
	}

	r := runWs(t, dir, "lock", "bump", "base", "--snapshot", "last tuesday")
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	if r.code == 0 || !strings.HasPrefix(lines[0], `ws: --snapshot "last tuesday" is not a time`) || len(lines) > 2 {
		t.Fatalf("an unreadable --snapshot: exit %d\n%s", r.code, r.stderr)
	}
	if got, _ := os.ReadFile(lockPath); string(got) != pinned {
		t.Fatalf("an unreadable --snapshot changed the lock:\n%s", got)
	}
}

// A package whose version differs between architectures (a binNMU built
// for arm64 only): ws lock bump packages writes one NAME:ARCH=VERSION entry
// per architecture, the amd64 build installs amd64's version, and moving
// arm64's pin leaves the amd64 image's tag as it was.
func TestPackagesPerArchitecture(t *testing.T) {
	t.Parallel()
	in := needInfra(t)
	archive := newTestArchive(t, in)
	ctx := context.Background()
	arm, err := testenv.DebianDebs(ctx, in.cache, "hello:arm64")
	if err != nil {
		unavailable(t, "%v", err)
	}
	binNMU := archive.versions["hello"] + "+b1"
	rebuilt, err := testenv.RepackDeb(ctx, arm[0], binNMU, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	url, err := archive.Publish(ctx, snapshotNew, append(slices.Clone(archive.debs), rebuilt)...)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	spec := testenv.LockSpec{Base: in.base, Packages: archivePackages, Platforms: []string{amd64, "linux/arm64"}, Snapshot: url, SnapshotKey: archive.key}
	if err := spec.Write(dir); err != nil {
		t.Fatal(err)
	}
	if r := runWs(t, dir, "lock", "bump", "packages"); r.code != 0 {
		t.Fatalf("ws lock bump packages: exit %d\n%s", r.code, r.stderr)
	}
	lockPath := filepath.Join(dir, "tools.lock")
	got, _ := os.ReadFile(lockPath)
	want := "    - netbase=" + archive.versions["netbase"] + "\n" +
		"    - hello:amd64=" + archive.versions["hello"] + "\n" +
		"    - hello:arm64=" + binNMU + "\n"
	if !strings.Contains(string(got), want) {
		t.Fatalf("the bumped lock lacks\n%s\n%s", want, got)
	}
	if r := runWs(t, dir, "lock", "bump", "packages"); r.code != 0 {
		t.Fatalf("a second bump: exit %d\n%s", r.code, r.stderr)
	}
	if again, _ := os.ReadFile(lockPath); string(again) != string(got) {
		t.Fatalf("a bump with nothing new rewrote the lock:\n%s", again)
	}

	tag, r := (&buildWorkspace{dir: dir}).build(t)
	if r.code != 0 {
		t.Fatalf("ws build: exit %d\n%s", r.code, r.stderr)
	}
	if got, want := installedVersions(t, tag, archivePackages...), pinsOf(archive.versions); got != want {
		t.Fatalf("the amd64 image installed %s, want %s", got, want)
	}
	writeFile(t, lockPath, strings.Replace(string(got), "hello:arm64="+binNMU, "hello:arm64="+binNMU+"+b2", 1))
	if moved := imageTag(t, dir); moved != tag {
		t.Fatalf("moving arm64's pin changed the amd64 tag from %s to %s", tag, moved)
	}
}

// Hostile snapshots (testdata/hostile/snapshot): the archive key read from
// outside the repository, a shell command in the archive URL, or one in a
// signed index's version. ws lock bump packages and ws build refuse each in
// one line with a hint, exit 125, tools.lock unchanged, nothing built, and
// the package step's shell never sees the command.
func TestHostileSnapshots(t *testing.T) {
	t.Parallel()
	in := needInfra(t)
	archive := newTestArchive(t, in)
	evil := "6.4';touch /tmp/ws-e2e-pwned;'"
	if _, err := archive.PublishEdited(context.Background(), snapshotNew, func(b []byte) []byte {
		return bytes.Replace(b, []byte("Version: "+archive.versions["netbase"]+"\n"), []byte("Version: "+evil+"\n"), 1)
	}, archive.debs...); err != nil {
		t.Fatal(err)
	}
	writeKey := func(t *testing.T, dir string) {
		os.MkdirAll(filepath.Join(dir, "keys"), 0o755)
		writeFile(t, filepath.Join(dir, "keys/archive.asc"), string(archive.key))
	}
	for _, c := range []struct {
		fixture, at, want string
		setup             func(t *testing.T, dir string)
		// bumpOnly: the lock itself is sound; only the archive's answer is not.
		bumpOnly bool
	}{
		{fixture: "key-symlink.yaml", at: snapshotOld, want: "a symbolic link; the key must be a file in the repository", setup: func(t *testing.T, dir string) {
			outside := t.TempDir()
			writeKey(t, outside)
			os.MkdirAll(filepath.Join(dir, "keys"), 0o755)
			if err := os.Symlink(filepath.Join(outside, "keys/archive.asc"), filepath.Join(dir, "keys/archive.asc")); err != nil {
				t.Fatal(err)
			}
		}},
		{fixture: "key-outside.yaml", at: snapshotOld, want: "must be a file path relative to tools.lock, inside the repository"},
		{fixture: "url-shell.yaml", at: snapshotOld, want: "is not an http(s) archive address"},
		{fixture: "index-version.yaml", at: snapshotNew, want: `which is not a Debian version`, setup: writeKey, bumpOnly: true},
	} {
		t.Run(c.fixture, func(t *testing.T) {
			dir := t.TempDir()
			text := hostileFixture(t, "snapshot/"+c.fixture, map[string]string{"BASE": in.base, "ARCHIVE": archive.URL + "/" + c.at})
			lockPath := filepath.Join(dir, "tools.lock")
			writeFile(t, lockPath, text)
			if c.setup != nil {
				c.setup(t, dir)
			}
			asked := archive.Requests.Load()
			commands := [][]string{{"lock", "bump", "packages"}, {"build"}}
			if c.bumpOnly {
				commands = commands[:1]
			}
			for _, args := range commands {
				r := runWs(t, dir, args...)
				lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
				errors := strings.Count(r.stderr, "ws: ") - strings.Count(r.stderr, "ws: warning: ")
				if r.code != 125 || !strings.Contains(r.stderr, c.want) || errors != 1 || !strings.HasPrefix(lines[len(lines)-1], "hint: ") || r.stdout != "" {
					t.Fatalf("ws %v: exit %d, want 125, one line with %q and a hint:\n%s%s", args, r.code, c.want, r.stdout, r.stderr)
				}
			}
			if got, _ := os.ReadFile(lockPath); string(got) != text {
				t.Fatalf("tools.lock changed:\n%s", got)
			}
			if !c.bumpOnly && archive.Requests.Load() != asked {
				t.Fatal("the archive was asked before the lock was refused")
			}
			if _, err := os.Stat("/tmp/ws-e2e-pwned"); err == nil {
				t.Fatal("the command in the snapshot ran on the host")
			}
		})
	}
}
