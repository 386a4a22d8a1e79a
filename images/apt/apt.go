// Package apt reads a Debian archive the way apt does, from ws's side: the
// suite's InRelease checked against a pinned signing key (go-crypto's
// OpenPGP), then a Packages index checked against the sha256 InRelease
// lists for it, then the versions it offers. It is the trust chain
// `ws lock bump packages` will stand on (issue 15); it downloads indexes
// only, never packages.
package apt

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"

	"github.com/ws-tools/ws/images/fetch"
)

// Archive is one suite of a Debian archive, e.g. Debian's snapshot at a
// timestamp: https://snapshot.debian.org/archive/debian/20261101T000000Z,
// suite bookworm, components main.
type Archive struct {
	URL        string
	Suite      string
	Components []string
	// Keyring holds the archive's signing keys (armored or binary).
	Keyring openpgp.EntityList
}

// ReadKeyring reads an armored or binary OpenPGP keyring, as a key file
// committed beside tools.lock or the base image's debian-archive-keyring.gpg.
func ReadKeyring(data []byte) (openpgp.EntityList, error) {
	if bytes.Contains(data, []byte("-----BEGIN PGP ")) {
		return openpgp.ReadArmoredKeyRing(bytes.NewReader(data))
	}
	return openpgp.ReadKeyRing(bytes.NewReader(data))
}

// Release is a verified InRelease: the index files it vouches for.
type Release struct {
	// SHA256 maps an index path (main/binary-amd64/Packages.gz) to its
	// digest and size.
	SHA256 map[string]FileSum
}

// FileSum is one line of InRelease's SHA256 field.
type FileSum struct {
	Hex  string
	Size int64
}

// maxIndex caps what ws reads of one index (bookworm main's Packages.gz is
// about 9 MB; uncompressed about 45 MB).
const maxIndex = 256 << 20

// Release downloads and verifies the suite's InRelease.
func (a *Archive) Release(ctx context.Context, client *http.Client) (*Release, error) {
	u := strings.TrimSuffix(a.URL, "/") + "/dists/" + a.Suite + "/InRelease"
	data, err := fetch.Small(ctx, client, u, 16<<20)
	if err != nil {
		return nil, &ArchiveError{Archive: a.URL, Err: err}
	}
	block, _ := clearsign.Decode(data)
	if block == nil {
		return nil, &ArchiveError{Archive: a.URL, Err: errors.New("InRelease is not a clearsigned file")}
	}
	if _, err := block.VerifySignature(a.Keyring, nil); err != nil {
		return nil, &ArchiveError{Archive: a.URL, Err: fmt.Errorf("InRelease's signature does not verify with the pinned key: %v", err)}
	}
	// Only the signed text counts: whatever surrounds the block is ignored.
	return parseRelease(block.Plaintext)
}

func parseRelease(text []byte) (*Release, error) {
	r := &Release{SHA256: map[string]FileSum{}}
	in := false
	sc := bufio.NewScanner(bytes.NewReader(text))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "SHA256:"):
			in = true
		case in && strings.HasPrefix(line, " "):
			f := strings.Fields(line)
			if len(f) != 3 {
				continue
			}
			size, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil || len(f[0]) != 64 {
				continue
			}
			r.SHA256[f[2]] = FileSum{Hex: strings.ToLower(f[0]), Size: size}
		default:
			in = false
		}
	}
	if len(r.SHA256) == 0 {
		return nil, errors.New("InRelease lists no SHA256 sums")
	}
	return r, nil
}

// Package is one stanza of a Packages index.
type Package struct {
	Name, Version, Architecture string
}

// Packages downloads the component's index for arch (a Debian
// architecture: amd64, arm64), checks it against the release, and returns
// its packages.
func (a *Archive) Packages(ctx context.Context, client *http.Client, rel *Release, component, arch string) ([]Package, error) {
	for _, name := range []string{"Packages.gz", "Packages"} {
		path := component + "/binary-" + arch + "/" + name
		sum, ok := rel.SHA256[path]
		if !ok {
			continue
		}
		data, err := fetch.Small(ctx, client, strings.TrimSuffix(a.URL, "/")+"/dists/"+a.Suite+"/"+path, maxIndex)
		if err != nil {
			return nil, &ArchiveError{Archive: a.URL, Err: err}
		}
		h := sha256.Sum256(data)
		if got := hex.EncodeToString(h[:]); got != sum.Hex || int64(len(data)) != sum.Size {
			return nil, &ArchiveError{Archive: a.URL, Err: fmt.Errorf("%s does not match InRelease (sha256 %s, InRelease says %s)", path, got, sum.Hex)}
		}
		var r io.Reader = bytes.NewReader(data)
		if strings.HasSuffix(name, ".gz") {
			gz, err := gzip.NewReader(r)
			if err != nil {
				return nil, &ArchiveError{Archive: a.URL, Err: fmt.Errorf("%s: %v", path, err)}
			}
			r = io.LimitReader(gz, maxIndex)
		}
		return parsePackages(r)
	}
	return nil, &ArchiveError{Archive: a.URL, Err: fmt.Errorf("InRelease lists no Packages index for %s/binary-%s", component, arch)}
}

func parsePackages(r io.Reader) ([]Package, error) {
	var out []Package
	var cur Package
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	flush := func() {
		if cur.Name != "" && cur.Version != "" {
			out = append(out, cur)
		}
		cur = Package{}
	}
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			flush()
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok || strings.HasPrefix(line, " ") {
			continue
		}
		switch k {
		case "Package":
			cur.Name = strings.TrimSpace(v)
		case "Version":
			cur.Version = strings.TrimSpace(v)
		case "Architecture":
			cur.Architecture = strings.TrimSpace(v)
		}
	}
	flush()
	return out, sc.Err()
}

// Latest is the highest version of name in pkgs, by Debian's ordering;
// false when the index has no such package.
func Latest(pkgs []Package, name string) (string, bool) {
	best := ""
	for _, p := range pkgs {
		if p.Name == name && (best == "" || CompareVersions(p.Version, best) > 0) {
			best = p.Version
		}
	}
	return best, best != ""
}

// ArchiveError is an archive ws cannot trust or read; it names the archive.
type ArchiveError struct {
	Archive string
	Err     error
}

func (e *ArchiveError) Error() string { return fmt.Sprintf("apt archive %s: %v", e.Archive, e.Err) }
func (e *ArchiveError) Unwrap() error { return e.Err }

// Hint says what to do about it.
func (e *ArchiveError) Hint() string {
	return "check base.snapshot in tools.lock (url, suite, components, key); nothing was changed"
}
