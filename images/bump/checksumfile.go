package bump

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"

	"github.com/ws-tools/ws/images/fetch"
)

// SignatureError is a checksum file whose signature does not hold.
type SignatureError struct {
	Tool, URL string
	Err       error
}

func (e *SignatureError) Error() string {
	return fmt.Sprintf("tool %q: signature of %s does not verify with the key pinned in tools.lock: %v", e.Tool, e.URL, e.Err)
}

func (e *SignatureError) Unwrap() error { return e.Err }

// Hint says what to do about it.
func (e *SignatureError) Hint() string {
	return "the checksum file was not signed by the pinned key: do not bump until you know why (a new upstream key must be checked and committed by hand)"
}

// signedChecksums downloads a checksum file and its detached signature and
// returns the file's name → hex digest lines once the signature verifies
// with the armored public key in keyFile.
func signedChecksums(ctx context.Context, client *http.Client, tool, fileURL, sigURL, keyFile string) (map[string]string, error) {
	keyText, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("tool %q: read pinned signing key: %w", tool, err)
	}
	keyring, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(keyText))
	if err != nil {
		return nil, fmt.Errorf("tool %q: read pinned signing key %s: %w", tool, keyFile, err)
	}
	for _, e := range keyring {
		if e.PrivateKey != nil {
			return nil, fmt.Errorf("tool %q: %s holds a private key; pin only the public key", tool, keyFile)
		}
	}
	file, err := download(ctx, client, fileURL)
	if err != nil {
		return nil, fmt.Errorf("tool %q: download checksum file: %w", tool, err)
	}
	sig, err := download(ctx, client, sigURL)
	if err != nil {
		return nil, fmt.Errorf("tool %q: download checksum signature: %w", tool, err)
	}
	check := openpgp.CheckDetachedSignature
	if bytes.HasPrefix(bytes.TrimSpace(sig), []byte("-----BEGIN PGP")) {
		check = openpgp.CheckArmoredDetachedSignature
	}
	if _, err := check(keyring, bytes.NewReader(file), bytes.NewReader(sig), nil); err != nil {
		if errors.Is(err, pgperrors.ErrUnknownIssuer) {
			err = errors.New("signed by a key other than the pinned one")
		}
		return nil, &SignatureError{Tool: tool, URL: fileURL, Err: err}
	}
	return parseChecksumFile(file), nil
}

// parseChecksumFile reads sha256sum output: "HEX  NAME" or "HEX *NAME".
func parseChecksumFile(b []byte) map[string]string {
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) != 2 || len(fields[0]) != 64 {
			continue
		}
		name := strings.TrimPrefix(fields[1], "*")
		name = name[strings.LastIndex(name, "/")+1:]
		out[name] = strings.ToLower(fields[0])
	}
	return out
}

// download fetches a checksum file or signature: small, so anything larger
// is refused.
func download(ctx context.Context, client *http.Client, url string) ([]byte, error) {
	return fetch.Small(ctx, client, url, 16<<20)
}
