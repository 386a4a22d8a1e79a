package app

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ws-tools/ws/launcher"
	"github.com/ws-tools/ws/launcher/gpgrelay"
)

// relayDir is the host directory of the workspace's GPG relay socket. A
// kept workspace's is named by its plan key, so each later run serves its
// relay where the running container already looks; a fresh run's is its
// own. It lives in XDG_RUNTIME_DIR (memory, the caller's only) when there
// is one.
func relayDir(e *Env, p launcher.Plan) (string, error) {
	name := ""
	if p.Keep && len(p.Key) >= 16 {
		name = p.Key[:16]
	} else {
		var b [8]byte
		rand.Read(b[:]) //nolint:errcheck // crypto/rand does not fail
		name = hex.EncodeToString(b[:])
	}
	base := e.Getenv("XDG_RUNTIME_DIR")
	// A unix socket's path has at most 107 bytes.
	if base == "" || len(filepath.Join(base, "ws-agent", name, gpgrelay.SocketName)) > 100 {
		base = filepath.Join(os.TempDir(), fmt.Sprintf("ws-%d", e.Caller.UID))
	}
	parent := filepath.Join(base, "ws-agent")
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return "", fmt.Errorf("GPG relay: %w", err)
	}
	return filepath.Join(parent, name), nil
}

// relayState is what a kept workspace's later runs need to serve its relay
// again without asking gpg or decrypting: the agent's socket and the
// policy. Keygrips and a fingerprint; nothing secret.
type relayState struct {
	AgentSocket string
	Policy      gpgrelay.Policy
	Signer      string
}

const relayStateFile = "relay.json"

// startRelay serves the forwarded agent's relay for this run: on a socket
// mounted into the workspace, or (a remote engine) for the launcher to
// reach over an exec stream.
func startRelay(e *Env, p launcher.Plan, fwd *launcher.GPGForward) (*gpgrelay.Relay, error) {
	dir, err := relayDir(e, p)
	if err != nil {
		return nil, err
	}
	var r *gpgrelay.Relay
	if p.GPG.Stream {
		if p.Keep { // for relay.json
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return nil, fmt.Errorf("GPG relay: %w", err)
			}
		}
		r = gpgrelay.NewStream(fwd.AgentSocket, fwd.Policy, e.Log)
	} else if r, err = fwd.StartRelay(dir, e.Log); err != nil {
		return nil, err
	}
	if p.Keep {
		b, _ := json.Marshal(relayState{AgentSocket: fwd.AgentSocket, Policy: fwd.Policy, Signer: fwd.Signer})
		if err := os.WriteFile(filepath.Join(dir, relayStateFile), b, 0o600); err != nil {
			r.Close()
			return nil, fmt.Errorf("GPG relay: %w", err)
		}
	}
	return r, nil
}

// restartKeptRelay serves the relay of a kept workspace that was started
// with one, for a run that execs into it; nil when it has none.
func restartKeptRelay(e *Env, p launcher.Plan) *gpgrelay.Relay {
	if !p.Keep || !p.GPG.Forward {
		return nil
	}
	dir, err := relayDir(e, p)
	if err != nil {
		return nil
	}
	b, err := os.ReadFile(filepath.Join(dir, relayStateFile))
	if err != nil {
		return nil
	}
	var st relayState
	if json.Unmarshal(b, &st) != nil {
		return nil
	}
	if p.GPG.Stream {
		return gpgrelay.NewStream(st.AgentSocket, st.Policy, e.Log)
	}
	fwd := &launcher.GPGForward{AgentSocket: st.AgentSocket, Policy: st.Policy, Signer: st.Signer}
	r, err := fwd.StartRelay(dir, e.Log)
	if err != nil {
		// Another ws serves it (a second command in the same workspace):
		// this run's commands use that relay while it lasts.
		e.Log.Debug("GPG relay not started", "err", err)
		return nil
	}
	return r
}

// closeRelay stops the relay and says what it blocked. A fresh run's
// directory goes with it; a kept workspace's stays for the next run.
func closeRelay(e *Env, r *gpgrelay.Relay, kept bool) {
	if r == nil {
		return
	}
	r.Close()
	if !kept && r.Dir() != "" {
		os.Remove(r.Dir())
	}
	if s := r.Summary(); s != "" {
		fmt.Fprintf(e.Stderr, "ws: %s\n", s)
	}
}

// streamed is the relay the launcher must reach over an exec stream: the
// run's relay when the engine is not on this host, else none.
func streamed(p launcher.Plan, r *gpgrelay.Relay) *gpgrelay.Relay {
	if p.GPG.Stream {
		return r
	}
	return nil
}
