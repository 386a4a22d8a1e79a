package launcher

import (
	"time"

	"github.com/ws-tools/ws/entrypoint"
)

// Plan is everything about one workspace run, as plain values: which
// image, as whom, with which mounts, env, network, terminal and secrets.
// cmd/plan makes it from the lock, the caller, the flags and the
// environment; the launcher turns it into a container and nothing else.
type Plan struct {
	// Image is the workspace image's tag.
	Image string
	// Root is the workspace root, mounted read-write at the same path.
	Root string
	// Dir is the working directory (the caller's, inside Root).
	Dir string
	// Argv is the command; empty means the user's login shell.
	Argv []string
	// TTY gives the process a terminal (ws enter; ws exec -t).
	TTY bool
	// Term is the caller's TERM, passed on with a terminal.
	Term string
	// User is who every process in the container runs as: the caller.
	User entrypoint.User
	// Hostname says in the prompt where the shell runs.
	Hostname string
	// Name prefixes the container's name (a random suffix follows).
	Name string
	// Env are the workspace's KEY=VALUE variables (the lock's, then -e);
	// the entrypoint's inputs and the secrets' variables come on top.
	Env []string
	// Mounts are bind mounts beyond the root (the lock's, then -v).
	Mounts []Mount
	// Network is the container's network mode ("" for Docker's default).
	Network string
	// ReadOnly makes the root file system read-only: /tmp becomes tmpfs.
	ReadOnly bool
	// Secrets are the credentials to decrypt and deliver into
	// entrypoint.SecretsDir before the command starts.
	Secrets []Secret
	// Delivery is how the files reach the container: entrypoint.DeliveryPipe
	// (a FIFO from this host) or entrypoint.DeliveryExec (any engine).
	Delivery string
	// GPG says whether the caller's agent is forwarded.
	GPG GPGPlan
	// Labels mark the container as ws's, this workspace's and this
	// process's (see RemoveStale).
	Labels map[string]string
	// Keep runs the command in a running workspace container (started by
	// the first run, stopped by itself after Idle with no command running)
	// instead of a container of its own.
	Keep bool
	Idle time.Duration
	// Key names everything a kept container was started with; a run whose
	// key differs (another lock, -e, secret, trust) gets a fresh one.
	Key string
}

// Mount is one host path in the container.
type Mount struct {
	Source, Target string
	ReadOnly       bool
	// MakeDir creates an empty source directory first if it is missing
	// (an empty .git/hooks, so the container cannot create one).
	MakeDir bool
}

// Secret is one credential of the workspace: a sops file in the
// repository, exposed as entrypoint.SecretsDir/<Name> with Env pointing at it.
type Secret struct {
	// Name is the file name under entrypoint.SecretsDir.
	Name string
	// File is the encrypted file, relative to the workspace root.
	File string
	// Env is the variable that points at the decrypted file.
	Env string
	// Optional secrets are skipped quietly when the file is missing (the
	// conventional kubeconfig and talosconfig).
	Optional bool
}

// Path is where the decrypted secret is in the container.
func (s Secret) Path() string { return entrypoint.SecretsDir + "/" + s.Name }

// GPGPlan is the agent forwarding of a run.
type GPGPlan struct {
	// Forward the host agent's restricted socket.
	Forward bool
	// Why not, when Forward is false.
	Why string
	// ByUser: the user turned it off (--no-gpg), so nothing is said about it.
	ByUser bool
	// Always forwards it even when no secret has PGP recipients (--gpg);
	// otherwise only a PGP-encrypted secret brings the agent in.
	Always bool
	// Sign lets the relay pass signing with the key git signs with
	// (--gpg-sign, workspace gpg_sign).
	Sign bool
	// Stream: the engine is not on this host, so the relay's socket cannot
	// be mounted; its far end runs in the workspace (entrypoint.AgentBridge)
	// and each connection travels over an Engine API exec stream.
	Stream bool
}

// Payload is what a run carries besides its plan, found out only at run
// time: the decrypted credentials and the agent socket. It lives in memory.
type Payload struct {
	// Secrets are the plan's secrets that were decrypted (a missing
	// optional one is left out), with their plaintext.
	Secrets []Decrypted
	// GPG is the forwarded agent, nil for none.
	GPG *GPGForward
}

// Decrypted is a secret's plaintext.
type Decrypted struct {
	Secret
	Plain []byte
	// CipherSum is the sha256 of the encrypted file: a re-encrypted secret
	// starts a fresh kept container.
	CipherSum string
}

// files are what must be in SecretsDir before the command starts.
func (p Payload) files() []File {
	var out []File
	for _, s := range p.Secrets {
		out = append(out, File{Name: s.Name, Data: s.Plain})
	}
	if p.GPG != nil {
		out = append(out, p.GPG.Files()...)
	}
	return out
}
