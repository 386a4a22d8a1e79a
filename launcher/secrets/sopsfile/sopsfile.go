// Package sopsfile decrypts the workspace's sops-encrypted credentials with
// sops' own library, in memory, and says in one line why it cannot. It is
// linked into the ws-sops helper only (cmd/ws-sops): sops brings every
// cloud KMS SDK, whose start-up cost ws must not pay on runs that decrypt
// nothing. It never writes plaintext anywhere.
package sopsfile

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/getsops/sops/v3"
	"github.com/getsops/sops/v3/aes"
	"github.com/getsops/sops/v3/cmd/sops/common"
	"github.com/getsops/sops/v3/cmd/sops/formats"
	"github.com/getsops/sops/v3/config"
	"github.com/getsops/sops/v3/hcvault"

	"github.com/ws-tools/ws/launcher"
	"github.com/ws-tools/ws/launcher/hostkeys"
)

// Error is a credential that cannot be decrypted; its message is one line.
type Error struct {
	File string
	Msg  string
	hint string
	// cause is sops' own error chain, for --debug: its "secring.gpg" half
	// is noise, so it stays out of the message.
	cause error
}

// Unwrap gives sops' error.
func (e *Error) Unwrap() error { return e.cause }

func (e *Error) Error() string { return e.File + ": " + e.Msg }

// Hint says what to do about it.
func (e *Error) Hint() string { return e.hint }

// Decrypt decrypts every secret's file under root that exists (an optional
// one that does not is skipped), stopping at the first failure. pgp lists
// the PGP fingerprints the files are encrypted to, once each: the
// workspace's gpg needs their public keys to edit the files with sops.
func Decrypt(root string, specs []launcher.Secret) (out []launcher.Decrypted, pgp []string, err error) {
	guardVault()
	for _, s := range specs {
		data, err := readInside(root, s.File)
		var oe *outsideError
		if errors.As(err, &oe) {
			return nil, nil, &Error{File: s.File, Msg: oe.why,
				hint: "a secret must be a regular file inside the repository; copy it in (encrypted) instead of linking"}
		}
		if errors.Is(err, os.ErrNotExist) {
			if s.Optional {
				continue
			}
			return nil, nil, &Error{File: s.File, Msg: "no such file, but tools.lock lists it under workspace secrets",
				hint: "add the file (encrypted with sops), or fix the workspace secrets list in tools.lock"}
		}
		if err != nil {
			return nil, nil, &Error{File: s.File, Msg: "cannot read it: " + err.Error(),
				hint: "check the file's permissions"}
		}
		plain, recipients, err := decrypt(s.File, data)
		if err != nil {
			return nil, nil, err
		}
		sum := sha256.Sum256(data)
		out = append(out, launcher.Decrypted{Secret: s, Plain: plain, CipherSum: hex.EncodeToString(sum[:])})
		for _, fp := range recipients {
			if !slices.Contains(pgp, fp) {
				pgp = append(pgp, fp)
			}
		}
	}
	return out, pgp, nil
}

// PGPRecipients are the PGP fingerprints the specs' files are encrypted
// to, read from their sops metadata without decrypting; files that are
// missing or not sops are left out (Decrypt reports them).
func PGPRecipients(root string, specs []launcher.Secret) []string {
	var fps []string
	for _, s := range specs {
		data, err := readInside(root, s.File)
		if err != nil {
			continue
		}
		tree, err := yamlStore().LoadEncryptedFile(data)
		if err != nil {
			continue
		}
		for _, fp := range pgpOf(tree.Metadata) {
			if !slices.Contains(fps, fp) {
				fps = append(fps, fp)
			}
		}
	}
	return fps
}

// guardVault keeps sops from sending the user's VAULT_TOKEN to whatever
// vault_address a repository's file names (sops allows every address by
// default): unless the user chose an allowlist, ws allows none.
func guardVault() {
	if _, ok := os.LookupEnv(hcvault.SopsHCVaultAllowlist); !ok {
		os.Setenv(hcvault.SopsHCVaultAllowlist, hcvault.AllowlistNoHosts) //nolint:errcheck // cannot fail for a valid name
	}
}

// outsideError is a secret path that is a link or leaves the repository.
type outsideError struct{ why string }

func (e *outsideError) Error() string { return e.why }

// readInside reads root/rel only if it is a regular file inside root, with
// no symbolic link on the way: a repository must not make ws decrypt (and
// deliver) a file from elsewhere on the host.
func readInside(root, rel string) ([]byte, error) {
	if filepath.IsAbs(rel) || strings.Contains("/"+filepath.ToSlash(rel)+"/", "/../") {
		return nil, &outsideError{"the path leaves the repository"}
	}
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return nil, err
	}
	p := realRoot
	for _, part := range strings.Split(filepath.Clean(rel), string(filepath.Separator)) {
		p = filepath.Join(p, part)
		st, err := os.Lstat(p)
		if err != nil {
			return nil, err
		}
		if st.Mode()&os.ModeSymlink != 0 {
			return nil, &outsideError{"it is a symbolic link (" + strings.TrimPrefix(p, realRoot+"/") + "); ws decrypts only regular files inside the repository"}
		}
	}
	if st, err := os.Lstat(p); err != nil || !st.Mode().IsRegular() {
		return nil, &outsideError{"not a regular file"}
	}
	return os.ReadFile(p)
}

func yamlStore() common.Store { return common.StoreForFormat(formats.Yaml, config.NewStoresConfig()) }

func pgpOf(md sops.Metadata) []string {
	var pgp []string
	for _, group := range md.KeyGroups {
		for _, k := range group {
			if k.TypeToIdentifier() == "pgp" {
				pgp = append(pgp, k.ToString())
			}
		}
	}
	return pgp
}

// decrypt is sops' decrypt.Data with the format forced to YAML (these files
// have no suffix to detect it by), split up so each failure can say what
// went wrong in one line instead of sops' error chain.
func decrypt(name string, data []byte) (plain []byte, pgp []string, err error) {
	store := yamlStore()
	tree, err := store.LoadEncryptedFile(data)
	if errors.Is(err, sops.MetadataNotFound) {
		return nil, nil, &Error{File: name, Msg: "not encrypted with sops (no sops metadata)",
			hint: "encrypt it: sops --encrypt --in-place " + name + " (never commit credentials in plaintext)"}
	}
	if err != nil {
		return nil, nil, &Error{File: name, Msg: "not a sops YAML file: " + firstLine(err.Error()),
			hint: "check the file with sops --decrypt " + name}
	}
	pgp = pgpOf(tree.Metadata)
	key, err := tree.Metadata.GetDataKey()
	if err != nil {
		return nil, nil, keyError(name, tree.Metadata, err)
	}
	cipher := aes.NewCipher()
	mac, err := tree.Decrypt(key, cipher)
	if err != nil {
		return nil, nil, &Error{File: name, Msg: "cannot decrypt its values: " + firstLine(err.Error()),
			hint: "the file is damaged; restore it from git"}
	}
	stored, err := cipher.Decrypt(tree.Metadata.MessageAuthenticationCode, key, tree.Metadata.LastModified.Format(time.RFC3339))
	if err != nil || stored != mac {
		return nil, nil, &Error{File: name, Msg: "MAC mismatch: the file was changed outside sops",
			hint: "restore it from git, or re-encrypt it with sops after checking the change"}
	}
	plain, err = store.EmitPlainFile(tree.Branches)
	return plain, pgp, err
}

// keyError says which recipients the file has and what the host lacks.
func keyError(name string, md sops.Metadata, err error) error {
	var pgp, age, other []string
	for _, group := range md.KeyGroups {
		for _, k := range group {
			switch k.TypeToIdentifier() {
			case "pgp":
				pgp = append(pgp, k.ToString())
			case "age":
				age = append(age, k.ToString())
			default:
				other = append(other, k.TypeToIdentifier()+" "+k.ToString())
			}
		}
	}
	// Say what exactly this host lacks for each kind of recipient, when
	// that can be found out without decrypting; else a general hint.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var recipients, reasons, hints []string
	for i := range pgp {
		pgp[i] = launcher.Printable(pgp[i])
	}
	for i := range age {
		age[i] = launcher.Printable(age[i])
	}
	for i := range other {
		other[i] = launcher.Printable(other[i])
	}
	if len(pgp) > 0 {
		recipients = append(recipients, "pgp "+strings.Join(pgp, ", "))
		if p := hostkeys.PGP(ctx, pgp); p != nil {
			reasons = append(reasons, "pgp: "+p.Msg)
			hints = append(hints, "for pgp: "+p.Fix)
		} else {
			hints = append(hints, "for pgp: a running gpg-agent with the secret key of "+pgp[0]+" (gpg --list-secret-keys "+pgp[0]+")")
		}
	}
	if len(age) > 0 {
		recipients = append(recipients, "age "+strings.Join(age, ", "))
		if p := hostkeys.Age(age); p != nil {
			reasons = append(reasons, "age: "+p.Msg)
			hints = append(hints, "for age: "+p.Fix)
		} else {
			hints = append(hints, "for age: set SOPS_AGE_KEY_FILE or SOPS_AGE_KEY to the identity of "+age[0])
		}
	}
	recipients = append(recipients, other...)
	if len(other) > 0 {
		if strings.HasPrefix(other[0], hcvault.KeyTypeIdentifier) && os.Getenv(hcvault.SopsHCVaultAllowlist) == hcvault.AllowlistNoHosts {
			hints = append(hints, "for HashiCorp Vault: ws sends your Vault token to no address a repository names; set "+hcvault.SopsHCVaultAllowlist+" to your Vault's address to allow it")
		} else {
			hints = append(hints, "for cloud KMS: credentials for "+other[0])
		}
	}
	msg := "no key on this host decrypts it (recipients: " + strings.Join(recipients, "; ") + ")"
	if len(reasons) > 0 {
		msg = "this host cannot decrypt it (recipients: " + strings.Join(recipients, "; ") + "): " + strings.Join(reasons, "; ")
	}
	return &Error{File: name, Msg: msg, hint: strings.Join(hints, "; "), cause: err}
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}
