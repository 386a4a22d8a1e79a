package launcher

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/ws-tools/ws/entrypoint"
	"github.com/ws-tools/ws/launcher/gpgrelay"
	"github.com/ws-tools/ws/launcher/hostkeys"
)

// GPGForward is what forwarding the caller's agent needs: the host's
// restricted ("extra") agent socket, what ws's relay in front of it lets
// through, and the public keys to put in the workspace's GPG home.
type GPGForward struct {
	// AgentSocket is the host agent's extra socket, the relay's upstream.
	AgentSocket string
	// RelayDir is the host directory of the relay's socket, mounted at
	// entrypoint.AgentDir; set by StartRelay.
	RelayDir string
	Policy   gpgrelay.Policy
	// Signer is the fingerprint of the key signing is allowed with ("" for
	// none), for messages.
	Signer     string
	PublicKeys []byte
}

// NoForwardError says why the agent is not forwarded; ws carries on.
type NoForwardError struct{ Why string }

func (e *NoForwardError) Error() string { return "GPG agent not forwarded: " + e.Why }

// PrepareGPG finds the host agent's extra socket (starting the agent if
// needed) and exports the public keys of fingerprints, checking with
// go-crypto that the export holds no secret key material. The plan says
// whether forwarding is possible at all (a socket can only be mounted from
// the engine's own host).
//
// With plan.Sign, the key git signs with in root (user.signingkey) may sign
// too, and its public key is exported beside the recipients'.
func PrepareGPG(ctx context.Context, plan GPGPlan, root string, fingerprints []string) (*GPGForward, error) {
	if !plan.Forward {
		return nil, &NoForwardError{plan.Why}
	}
	if _, err := exec.LookPath("gpgconf"); err != nil {
		return nil, &NoForwardError{"gpg is not installed on this host"}
	}
	out, err := exec.CommandContext(ctx, "gpgconf", "--list-dirs", "agent-extra-socket").Output()
	if err != nil {
		return nil, &NoForwardError{"gpgconf --list-dirs failed: " + err.Error()}
	}
	socket := strings.TrimSpace(string(out))
	if !isSocket(socket) {
		// Start the agent, as gpg would on the host; it then stays for pinentry.
		exec.CommandContext(ctx, "gpgconf", "--launch", "gpg-agent").Run() //nolint:errcheck // the check below tells
		if !isSocket(socket) {
			return nil, &NoForwardError{"no agent listens on " + socket}
		}
	}
	f := &GPGForward{AgentSocket: socket}
	for _, fp := range fingerprints {
		if !hostkeys.IsFingerprint(fp) {
			return nil, &BadRecipientError{Recipient: Printable(fp)}
		}
	}
	f.Policy.Decrypt = hostkeys.DecryptionKeygrips(ctx, fingerprints)
	export := slices.Clone(fingerprints)
	if plan.Sign {
		signer, grips, err := signingKey(ctx, root)
		if err != nil {
			return nil, err
		}
		f.Signer, f.Policy.Sign = signer, grips
		export = append(export, signer)
	}
	if len(export) > 0 {
		// "--" ends gpg's options: a fingerprint from a sops file can
		// never become one.
		keys, err := exec.CommandContext(ctx, "gpg", append([]string{"--batch", "--export", "--"}, export...)...).Output()
		if err != nil {
			return nil, fmt.Errorf("export the recipients' public keys: %w", err)
		}
		if err := publicOnly(keys); err != nil {
			return nil, err
		}
		f.PublicKeys = keys
	}
	return f, nil
}

// signingKey is the key git in root signs with: user.signingkey as git
// reads it there (the repository's config, then the user's).
func signingKey(ctx context.Context, root string) (string, []string, error) {
	out, err := exec.CommandContext(ctx, "git", "-C", root, "config", "--get", "user.signingkey").Output()
	spec := strings.TrimSpace(string(out))
	if err != nil || spec == "" {
		return "", nil, &SigningKeyError{Why: "git has no user.signingkey here"}
	}
	fp, grips, err := hostkeys.SigningKey(ctx, spec)
	if err != nil {
		return "", nil, &SigningKeyError{Why: Printable(err.Error())}
	}
	return fp, grips, nil
}

// SigningKeyError is --gpg-sign without a key to sign with.
type SigningKeyError struct{ Why string }

func (e *SigningKeyError) Error() string {
	return "signing through the GPG relay (--gpg-sign, workspace gpg_sign): " + e.Why
}

// Hint says what to do about it.
func (e *SigningKeyError) Hint() string {
	return "set the key git signs with: git config user.signingkey FINGERPRINT (its secret key in your gpg-agent), or drop --gpg-sign / gpg_sign"
}

// StartRelay serves the workspace's agent socket in dir (made 0700 if
// missing) until the relay is closed.
func (g *GPGForward) StartRelay(dir string, log *slog.Logger) (*gpgrelay.Relay, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("GPG relay: %w", err)
	}
	r, err := gpgrelay.Start(dir, g.AgentSocket, g.Policy, log)
	if err != nil {
		return nil, err
	}
	g.RelayDir = dir
	return r, nil
}

func isSocket(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode()&os.ModeSocket != 0
}

// publicOnly refuses an export that carries any private key packet.
func publicOnly(keys []byte) error {
	if len(keys) == 0 {
		return nil
	}
	ring, err := openpgp.ReadKeyRing(bytes.NewReader(keys))
	if err != nil {
		return fmt.Errorf("read the exported public keys: %w", err)
	}
	for _, e := range ring {
		if e.PrivateKey != nil {
			return errors.New("the key export holds secret key material; refusing to put it in the workspace")
		}
		for _, sk := range e.Subkeys {
			if sk.PrivateKey != nil {
				return errors.New("the key export holds secret key material; refusing to put it in the workspace")
			}
		}
	}
	return nil
}

// Files are the GPG home for the container: public keys as pubring.gpg
// (GnuPG reads a keyring of exported packets there) and no-autostart, so
// gpg uses the forwarded agent or fails, never an empty agent of its own.
func (g *GPGForward) Files() []File {
	return []File{
		{Name: "gnupg", Dir: true},
		{Name: "gnupg/gpg.conf", Data: []byte("no-autostart\n")},
		{Name: "gnupg/pubring.gpg", Data: g.PublicKeys},
		{Name: "gnupg/S.gpg-agent", Link: entrypoint.AgentDir + "/" + gpgrelay.SocketName},
	}
}

// Printable strips control characters (terminal escapes) from text read
// from a repository before it is shown.
func Printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return -1
		}
		return r
	}, s)
}

// BadRecipientError is a sops file naming a PGP recipient that is not a
// fingerprint: it never reaches gpg's command line, where it could be an
// option ("--homedir=…").
type BadRecipientError struct{ Recipient string }

func (e *BadRecipientError) Error() string {
	return fmt.Sprintf("a secret names the PGP recipient %q, which is not a fingerprint (40 or 64 hex digits); ws does not pass it to gpg", e.Recipient)
}

// Hint says what to do about it.
func (e *BadRecipientError) Hint() string {
	return "re-encrypt the file with sops to real recipients (sops updatekeys), or run with --no-gpg"
}
