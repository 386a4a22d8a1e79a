// Package hostkeys says whether this host holds what decrypts a sops file
// for its recipients, and if not, what exactly is missing: the gpg-agent, a
// secret key, a way for pinentry to ask for a passphrase, an age identity.
// It only looks (gpg --list-secret-keys, the agent's KEYINFO, the age key
// files); it never decrypts and never asks for a passphrase.
package hostkeys

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"filippo.io/age"
)

// Problem is what this host lacks, in one line, and what to do about it.
type Problem struct {
	Msg string
	Fix string
}

func (p *Problem) Error() string { return p.Msg }

// Hint says what to do about it.
func (p *Problem) Hint() string { return p.Fix }

// PGP checks that a gpg-agent runs and holds the secret key of one of the
// recipients (fingerprints, as sops records them), and that using it will
// not need a pinentry that cannot show. nil means gpg should decrypt.
func PGP(ctx context.Context, fingerprints []string) *Problem {
	if fingerprints = fingerprintsOnly(fingerprints); len(fingerprints) == 0 {
		return &Problem{"no recipient is a valid OpenPGP fingerprint (40 or 64 hex digits)", "re-encrypt the file with sops to real recipients"}
	}
	if _, err := exec.LookPath("gpg"); err != nil {
		return &Problem{"gpg is not installed on this host", "install GnuPG (apt install gnupg; brew install gnupg)"}
	}
	noKey := &Problem{"no secret key of a recipient is in this host's keyring (" + homedir(ctx) + ")",
		"import the secret key of " + fingerprints[0] + " (gpg --import), or have a recipient add yours with sops updatekeys"}
	// Without even the public key gpg fails before it asks the agent.
	if !anyPublicKey(ctx, fingerprints) {
		return noKey
	}
	if !agentRunning(ctx) {
		return &Problem{"the gpg-agent is not running", "start it: gpgconf --launch gpg-agent"}
	}
	keys := secretKeys(ctx, fingerprints)
	if len(keys) == 0 {
		return noKey
	}
	if _, err := passphraseNeeded(ctx, keys); err != nil {
		return err
	}
	return nil
}

func anyPublicKey(ctx context.Context, fingerprints []string) bool {
	for _, fp := range fingerprints {
		if exec.CommandContext(ctx, "gpg", "--batch", "--list-keys", "--", fp).Run() == nil {
			return true
		}
	}
	return false
}

// agentRunning asks the agent for its version without starting one
// (gpg-connect-agent exits 0 either way; only the agent answers OK).
func agentRunning(ctx context.Context) bool {
	out, _ := exec.CommandContext(ctx, "gpg-connect-agent", "--no-autostart", "GETINFO version", "/bye").Output()
	return bytes.Contains(out, []byte("OK"))
}

// Pinentry says whether decrypting for the recipients will ask for a
// passphrase, and if so, whether and where pinentry can show.
func Pinentry(ctx context.Context, fingerprints []string) (string, *Problem) {
	keys := secretKeys(ctx, fingerprintsOnly(fingerprints))
	if len(keys) == 0 {
		return "not needed: no secret key of a recipient here", nil
	}
	fp, err := passphraseNeeded(ctx, keys)
	switch {
	case err != nil:
		return "", err
	case fp == "":
		return "not needed: the key has no passphrase, or the agent has it cached", nil
	default:
		return fmt.Sprintf("asks for the passphrase of %s with %s on %s", fp, pinentryProgram(ctx), pinentryScreen()), nil
	}
}

// secretKey is a recipient whose secret key the keyring has, with the
// keygrips of its encryption (sub)keys.
type secretKey struct {
	fingerprint string
	grips       []string
}

func secretKeys(ctx context.Context, fingerprints []string) []secretKey {
	var keys []secretKey
	for _, fp := range fingerprints {
		out, err := exec.CommandContext(ctx, "gpg", "--batch", "--with-colons", "--with-keygrip", "--list-secret-keys", "--", fp).Output()
		if err != nil {
			continue
		}
		k := secretKey{fingerprint: fp}
		encrypts := false
		for _, line := range strings.Split(string(out), "\n") {
			f := strings.Split(line, ":")
			switch {
			case (f[0] == "sec" || f[0] == "ssb") && len(f) > 11:
				encrypts = strings.Contains(f[11], "e") // this key's own capabilities
			case f[0] == "grp" && len(f) > 9 && encrypts:
				k.grips = append(k.grips, f[9])
			}
		}
		keys = append(keys, k)
	}
	return keys
}

// passphraseNeeded names the recipient whose passphrase pinentry will ask
// for ("" when one key is unprotected or cached), or says that pinentry
// has nowhere to ask.
func passphraseNeeded(ctx context.Context, keys []secretKey) (string, *Problem) {
	info := keyInfo(ctx)
	for _, k := range keys {
		for _, g := range k.grips {
			if st, ok := info[g]; ok && (st.protection == "C" || st.cached) {
				return "", nil
			}
		}
	}
	fp := keys[0].fingerprint
	if program := pinentryProgram(ctx); program != "" {
		if _, err := os.Stat(program); err != nil {
			return "", &Problem{"the secret key of " + fp + " needs its passphrase and the agent's pinentry (" + program + ") is missing",
				"install one (apt install pinentry-curses), or set pinentry-program in gpg-agent.conf"}
		}
	}
	if pinentryScreen() == "" {
		return "", &Problem{"the secret key of " + fp + " needs its passphrase and pinentry has nowhere to ask (no terminal, GPG_TTY unset, no display)",
			"run ws from a terminal or export GPG_TTY=$(tty); or unlock the key once from a terminal (sops --decrypt the file)"}
	}
	return fp, nil
}

type keyState struct {
	protection string // P protected, C clear, - unknown
	cached     bool
}

// keyInfo is the agent's view of its keys: "S KEYINFO GRIP TYPE SERIALNO
// IDSTR CACHED PROTECTION …".
func keyInfo(ctx context.Context) map[string]keyState {
	out, _ := exec.CommandContext(ctx, "gpg-connect-agent", "--no-autostart", "KEYINFO --list", "/bye").Output()
	info := map[string]keyState{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 8 && f[0] == "S" && f[1] == "KEYINFO" {
			info[f[2]] = keyState{protection: f[7], cached: f[6] == "1"}
		}
	}
	return info
}

// pinentryProgram is the agent's pinentry: gpg-agent.conf's, else the
// one gpgconf names.
func pinentryProgram(ctx context.Context) string {
	if conf, err := os.ReadFile(filepath.Join(homedir(ctx), "gpg-agent.conf")); err == nil {
		for _, line := range strings.Split(string(conf), "\n") {
			if f := strings.Fields(line); len(f) == 2 && f[0] == "pinentry-program" {
				return f[1]
			}
		}
	}
	out, _ := exec.CommandContext(ctx, "gpgconf", "--list-components").Output()
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Split(line, ":"); len(f) >= 3 && f[0] == "pinentry" {
			return f[2]
		}
	}
	return ""
}

// pinentryScreen is where a pinentry started for sops' gpg can show: gpg
// gives the agent GPG_TTY (sops gives gpg no terminal of its own) or the
// display.
func pinentryScreen() string {
	for _, v := range []string{"GPG_TTY", "WAYLAND_DISPLAY", "DISPLAY"} {
		if s := os.Getenv(v); s != "" {
			return s
		}
	}
	if runtime.GOOS == "darwin" {
		return "the macOS desktop" // pinentry-mac needs neither
	}
	return ""
}

func homedir(ctx context.Context) string {
	out, err := exec.CommandContext(ctx, "gpgconf", "--list-dirs", "homedir").Output()
	if err != nil {
		return "~/.gnupg"
	}
	return strings.TrimSpace(string(out))
}

// Age checks that an age identity for one of the recipients is at hand
// where sops looks: SOPS_AGE_KEY, SOPS_AGE_KEY_FILE, else the default
// keys.txt. nil means sops should decrypt.
func Age(recipients []string) *Problem {
	if os.Getenv("SOPS_AGE_KEY_CMD") != "" || os.Getenv("SOPS_AGE_SSH_PRIVATE_KEY_FILE") != "" {
		return nil // identities this package cannot see into
	}
	var sources []string
	var identities []age.Identity
	if inline := os.Getenv("SOPS_AGE_KEY"); inline != "" {
		sources = append(sources, "SOPS_AGE_KEY")
		if ids, err := age.ParseIdentities(strings.NewReader(inline)); err == nil {
			identities = append(identities, ids...)
		}
	}
	file := os.Getenv("SOPS_AGE_KEY_FILE")
	if file == "" {
		file = defaultAgeKeys()
	}
	if data, err := os.ReadFile(file); err == nil {
		sources = append(sources, file)
		if ids, err := age.ParseIdentities(bytes.NewReader(data)); err == nil {
			identities = append(identities, ids...)
		}
	} else if os.Getenv("SOPS_AGE_KEY_FILE") != "" {
		return &Problem{"SOPS_AGE_KEY_FILE (" + file + ") cannot be read", "point SOPS_AGE_KEY_FILE at your age identity file"}
	}
	if len(sources) == 0 {
		return &Problem{"no age identity: SOPS_AGE_KEY and SOPS_AGE_KEY_FILE are unset and " + file + " does not exist",
			"set SOPS_AGE_KEY_FILE to the identity of " + recipients[0]}
	}
	for _, id := range identities {
		x, ok := id.(*age.X25519Identity)
		if !ok {
			return nil // a plugin or post-quantum identity: sops may know better
		}
		for _, r := range recipients {
			if x.Recipient().String() == r {
				return nil
			}
		}
	}
	if len(identities) == 0 {
		return nil // unparsable here; sops' own error stands
	}
	return &Problem{"no age identity in " + strings.Join(sources, ", ") + " is a recipient",
		"use the identity of " + recipients[0] + ", or have a recipient add yours with sops updatekeys"}
}

// defaultAgeKeys is where sops looks when SOPS_AGE_KEY_FILE is unset.
func defaultAgeKeys() string {
	dir := os.Getenv("XDG_CONFIG_HOME")
	if dir == "" {
		if runtime.GOOS == "darwin" {
			home, _ := os.UserHomeDir()
			return filepath.Join(home, "Library", "Application Support", "sops", "age", "keys.txt")
		}
		home, _ := os.UserHomeDir()
		dir = filepath.Join(home, ".config")
	}
	return filepath.Join(dir, "sops", "age", "keys.txt")
}

// IsFingerprint reports whether s is an OpenPGP fingerprint: 40 (v4) or
// 64 (v5, v6) hex digits. Anything else from a sops file never reaches gpg.
func IsFingerprint(s string) bool {
	if len(s) != 40 && len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// fingerprintsOnly keeps the real fingerprints: a sops file is the
// repository's, and what it calls a fingerprint ("--homedir=…") must never
// reach gpg's command line, where it would be an option.
func fingerprintsOnly(fps []string) []string {
	var out []string
	for _, fp := range fps {
		if IsFingerprint(fp) {
			out = append(out, fp)
		}
	}
	return out
}

// DecryptionKeygrips are the keygrips of the recipients' encryption keys
// (fingerprints, as sops records them), from their public keys in this
// host's keyring: what the GPG relay lets the workspace decrypt with.
func DecryptionKeygrips(ctx context.Context, fingerprints []string) []string {
	if fingerprints = fingerprintsOnly(fingerprints); len(fingerprints) == 0 {
		return nil
	}
	out, _ := exec.CommandContext(ctx, "gpg", append([]string{"--batch", "--with-colons", "--with-keygrip", "--list-keys", "--"}, fingerprints...)...).Output()
	grips, _ := keygrips(out, "pub", "sub", 'e')
	return grips
}

// SigningKey finds the secret key git signs with (user.signingkey: a key
// ID, fingerprint or user ID) in this host's keyring: its primary
// fingerprint and the keygrips that can sign.
func SigningKey(ctx context.Context, spec string) (fingerprint string, grips []string, err error) {
	out, err := exec.CommandContext(ctx, "gpg", "--batch", "--with-colons", "--with-keygrip", "--list-secret-keys", "--", spec).Output()
	if err != nil {
		return "", nil, fmt.Errorf("no secret key for %q in this host's keyring", spec)
	}
	grips, fingerprint = keygrips(out, "sec", "ssb", 's')
	if len(grips) == 0 {
		return "", nil, fmt.Errorf("the key %q cannot sign", spec)
	}
	return fingerprint, grips, nil
}

// keygrips reads gpg --with-colons --with-keygrip output: the keygrips of
// the primary and sub keys (records primary and sub) that have the
// capability, and the first primary key's fingerprint.
func keygrips(out []byte, primary, sub string, capability byte) (grips []string, fingerprint string) {
	can := false
	record := "" // the key record the fpr and grp lines that follow belong to
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Split(line, ":")
		switch {
		case (f[0] == primary || f[0] == sub) && len(f) > 11:
			// Field 12 holds this key's own capabilities in lower case.
			can = strings.IndexByte(f[11], capability) >= 0
			record = f[0]
		case f[0] == "fpr" && len(f) > 9 && record == primary && fingerprint == "":
			fingerprint = f[9]
		case f[0] == "grp" && len(f) > 9 && can && IsKeygrip(f[9]):
			grips = append(grips, f[9])
		}
	}
	return grips, fingerprint
}

// IsKeygrip reports whether s is a keygrip: 40 hex digits.
func IsKeygrip(s string) bool {
	if len(s) != 40 {
		return false
	}
	for _, r := range s {
		if !strings.ContainsRune("0123456789abcdefABCDEF", r) {
			return false
		}
	}
	return true
}
