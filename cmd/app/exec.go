package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/ws-tools/ws/entrypoint"
	"github.com/ws-tools/ws/images/build"
	"github.com/ws-tools/ws/images/definition"
	"github.com/ws-tools/ws/images/lock"
	"github.com/ws-tools/ws/launcher"
	"github.com/ws-tools/ws/launcher/secrets"
)

type runOptions struct {
	readOnly bool
	noGPG    bool
	tty      bool
	env      cli.StringSlice
	volumes  cli.StringSlice
	network  string
}

func runFlags(o *runOptions) []cli.Flag {
	return []cli.Flag{
		&cli.StringSliceFlag{Name: "env", Aliases: []string{"e"}, Usage: "set `KEY=VALUE` in the workspace (repeatable)", Destination: &o.env},
		&cli.StringSliceFlag{Name: "volume", Aliases: []string{"v"}, Usage: "mount `SRC:DST[:ro]` from the host (repeatable)", Destination: &o.volumes},
		&cli.StringFlag{Name: "network", Usage: "container network `MODE` (host, none, bridge…)", Destination: &o.network},
		&cli.BoolFlag{Name: "no-gpg", Usage: "do not forward the GPG agent", Destination: &o.noGPG},
		&cli.BoolFlag{Name: "read-only", Usage: "read-only root file system (HOME and /tmp are tmpfs)", Destination: &o.readOnly},
	}
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

func runInWorkspace(ctx context.Context, e *Env, o runOptions, argv []string, tty bool) error {
	l, path, err := loadLock(e)
	if err != nil {
		return err
	}
	root := filepath.Dir(path)
	// Decrypt first: a pinentry shows on the host, and a failure leaves
	// nothing behind.
	creds, err := workspaceSecrets(ctx, e, l, root, o.noGPG)
	if err != nil {
		return err
	}
	e.Log.Debug("secrets decrypted", "files", len(creds.files))
	docker, err := e.Docker()
	if err != nil {
		return err
	}
	im := definition.Image{Lock: l, Platform: lock.HostPlatform()}
	res, err := (&build.Builder{Docker: docker}).Build(ctx, im, build.Options{
		BuilderAddr: e.Getenv(EnvBuildKitHost), Progress: "auto", ProgressOut: e.Stderr, SharedRepo: l.Image,
	})
	if err != nil {
		return err
	}
	if res.Built {
		fmt.Fprintf(e.Stderr, "built %s\n", res.Tag)
	}
	e.Log.Debug("image ready", "tag", res.Tag)
	local, _ := launcher.DaemonOnThisHost(e.Getenv("DOCKER_HOST"))
	ln := &launcher.Launcher{Docker: docker, Workspace: launcher.WorkspaceID(root), DaemonOnThisHost: local, Log: e.Log}
	if err := ln.RemoveStale(ctx); err != nil {
		return err
	}
	dir, err := filepath.Abs(e.Dir)
	if err != nil || (dir != root && !strings.HasPrefix(dir, root+string(filepath.Separator))) {
		dir = root
	}
	network := o.network
	if network == "" {
		network = l.Workspace.Network
	}
	mounts := append(expandMounts(l.Workspace.Mounts, root, e.Getenv("HOME")), o.volumes.Value()...)
	return ln.Run(ctx, launcher.Spec{
		Image: res.Tag, Root: root, Dir: dir, Argv: argv, TTY: tty,
		User: caller(e), Env: append(append(append([]string{}, l.Workspace.Env...), creds.env...), o.env.Value()...), Mounts: mounts,
		Network: network, Files: creds.files, SocketMounts: creds.sockets, ReadOnly: o.readOnly,
		Stdin: e.Stdin, Stdout: e.Stdout, Stderr: e.Stderr,
	})
}

// caller is the host user the workspace process runs as: same ids, same
// name (from the user database, else $USER), HOME under /home.
func caller(e *Env) launcher.User {
	u := launcher.User{UID: os.Getuid(), GID: os.Getgid()}
	if cur, err := user.Current(); err == nil && cur.Username != "" {
		u.Name = cur.Username
	} else if name := e.Getenv("USER"); name != "" {
		u.Name = name
	} else {
		u.Name = fmt.Sprintf("user%d", u.UID)
	}
	if u.UID == 0 {
		u.Name, u.Home = "root", "/root"
	} else {
		u.Home = "/home/" + u.Name
	}
	return u
}

// expandMounts resolves the workspace section's mount sources: relative to
// the workspace root, ~/ to the caller's home.
func expandMounts(mounts []string, root, home string) []string {
	out := make([]string, 0, len(mounts))
	for _, m := range mounts {
		src, rest, _ := strings.Cut(m, ":")
		switch {
		case strings.HasPrefix(src, "~/") && home != "":
			src = filepath.Join(home, src[2:])
		case !filepath.IsAbs(src):
			src = filepath.Join(root, src)
		}
		out = append(out, src+":"+rest)
	}
	return out
}

// credentials is what the launcher delivers: files for the tmpfs, the
// variables pointing at them, the agent socket to mount.
type credentials struct {
	files   []launcher.File
	env     []string
	sockets [][2]string
}

func workspaceSecrets(ctx context.Context, e *Env, l *lock.Lock, root string, noGPG bool) (credentials, error) {
	var c credentials
	pinentryTerminal(e)
	decrypted, err := secrets.Decrypt(root, secretSpecs(l))
	if err != nil {
		if cause := errors.Unwrap(err); cause != nil {
			e.Log.Debug("sops said", "err", cause)
		}
		return c, err
	}
	var fingerprints, names []string
	seen := map[string]bool{}
	for _, s := range decrypted {
		names = append(names, s.Name)
		c.files = append(c.files, launcher.File{Name: s.Name, Data: s.Plain})
		c.env = append(c.env, s.Env+"="+launcher.SecretsDir+"/"+s.Name)
		for _, f := range s.PGPRecipients {
			if !seen[f] {
				seen[f] = true
				fingerprints = append(fingerprints, f)
			}
		}
	}
	if len(names) > 0 {
		c.env = append(c.env, entrypoint.EnvSecrets+"="+strings.Join(names, " "))
	}
	if noGPG {
		return c, nil
	}
	fwd, err := launcher.PrepareGPG(ctx, e.Getenv("DOCKER_HOST"), fingerprints)
	var nf *launcher.NoForwardError
	switch {
	case errors.As(err, &nf):
		if len(fingerprints) > 0 {
			fmt.Fprintf(e.Stderr, "ws: note: %v; carrying on without (gpg and sops inside cannot decrypt)\n", err)
		}
		e.Log.Debug("no GPG forwarding", "why", nf.Why)
		return c, nil
	case err != nil:
		return c, err
	}
	c.files = append(c.files, fwd.Files()...)
	c.sockets = append(c.sockets, [2]string{fwd.Socket, launcher.GPGHome + "/S.gpg-agent"})
	c.env = append(c.env, "GNUPGHOME="+launcher.GPGHome)
	return c, nil
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

// secretSpecs are the workspace's credentials: the lock's list, else the
// convention.
func secretSpecs(l *lock.Lock) []secrets.Spec {
	if l.Workspace.Secrets == nil {
		return secrets.Defaults
	}
	var specs []secrets.Spec
	for _, s := range l.Workspace.Secrets {
		specs = append(specs, secrets.Spec{Name: s.Name, File: s.File, Env: s.Env})
	}
	return specs
}
