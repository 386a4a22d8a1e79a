//go:build e2e

package e2e

import (
	"bytes"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/ws-tools/ws/cmd/e2e/testenv"
)

// ws lock bump packages pins each Debian package to the version the
// lock's snapshot has, from its signed index (InRelease checked with the
// key committed beside tools.lock, the index by InRelease's sha256). A
// tampered index, a bad signature or a package the snapshot lacks fails in
// one line naming the archive, exit 125, tools.lock byte-identical.
func TestLockBumpPackagesFromASignedSnapshot(t *testing.T) {
	t.Parallel()
	repo, _ := filepath.Abs("../..")
	index, err := os.ReadFile(filepath.Join(repo, "testdata/apt/Packages"))
	if err != nil {
		t.Fatal(err)
	}
	keyFile := func(name string) openpgp.EntityList {
		data, err := os.ReadFile(filepath.Join(repo, "testdata/apt", name))
		if err != nil {
			t.Fatal(err)
		}
		k, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	signer := keyFile("archive-key.sec.asc")[0]
	archive, err := testenv.NewAptArchive(index, signer)
	if err != nil {
		t.Fatal(err)
	}
	good := map[string][]byte{}
	for k, v := range archive.Files {
		good[k] = v
	}
	srv := httptest.NewServer(archive)
	t.Cleanup(srv.Close)

	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "keys"), 0o755)
	pub, _ := os.ReadFile(filepath.Join(repo, "testdata/apt/archive-key.asc"))
	writeFile(t, filepath.Join(dir, "keys/archive.asc"), string(pub))
	lockText := func(packages string) string {
		return "format: 1\nbase:\n  image: debian:bookworm-slim@sha256:" + strings.Repeat("a", 64) + "\n" +
			"  # what the workspace installs\n  packages: [" + packages + "]\n" +
			"  snapshot:\n    url: " + srv.URL + testenv.AptSnapshotPath + "  # the archive on 1 Nov 2026\n" +
			"    suite: bookworm\n    components: [main]\n    key: keys/archive.asc\n" +
			"platforms: [linux/amd64]\ntools: {}\n"
	}
	lockPath := filepath.Join(dir, "tools.lock")
	unpinned := lockText("git, gnupg, openssh-client")
	writeFile(t, lockPath, unpinned)

	r := runWs(t, dir, "lock", "bump", "packages")
	pinned := lockText("git=1:2.39.5-0+deb12u2, gnupg=2.2.40-1.1, openssh-client=1:9.2p1-2+deb12u5")
	if got, _ := os.ReadFile(lockPath); r.code != 0 || string(got) != pinned {
		t.Fatalf("ws lock bump packages: exit %d\n%s\nlock:\n%s\nwant:\n%s", r.code, r.stderr, got, pinned)
	}
	if r := runWs(t, dir, "lock", "bump", "packages"); r.code != 0 {
		t.Fatalf("a second bump exited %d", r.code)
	}
	if got, _ := os.ReadFile(lockPath); string(got) != pinned {
		t.Fatalf("a bump with nothing new rewrote the lock:\n%s", got)
	}
	// The lock lists what it pins; the build's hash covers it.
	if r := runWs(t, dir, "lock", "list"); r.code != 0 {
		t.Fatalf("ws lock list of the pinned lock exited %d:\n%s", r.code, r.stderr)
	}

	other, err := openpgp.NewEntity("someone else", "", "else@ws.test", nil)
	if err != nil {
		t.Fatal(err)
	}
	forged, err := testenv.NewAptArchive(index, other)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, packages, want string
		files                func() map[string][]byte
	}{
		{"index changed after signing", "git, gnupg", "does not match InRelease", func() map[string][]byte {
			f := map[string][]byte{}
			for k, v := range good {
				f[k] = v
			}
			f["/dists/bookworm/main/binary-amd64/Packages.gz"] = testenv.Gzip(bytes.Replace(index, []byte("2.2.40-1.1"), []byte("2.2.99-evil"), 1))
			return f
		}},
		{"signed by another key", "git, gnupg", "signature does not verify with the pinned key", func() map[string][]byte { return forged.Files }},
		{"a package the snapshot lacks", "git, no-such-package", "no package no-such-package for amd64", func() map[string][]byte { return good }},
	} {
		archive.Files = c.files()
		before := lockText(c.packages)
		writeFile(t, lockPath, before)
		r := runWs(t, dir, "lock", "bump", "packages")
		lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
		if r.code != 125 || !strings.Contains(r.stderr, "ws: apt archive "+srv.URL+testenv.AptSnapshotPath) || !strings.Contains(r.stderr, c.want) || !strings.HasPrefix(lines[len(lines)-1], "ws: ") && !strings.HasPrefix(lines[len(lines)-1], "hint: ") {
			t.Fatalf("%s: exit %d, want 125 naming the archive and %q:\n%s", c.name, r.code, c.want, r.stderr)
		}
		if got, _ := os.ReadFile(lockPath); string(got) != before {
			t.Fatalf("%s: the lock changed:\n%s", c.name, got)
		}
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
	// The base's own sources are back in place: the package step used the
	// pinned archive for itself only.
	if out := dockerOut(t, "run", "--rm", "--label", "ws.e2e=1", "--entrypoint", "", tag, "sh", "-c", "ls /etc/apt/sources.list.d; ls /tmp"); strings.Contains(out, "ws-snapshot") || strings.Contains(out, "ws-apt") {
		t.Fatalf("the package step left its sources behind:\n%s", out)
	}

	// Reproducible: two --no-cache builds on the standalone buildkitd give
	// the same layers (files clamped to SOURCE_DATE_EPOCH by BuildKit's
	// rewrite-timestamp). dockerd 20.10's exporter has no such option.
	bk := needBuildkitd(t)
	var layers [2]string
	for i := range layers {
		dockerOut(t, "image", "rm", "-f", tag)
		if _, r := w.build(t, "--no-cache", "--builder", bk.Addr); r.code != 0 {
			t.Fatalf("--no-cache build %d on the standalone buildkitd: exit %d\n%s", i+1, r.code, r.stderr)
		}
		layers[i] = strings.Join(rootfsLayers(t, tag), " ")
	}
	if layers[0] != layers[1] {
		t.Fatalf("two --no-cache builds of one pinned lock differ:\n%s\n%s", layers[0], layers[1])
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
