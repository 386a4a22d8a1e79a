package apt

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
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

// archive serves dists/bookworm with Packages.gz for amd64 and an InRelease
// signed by signer; tamper changes files after signing.
type archive struct {
	files map[string][]byte
}

func newArchive(t *testing.T, signer *openpgp.Entity, index []byte) *archive {
	t.Helper()
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	w.Write(index)
	w.Close()
	sum := sha256.Sum256(gz.Bytes())
	release := fmt.Sprintf("Origin: Debian\nSuite: stable\nCodename: bookworm\nDate: Sat, 01 Nov 2026 00:00:00 UTC\nArchitectures: amd64 arm64\nComponents: main\nSHA256:\n %s %d main/binary-amd64/Packages.gz\n",
		hex.EncodeToString(sum[:]), gz.Len())
	var signed bytes.Buffer
	pt, err := clearsign.Encode(&signed, signer.PrivateKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	pt.Write([]byte(release))
	pt.Close()
	return &archive{files: map[string][]byte{
		"/dists/bookworm/InRelease":                     signed.Bytes(),
		"/dists/bookworm/main/binary-amd64/Packages.gz": gz.Bytes(),
	}}
}

func (a *archive) serve(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if b, ok := a.files[strings.TrimPrefix(r.URL.Path, "/archive/debian/20261101T000000Z")]; ok {
			w.Write(b)
			return
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/archive/debian/20261101T000000Z"
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
	arch.URL = a.serve(t)
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
		make    func() *archive
		wantErr string
	}{
		"index changed after signing": {func() *archive {
			a := newArchive(t, signer(t), index)
			var gz bytes.Buffer
			w := gzip.NewWriter(&gz)
			w.Write(bytes.Replace(index, []byte("1:2.39.5-0+deb12u2"), []byte("1:2.39.9-0+evil1"), 1))
			w.Close()
			a.files["/dists/bookworm/main/binary-amd64/Packages.gz"] = gz.Bytes()
			return a
		}, "does not match InRelease"},
		"InRelease changed after signing": {func() *archive {
			a := newArchive(t, signer(t), index)
			a.files["/dists/bookworm/InRelease"] = bytes.Replace(a.files["/dists/bookworm/InRelease"], []byte("Codename: bookworm"), []byte("Codename: bookwork"), 1)
			return a
		}, "signature does not verify"},
		"signed by another key": {func() *archive { return newArchive(t, other, index) }, "signature does not verify"},
		"not signed at all": {func() *archive {
			a := newArchive(t, signer(t), index)
			block, _ := clearsign.Decode(a.files["/dists/bookworm/InRelease"])
			a.files["/dists/bookworm/InRelease"] = block.Plaintext
			return a
		}, "not a clearsigned file"},
	} {
		t.Run(name, func(t *testing.T) {
			arch := &Archive{Suite: "bookworm", Components: []string{"main"}, Keyring: readKey(t, "archive-key.asc")}
			arch.URL = c.make().serve(t)
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
