package testenv

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
)

// AptSnapshotPath is where an AptArchive answers, shaped like Debian's
// snapshot archive.
const AptSnapshotPath = "/archive/debian/20261101T000000Z"

// AptArchive is a Debian archive's suite bookworm, component main, amd64,
// for images/apt's unit tests (the e2e tests use a DebArchive), served from
// memory: Packages.gz made from an index, and InRelease listing
// its sha256, clearsigned by a key. Files may be changed after signing, as
// a hostile mirror would.
type AptArchive struct {
	Files map[string][]byte
}

// NewAptArchive signs index (a Packages file) into an archive with signer.
func NewAptArchive(index []byte, signer *openpgp.Entity) (*AptArchive, error) {
	gz := Gzip(index)
	sum := sha256.Sum256(gz)
	release := fmt.Sprintf("Origin: Debian\nSuite: stable\nCodename: bookworm\nDate: Sat, 01 Nov 2026 00:00:00 UTC\nArchitectures: amd64 arm64\nComponents: main\nSHA256:\n %s %d main/binary-amd64/Packages.gz\n",
		hex.EncodeToString(sum[:]), len(gz))
	var signed bytes.Buffer
	pt, err := clearsign.Encode(&signed, signer.PrivateKey, nil)
	if err != nil {
		return nil, err
	}
	pt.Write([]byte(release))
	if err := pt.Close(); err != nil {
		return nil, err
	}
	return &AptArchive{Files: map[string][]byte{
		"/dists/bookworm/InRelease":                     signed.Bytes(),
		"/dists/bookworm/main/binary-amd64/Packages.gz": gz,
	}}, nil
}

// Gzip compresses b as an index is served.
func Gzip(b []byte) []byte {
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	w.Write(b)
	w.Close()
	return gz.Bytes()
}

// ServeHTTP answers under AptSnapshotPath.
func (a *AptArchive) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if b, ok := a.Files[strings.TrimPrefix(r.URL.Path, AptSnapshotPath)]; ok {
		w.Write(b)
		return
	}
	http.NotFound(w, r)
}
