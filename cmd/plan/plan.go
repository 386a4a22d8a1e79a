// Package plan assembles one workspace run: it turns the lock, the caller,
// the flags and the environment (all passed in explicitly) into the
// launcher.Plan that ws exec, ws enter and ws doctor share. It reads no
// global state and talks to no daemon, so a plan can be asserted as a value.
package plan

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ws-tools/ws/entrypoint"
	"github.com/ws-tools/ws/images/definition"
	"github.com/ws-tools/ws/images/lock"
	"github.com/ws-tools/ws/launcher"
	"github.com/ws-tools/ws/launcher/engine"
)

// Caller is the host user who runs ws.
type Caller struct {
	UID, GID int
	// Name is from the user database, else $USER, else user<UID>.
	Name string
}

// Flags are the run's command-line choices.
type Flags struct {
	Env     []string // -e KEY=VALUE
	Volumes []string // -v SRC:DST[:ro]
	Network string
	NoGPG   bool
	// GPG forwards the agent even when no secret has PGP recipients.
	GPG      bool
	ReadOnly bool
	// GitWritable lets the container write .git/hooks and .git/config.
	GitWritable bool
	// GPGSign lets the workspace sign with git's user.signingkey.
	GPGSign bool
	// Fresh runs the command in a container of its own, removed after it.
	Fresh bool
}

// Input is everything a plan depends on.
type Input struct {
	Lock *lock.Lock
	// Root is the workspace root (the folder holding tools.lock).
	Root string
	// Dir is where ws was started.
	Dir      string
	Argv     []string
	TTY      bool
	Caller   Caller
	Flags    Flags
	Platform lock.Platform
	// GOOS is the host's operating system (runtime.GOOS).
	GOOS string
	// Getenv reads the caller's environment: HOME, TERM.
	Getenv func(string) string
	// EngineHost is the engine's address as resolved (engine.Resolve):
	// "" or unix:// is this host.
	EngineHost string
	// Verdict is the user's consent (CheckTrust): no plan without it.
	Verdict Verdict
}

// Make is the plan of one run.
func Make(in Input) (launcher.Plan, error) {
	if !in.Verdict.Trusted() {
		return launcher.Plan{}, &UntrustedError{Root: in.Root, Changes: in.Verdict.Changes()}
	}
	im, err := definition.New(in.Lock, in.Platform)
	if err != nil {
		return launcher.Plan{}, err
	}
	p := launcher.Plan{
		Image:    im.Tag(),
		Root:     in.Root,
		Dir:      workingDir(in.Dir, in.Root),
		Argv:     in.Argv,
		TTY:      in.TTY,
		User:     user(in.Caller),
		Hostname: Hostname(in.Root),
		Name:     "ws-" + sanitize(filepath.Base(in.Root), 40),
		Network:  in.Lock.Workspace.Network,
		ReadOnly: in.Flags.ReadOnly,
		Secrets:  Secrets(in.Lock),
		Labels:   launcher.Labels(in.Root),
	}
	if p.TTY {
		p.Term = in.Getenv("TERM")
	}
	if in.Flags.Network != "" {
		p.Network = in.Flags.Network
	}
	for _, kv := range in.Flags.Env {
		name, _, _ := strings.Cut(kv, "=")
		if entrypoint.IsReservedEnv(name) {
			return launcher.Plan{}, &ReservedEnvError{Name: name}
		}
	}
	p.Env = append(append([]string{}, in.Lock.Workspace.Env...), in.Flags.Env...)
	if hook := in.Getenv(entrypoint.EnvFail); hook != "" {
		// The caller's own test hook, never a repository's.
		p.Env = append(p.Env, entrypoint.EnvFail+"="+hook)
	}
	specs := append(expandMounts(in.Lock.Workspace.Mounts, in.Root, in.Getenv("HOME")), in.Flags.Volumes...)
	for _, spec := range specs {
		m, err := parseMount(spec)
		if err != nil {
			return launcher.Plan{}, err
		}
		p.Mounts = append(p.Mounts, m)
	}
	if !in.Flags.GitWritable && !in.Lock.Workspace.GitWritable {
		p.Mounts = append(p.Mounts, gitGuards(in.Root)...)
	}
	local, why := engine.OnThisHost(in.GOOS, in.EngineHost)
	p.Delivery = entrypoint.DeliveryExec
	if local {
		p.Delivery = entrypoint.DeliveryPipe
	}
	sign := in.Flags.GPGSign || in.Lock.Workspace.GPGSign
	switch {
	case in.Flags.NoGPG:
		p.GPG = launcher.GPGPlan{Why: "--no-gpg", ByUser: true}
	default:
		// A remote engine cannot mount the relay's socket (why says
		// which): the relay's far end runs in the workspace instead.
		p.GPG = launcher.GPGPlan{Forward: true, Always: in.Flags.GPG || sign, Sign: sign, Stream: !local}
		if !local {
			p.GPG.Why = why
		}
	}
	p.Keep = !in.Flags.Fresh && (in.Lock.Workspace.Keep == nil || *in.Lock.Workspace.Keep) && in.Getenv(EnvFresh) != "1"
	p.Idle = in.Lock.Workspace.Idle
	if p.Idle == 0 {
		p.Idle = DefaultIdle
	}
	p.Key = key(p, in.Verdict.Reach)
	return p, nil
}

// EnvFresh set to 1 is --fresh for every run (scripts that want nothing
// left running).
const EnvFresh = "WS_FRESH"

// DefaultIdle is how long a kept workspace waits for the next command.
const DefaultIdle = 15 * time.Minute

// key hashes what a kept container is started with: a run that differs
// in any of it must not reuse the container. The caller's directory,
// command and terminal are per command, so they are not in it.
func key(p launcher.Plan, reach lock.Reach) string {
	b, _ := json.Marshal(struct {
		Image, Root, Hostname, Network, Delivery string
		User                                     entrypoint.User
		Env                                      []string
		Mounts                                   []launcher.Mount
		ReadOnly                                 bool
		Secrets                                  []launcher.Secret
		GPG                                      launcher.GPGPlan
		Idle                                     time.Duration
		Reach                                    lock.Reach
	}{p.Image, p.Root, p.Hostname, p.Network, p.Delivery, p.User, p.Env, p.Mounts, p.ReadOnly, p.Secrets, p.GPG, p.Idle, reach})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// gitGuards mount the places the host's git runs code from read-only over
// the repository: a hook or a core.fsmonitor / core.sshCommand written
// from inside would run on the host at the next git command. Objects,
// refs and the index stay writable, so commits and branches work.
func gitGuards(root string) []launcher.Mount {
	gitDir := filepath.Join(root, ".git")
	if st, err := os.Lstat(gitDir); err != nil || !st.IsDir() {
		return nil // not a repository, or a worktree whose git dir is elsewhere
	}
	var out []launcher.Mount
	for _, name := range []string{"hooks", "config"} {
		p := filepath.Join(gitDir, name)
		if _, err := os.Lstat(p); err != nil && name != "hooks" {
			continue
		}
		out = append(out, launcher.Mount{Source: p, Target: p, ReadOnly: true, MakeDir: name == "hooks"})
	}
	return out
}

// Secrets are the workspace's credentials: the lock's list, else the
// convention (kubeconfig and talosconfig at the root, if present).
func Secrets(l *lock.Lock) []launcher.Secret {
	files := l.Workspace.SecretFiles()
	out := make([]launcher.Secret, 0, len(files))
	for _, s := range files {
		out = append(out, launcher.Secret{Name: s.Name, File: s.File, Env: s.Env, Optional: s.Optional})
	}
	return out
}

// user is the caller in the container: same ids and name, HOME under /home.
func user(c Caller) entrypoint.User {
	u := entrypoint.User{UID: c.UID, GID: c.GID, Name: c.Name}
	if u.Name == "" {
		u.Name = fmt.Sprintf("user%d", c.UID)
	}
	if u.UID == 0 {
		u.Name, u.Home = "root", "/root"
	} else {
		u.Home = "/home/" + u.Name
	}
	return u
}

// workingDir is the caller's directory when it is inside the workspace,
// else the root.
func workingDir(dir, root string) string {
	abs, err := filepath.Abs(dir)
	if err != nil || (abs != root && !strings.HasPrefix(abs, root+string(filepath.Separator))) {
		return root
	}
	return abs
}

// Hostname is the container's host name, ws-<folder>: at most 63
// characters, as a host name label must be.
func Hostname(root string) string {
	return "ws-" + sanitize(filepath.Base(root), 60)
}

func sanitize(s string, maxLen int) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			b.WriteRune(r)
		}
	}
	out := b.String()
	if len(out) > maxLen {
		out = strings.TrimRight(out[:maxLen], "-_.")
	}
	if out == "" {
		return "workspace"
	}
	return out
}

// ReservedEnvError is a -e that would override what ws sets.
type ReservedEnvError struct{ Name string }

func (e *ReservedEnvError) Error() string {
	return fmt.Sprintf("-e %s: ws sets that variable itself; it cannot be overridden", e.Name)
}

// Hint says what to do about it.
func (e *ReservedEnvError) Hint() string {
	return "choose another name (ws reserves WS_*, LD_*, HOME, PATH, GNUPGHOME and the other variables it sets)"
}
