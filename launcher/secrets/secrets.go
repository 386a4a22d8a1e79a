// Package secrets gets the workspace's sops-encrypted credentials
// decrypted, in memory, by the ws-sops helper (cmd/ws-sops, which links
// sops; ws itself does not, so runs that decrypt nothing do not pay for
// sops' cloud KMS SDKs at start-up). The plaintext comes back through a
// pipe: never a file, an argument or an environment variable.
package secrets

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/ws-tools/ws/launcher"
)

// EnvHelper names the ws-sops binary, where it is not beside ws.
const EnvHelper = "WS_SOPS_HELPER"

// HelperName is the helper's file name.
const HelperName = "ws-sops"

// Request is what ws asks the helper, on its stdin.
type Request struct {
	// Op is "decrypt" or "recipients".
	Op      string            `json:"op"`
	Root    string            `json:"root"`
	Secrets []launcher.Secret `json:"secrets"`
}

// Response is the helper's answer, on its stdout.
type Response struct {
	Secrets []launcher.Decrypted `json:"secrets,omitempty"`
	PGP     []string             `json:"pgp,omitempty"`
	Error   *Error               `json:"error,omitempty"`
}

// Error is a credential that cannot be decrypted; its message is one line.
type Error struct {
	File string `json:"file"`
	Msg  string `json:"msg"`
	Fix  string `json:"hint,omitempty"`
	// Cause is sops' own error chain, for --debug only.
	Cause string `json:"cause,omitempty"`
}

func (e *Error) Error() string {
	if e.File == "" {
		return e.Msg
	}
	return e.File + ": " + e.Msg
}

// Hint says what to do about it.
func (e *Error) Hint() string { return e.Fix }

// Unwrap gives sops' error chain.
func (e *Error) Unwrap() error {
	if e.Cause == "" {
		return nil
	}
	return errors.New(e.Cause)
}

// Decrypt decrypts every secret's file under root that exists (an optional
// one that does not is skipped), stopping at the first failure. pgp lists
// the PGP fingerprints the files are encrypted to, once each.
func Decrypt(root string, specs []launcher.Secret) ([]launcher.Decrypted, []string, error) {
	if specs = present(root, specs); len(specs) == 0 {
		return nil, nil, nil
	}
	res, err := ask(Request{Op: "decrypt", Root: root, Secrets: specs})
	if err != nil {
		return nil, nil, err
	}
	return res.Secrets, res.PGP, nil
}

// PGPRecipients are the PGP fingerprints the files are encrypted to, read
// from their sops metadata without decrypting; files that are missing or
// not sops are left out (Decrypt reports them).
func PGPRecipients(root string, specs []launcher.Secret) []string {
	if specs = present(root, specs); len(specs) == 0 {
		return nil
	}
	res, err := ask(Request{Op: "recipients", Root: root, Secrets: specs})
	if err != nil {
		return nil
	}
	return res.PGP
}

// Ciphertexts are the plan's present secrets with the sha256 of their
// encrypted files and no plaintext: enough to find a kept container
// started with the same secrets, without decrypting (no helper, no
// pinentry). ok is false when a file cannot be read plainly (a symlink,
// an error): the caller then decrypts, which says why.
func Ciphertexts(root string, specs []launcher.Secret) (pay launcher.Payload, ok bool) {
	for _, s := range present(root, specs) {
		p := filepath.Join(root, s.File)
		st, err := os.Lstat(p)
		if err != nil || !st.Mode().IsRegular() {
			return launcher.Payload{}, false
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return launcher.Payload{}, false
		}
		sum := sha256.Sum256(b)
		pay.Secrets = append(pay.Secrets, launcher.Decrypted{Secret: s, CipherSum: hex.EncodeToString(sum[:])})
	}
	return pay, true
}

// present drops the optional secrets whose file is not there (a workspace
// without kubeconfig or talosconfig), so such a run starts no helper.
func present(root string, specs []launcher.Secret) []launcher.Secret {
	var out []launcher.Secret
	for _, s := range specs {
		if _, err := os.Lstat(filepath.Join(root, s.File)); err != nil && s.Optional {
			continue
		}
		out = append(out, s)
	}
	return out
}

// HelperError is a ws-sops that cannot be found or run.
type HelperError struct{ Err error }

func (e *HelperError) Error() string { return "decrypt secrets: " + e.Err.Error() }
func (e *HelperError) Unwrap() error { return e.Err }

// Hint says what to do about it.
func (e *HelperError) Hint() string {
	return "ws decrypts with its helper " + HelperName + ", installed beside ws by make install (go build ./cmd/ws ./cmd/ws-sops builds both); or set " + EnvHelper
}

// Helper finds ws-sops: $WS_SOPS_HELPER, beside ws, else on PATH.
func Helper() (string, error) {
	if p := os.Getenv(EnvHelper); p != "" {
		return p, nil
	}
	if self, err := os.Executable(); err == nil {
		if real, err := filepath.EvalSymlinks(self); err == nil {
			self = real
		}
		p := filepath.Join(filepath.Dir(self), HelperName)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	p, err := exec.LookPath(HelperName)
	if err != nil {
		return "", &HelperError{Err: fmt.Errorf("%s is neither beside ws nor on PATH", HelperName)}
	}
	return p, nil
}

func ask(req Request) (*Response, error) {
	helper, err := Helper()
	if err != nil {
		return nil, err
	}
	in, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(helper)
	cmd.Stdin = bytes.NewReader(in)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = os.Stderr // gpg and pinentry talk to the user there
	if err := cmd.Run(); err != nil {
		return nil, &HelperError{Err: fmt.Errorf("%s: %w", helper, err)}
	}
	var res Response
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		return nil, &HelperError{Err: fmt.Errorf("%s answered: %w", helper, err)}
	}
	wipe(out.Bytes())
	if res.Error != nil {
		return nil, res.Error
	}
	return &res, nil
}

// wipe overwrites the helper's answer once it is decoded: it held the
// plaintext, which now lives only in the Decrypted values.
func wipe(b []byte) {
	for i := range b {
		b[i] = 0
	}
}
