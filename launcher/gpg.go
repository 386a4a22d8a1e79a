package launcher

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
)

// GPGHome is GNUPGHOME in the container: on the secrets tmpfs.
const GPGHome = SecretsDir + "/gnupg"

// GPGForward is what forwarding the caller's agent needs: the host's
// restricted ("extra") agent socket and the public keys to put beside it.
type GPGForward struct {
	Socket     string
	PublicKeys []byte
}

// NoForwardError says why the agent is not forwarded; ws carries on.
type NoForwardError struct{ Why string }

func (e *NoForwardError) Error() string { return "GPG agent not forwarded: " + e.Why }

// PrepareGPG finds the host agent's extra socket (starting the agent if
// needed) and exports the public keys of fingerprints, checking with
// go-crypto that the export holds no secret key material. dockerHost is
// DOCKER_HOST: a socket can only be mounted from the daemon's own host.
func PrepareGPG(ctx context.Context, dockerHost string, fingerprints []string) (*GPGForward, error) {
	if local, why := DaemonOnThisHost(dockerHost); !local {
		return nil, &NoForwardError{why}
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
	f := &GPGForward{Socket: socket}
	if len(fingerprints) > 0 {
		keys, err := exec.CommandContext(ctx, "gpg", append([]string{"--batch", "--export"}, fingerprints...)...).Output()
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
	}
}
