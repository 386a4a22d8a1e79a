package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/ws-tools/ws/cmd/plan"
	"github.com/ws-tools/ws/images/build"
	"github.com/ws-tools/ws/images/definition"
	"github.com/ws-tools/ws/images/lock"
	"github.com/ws-tools/ws/launcher"
	"github.com/ws-tools/ws/launcher/secrets"
)

type runOptions struct {
	readOnly    bool
	noGPG       bool
	gpgSign     bool
	gpg         bool
	gitWritable bool
	trust       bool
	fresh       bool
	tty         bool
	env         cli.StringSlice
	volumes     cli.StringSlice
	network     string
}

func runFlags(o *runOptions) []cli.Flag {
	return []cli.Flag{
		&cli.StringSliceFlag{Name: "env", Aliases: []string{"e"}, Usage: "set `KEY=VALUE` in the workspace (repeatable)", Destination: &o.env},
		&cli.StringSliceFlag{Name: "volume", Aliases: []string{"v"}, Usage: "mount `SRC:DST[:ro]` from the host (repeatable)", Destination: &o.volumes},
		&cli.StringFlag{Name: "network", Usage: "container network `MODE` (host, none, bridge…)", Destination: &o.network},
		&cli.BoolFlag{Name: "no-gpg", Usage: "do not forward the GPG agent", Destination: &o.noGPG},
		&cli.BoolFlag{Name: "gpg", Usage: "forward the GPG agent even when no secret is PGP-encrypted", Destination: &o.gpg},
		&cli.BoolFlag{Name: "gpg-sign", Usage: "also let the workspace sign with git's user.signingkey (git commit -S, git tag -s)", Destination: &o.gpgSign},
		&cli.BoolFlag{Name: "git-writable", Usage: "let the workspace write .git/hooks and .git/config (read-only by default: the host's git runs code from them)", Destination: &o.gitWritable},
		&cli.BoolFlag{Name: "fresh", Usage: "run in a container of its own, removed after it (also " + plan.EnvFresh + "=1); default: the workspace's kept container", Destination: &o.fresh},
		&cli.BoolFlag{Name: "trust", Usage: "trust this workspace for this run only (for CI on its own checkout; also " + plan.EnvTrust + "=1)", Destination: &o.trust},
		&cli.BoolFlag{Name: "read-only", Usage: "read-only root file system (HOME and /tmp are tmpfs)", Destination: &o.readOnly},
	}
}

func (o runOptions) flags() plan.Flags {
	return plan.Flags{Env: o.env.Value(), Volumes: o.volumes.Value(), Network: o.network, NoGPG: o.noGPG, GPG: o.gpg, GPGSign: o.gpgSign,
		ReadOnly: o.readOnly, GitWritable: o.gitWritable, Fresh: o.fresh}
}

func newExecCommand(e *Env) *cli.Command {
	var o runOptions
	return &cli.Command{
		Name:      "exec",
		Usage:     "run one command in the workspace; its exit status is ws's",
		ArgsUsage: "[-t] -- CMD [ARG…]",
		Description: "Runs CMD with its arguments exactly as given (no shell), as you, in the\n" +
			"repository mounted at the same path, from the current directory. stdin is\n" +
			"streamed, stdout and stderr stay apart; no terminal unless -t.",
		OnUsageError: usageError,
		Flags: append(runFlags(&o),
			&cli.BoolFlag{Name: "tty", Aliases: []string{"t"}, Usage: "give the command a terminal", Destination: &o.tty},
		),
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return withHint(errors.New("exec: no command given"), "ws exec -- kubectl get ns")
			}
			return runInWorkspace(c.Context, e, o, c.Args().Slice(), o.tty)
		},
	}
}

func newEnterCommand(e *Env) *cli.Command {
	var o runOptions
	return &cli.Command{
		Name:         "enter",
		Usage:        "open your login shell in the workspace",
		OnUsageError: usageError,
		Flags:        runFlags(&o),
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return withHint(fmt.Errorf("enter takes no arguments"), "to run a command: ws exec -- %s", strings.Join(c.Args().Slice(), " "))
			}
			return runInWorkspace(c.Context, e, o, nil, isTerminal(e.Stdin) && isTerminal(e.Stdout))
		},
	}
}

func isTerminal(f any) bool {
	file, ok := f.(*os.File)
	return ok && term.IsTerminal(int(file.Fd()))
}

// makePlan is the plan of a run in the workspace holding e.Dir, once the
// user consented to what its lock reaches.
func makePlan(ctx context.Context, e *Env, l *lock.Lock, path string, o runOptions, argv []string, tty bool) (launcher.Plan, error) {
	v, err := consent(ctx, e, l, path, o.trust)
	if err != nil {
		return launcher.Plan{}, err
	}
	ep, err := e.Endpoint()
	if err != nil {
		return launcher.Plan{}, err
	}
	return plan.Make(plan.Input{
		EngineHost: ep.Host,
		Lock:       l, Root: filepath.Dir(path), Dir: e.Dir, Argv: argv, TTY: tty,
		Caller: e.Caller, Flags: o.flags(), Platform: lock.HostPlatform(),
		GOOS: runtime.GOOS, Getenv: e.Getenv, Verdict: v,
	})
}

func runInWorkspace(ctx context.Context, e *Env, o runOptions, argv []string, tty bool) error {
	l, path, err := loadLock(e)
	if err != nil {
		return err
	}
	p, err := makePlan(ctx, e, l, path, o, argv, tty)
	if err != nil {
		return err
	}
	docker, err := e.Docker()
	if err != nil {
		return err
	}
	ln := &launcher.Launcher{Docker: docker, CacheDir: e.CacheDir, Log: e.Log}
	stdio := launcher.IO{Stdin: e.Stdin, Stdout: e.Stdout, Stderr: e.Stderr}
	// A warm workspace already holds these very secrets (its key covers
	// their ciphertext): nothing to decrypt, no pinentry.
	if probe, ok := secrets.Ciphertexts(p.Root, p.Secrets); ok && p.Keep {
		relay := restartKeptRelay(e, p)
		ln.AgentStream = streamed(p, relay)
		ran, err := ln.RunIfKept(ctx, p, probe, stdio)
		closeRelay(e, relay, true)
		ln.AgentStream = nil
		if ran {
			return err
		}
	}
	// Decrypt first: a pinentry shows on the host, and a failure leaves
	// nothing behind.
	pay, err := preparePayload(ctx, e, p)
	if err != nil {
		return err
	}
	if pay.GPG != nil {
		relay, err := startRelay(e, p, pay.GPG)
		if err != nil {
			return err
		}
		defer closeRelay(e, relay, p.Keep)
		ln.AgentStream = streamed(p, relay)
	}
	e.Log.Debug("secrets decrypted", "files", len(pay.Secrets))
	im, err := definition.New(l, lock.HostPlatform())
	if err != nil {
		return err
	}
	target, err := e.target(builderFromEnv(e.Getenv))
	if err != nil {
		return err
	}
	b, err := e.imageBuilder()
	if err != nil {
		return err
	}
	res, err := b.Build(ctx, im, build.Options{
		Builder: target, Progress: "auto", ProgressOut: e.Stderr, SharedRepo: l.Image,
	})
	if err != nil {
		return err
	}
	if res.Built {
		fmt.Fprintf(e.Stderr, "built %s\n", res.Tag)
	}
	e.Log.Debug("image ready", "tag", res.Tag)
	if err := ln.RemoveStale(ctx, p.Root); err != nil {
		return err
	}
	return ln.Run(ctx, p, pay, stdio)
}

// preparePayload decrypts the plan's secrets and finds the agent to
// forward: what a run carries that only the host can give it.
func preparePayload(ctx context.Context, e *Env, p launcher.Plan) (launcher.Payload, error) {
	var pay launcher.Payload
	pinentryTerminal(e)
	decrypted, fingerprints, err := secrets.Decrypt(p.Root, p.Secrets)
	if err != nil {
		if cause := errors.Unwrap(err); cause != nil {
			e.Log.Debug("sops said", "err", cause)
		}
		return pay, err
	}
	pay.Secrets = decrypted
	// The agent comes in only for PGP-encrypted secrets, or when asked.
	if p.GPG.ByUser || (len(fingerprints) == 0 && !p.GPG.Always) {
		return pay, nil
	}
	fwd, err := launcher.PrepareGPG(ctx, p.GPG, p.Root, fingerprints)
	var nf *launcher.NoForwardError
	switch {
	case errors.As(err, &nf):
		if len(fingerprints) > 0 {
			fmt.Fprintf(e.Stderr, "ws: note: %v; carrying on without (gpg and sops inside cannot decrypt)\n", err)
		}
		e.Log.Debug("no GPG forwarding", "why", nf.Why)
		return pay, nil
	case err != nil:
		return pay, err
	}
	pay.GPG = fwd
	return pay, nil
}

// pinentryTerminal lets a passphrase be asked on the caller's terminal:
// sops runs gpg with its stdin on a pipe, so gpg (and the agent's
// pinentry) only know the terminal from GPG_TTY. The container's
// environment is ws's own list, so this does not reach it.
func pinentryTerminal(e *Env) {
	f, ok := e.Stdin.(*os.File)
	if os.Getenv("GPG_TTY") != "" || !ok || !term.IsTerminal(int(f.Fd())) {
		return
	}
	if name, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", f.Fd())); err == nil && strings.HasPrefix(name, "/dev/") {
		os.Setenv("GPG_TTY", name) //nolint:errcheck // best effort: pinentry may still find a display
	}
}
