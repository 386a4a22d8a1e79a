package apt

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"

	"github.com/ws-tools/ws/cmd/e2e/testenv"
)

func readKey(t *testing.T, name string) openpgp.EntityList {
	t.Helper()
	data, err := os.ReadFile("../../testdata/apt/" + name)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ReadKeyring(data)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// archive is testenv's signed in-memory archive, served for the test.
func newArchive(t *testing.T, signer *openpgp.Entity, index []byte) *testenv.AptArchive {
	t.Helper()
	a, err := testenv.NewAptArchive(index, signer)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func serve(t *testing.T, a *testenv.AptArchive) string {
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	return srv.URL + testenv.AptSnapshotPath
}

func signer(t *testing.T) *openpgp.Entity {
	k := readKey(t, "archive-key.sec.asc")
	return k[0]
}

func TestResolveFromASignedIndex(t *testing.T) {
	index, err := os.ReadFile("../../testdata/apt/Packages")
	if err != nil {
		t.Fatal(err)
	}
	a := newArchive(t, signer(t), index)
	arch := &Archive{Suite: "bookworm", Components: []string{"main"}, Keyring: readKey(t, "archive-key.asc")}
	arch.URL = serve(t, a)
	ctx := context.Background()
	rel, err := arch.Release(ctx, http.DefaultClient)
	if err != nil {
		t.Fatal(err)
	}
	pkgs, err := arch.Packages(ctx, http.DefaultClient, rel, "main", "amd64")
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"git": "1:2.39.5-0+deb12u2", "gnupg": "2.2.40-1.1", "openssh-client": "1:9.2p1-2+deb12u5"} {
		if got, ok := Latest(pkgs, name); !ok || got != want {
			t.Errorf("%s: %q %v, want %q", name, got, ok, want)
		}
	}
	if _, ok := Latest(pkgs, "nosuch"); ok {
		t.Error("a package the index lacks was found")
	}
	if _, err := arch.Packages(ctx, http.DefaultClient, rel, "main", "arm64"); err == nil || !strings.Contains(err.Error(), "no Packages index for main/binary-arm64") {
		t.Errorf("arm64: %v", err)
	}
}

// The hostile archives: each fails, naming the archive.
func TestTamperedArchivesAreRefused(t *testing.T) {
	index, _ := os.ReadFile("../../testdata/apt/Packages")
	other, err := openpgp.NewEntity("someone else", "", "else@ws.test", nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		make    func() *testenv.AptArchive
		wantErr string
	}{
		"index changed after signing": {func() *testenv.AptArchive {
			a := newArchive(t, signer(t), index)
			a.Files["/dists/bookworm/main/binary-amd64/Packages.gz"] = testenv.Gzip(bytes.Replace(index, []byte("1:2.39.5-0+deb12u2"), []byte("1:2.39.9-0+evil1"), 1))
			return a
		}, "does not match InRelease"},
		"InRelease changed after signing": {func() *testenv.AptArchive {
			a := newArchive(t, signer(t), index)
			a.Files["/dists/bookworm/InRelease"] = bytes.Replace(a.Files["/dists/bookworm/InRelease"], []byte("Codename: bookworm"), []byte("Codename: bookwork"), 1)
			return a
		}, "signature does not verify"},
		"signed by another key": {func() *testenv.AptArchive { return newArchive(t, other, index) }, "signature does not verify"},
		"not signed at all": {func() *testenv.AptArchive {
			a := newArchive(t, signer(t), index)
			block, _ := clearsign.Decode(a.Files["/dists/bookworm/InRelease"])
			a.Files["/dists/bookworm/InRelease"] = block.Plaintext
			return a
		}, "not a clearsigned file"},
	} {
		t.Run(name, func(t *testing.T) {
			arch := &Archive{Suite: "bookworm", Components: []string{"main"}, Keyring: readKey(t, "archive-key.asc")}
			arch.URL = serve(t, c.make())
			ctx := context.Background()
			rel, err := arch.Release(ctx, http.DefaultClient)
			if err == nil {
				_, err = arch.Packages(ctx, http.DefaultClient, rel, "main", "amd64")
			}
			var ae *ArchiveError
			if !errors.As(err, &ae) || ae.Archive != arch.URL || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("want an ArchiveError naming %s saying %q, got %v", arch.URL, c.wantErr, err)
			}
		})
	}
}

// dpkg's ordering, from its own test cases.
func TestCompareVersions(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"1.0", "1.0", 0},
		{"1:2.39.5-0+deb12u2", "1:2.39.2-1.1", 1},
		{"1:1.0", "2.0", 1},
		{"1.0~rc1", "1.0", -1},
		{"1.0", "1.0+b1", -1},
		{"1.0-1", "1.0-1~bpo1", 1},
		{"2.2.40-1.1", "2.2.40-1", 1},
		{"9.2p1-2+deb12u5", "9.2p1-2+deb12u3", 1},
		{"1.10", "1.9", 1},
		{"1.0a", "1.0+", -1},
		{"0:1.0", "1.0", 0},
	} {
		got := CompareVersions(c.a, c.b)
		if (got < 0) != (c.want < 0) || (got > 0) != (c.want > 0) {
			t.Errorf("CompareVersions(%q, %q) = %d, want sign %d", c.a, c.b, got, c.want)
		}
		if back := CompareVersions(c.b, c.a); (back < 0) != (c.want > 0) || (back > 0) != (c.want < 0) {
			t.Errorf("CompareVersions(%q, %q) = %d: not antisymmetric", c.b, c.a, back)
		}
	}
}
