package app

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/ws-tools/ws/cmd/plan"
	"github.com/ws-tools/ws/images/lock"
)

func newTrustCommand(e *Env) *cli.Command {
	var show bool
	return &cli.Command{
		Name:  "trust",
		Usage: "let this repository's tools.lock reach your machine (mounts, env, secrets, downloads)",
		Description: "A cloned repository's tools.lock is untrusted until you say so, like a\n" +
			"Makefile or .envrc from a stranger. ws trust records, for this repository\n" +
			"only, what its lock asks; a later change to it asks again. --show prints\n" +
			"what trusting means without recording anything.",
		OnUsageError: usageError,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "show", Usage: "print what the lock asks and whether it is trusted; change nothing", Destination: &show},
		},
		Action: func(c *cli.Context) error { return runTrust(e, show) },
	}
}

func newUntrustCommand(e *Env) *cli.Command {
	return &cli.Command{
		Name:         "untrust",
		Usage:        "forget that you trusted this repository",
		OnUsageError: usageError,
		Action: func(c *cli.Context) error {
			root, err := lock.FindRoot(e.Dir)
			if err != nil {
				return err
			}
			forgot, err := plan.DefaultStore(e.Getenv).Forget(root)
			if err != nil {
				return err
			}
			if forgot {
				fmt.Fprintf(e.Stderr, "ws: %s is no longer trusted\n", root)
			} else {
				fmt.Fprintf(e.Stderr, "ws: %s was not trusted\n", root)
			}
			return nil
		},
	}
}

func runTrust(e *Env, show bool) error {
	l, path, err := loadLock(e)
	if err != nil {
		return err
	}
	root := filepath.Dir(path)
	store := plan.DefaultStore(e.Getenv)
	v, err := plan.CheckTrust(store, root, path, l, e.Caller.UID, false)
	if err != nil {
		return err
	}
	describe(e.Stdout, l, root, e.Getenv("HOME"), v)
	if show {
		switch {
		case v.Trusted():
			fmt.Fprintln(e.Stdout, "Trusted.")
		case v.Record != nil:
			fmt.Fprintln(e.Stdout, "Trusted before, but the lock changed since: ws trust to accept the change.")
		default:
			fmt.Fprintln(e.Stdout, "Not trusted: ws trust to allow it.")
		}
		return nil
	}
	if err := store.Save(root, v.Reach); err != nil {
		return err
	}
	fmt.Fprintf(e.Stderr, "ws: trusted %s\n", root)
	return nil
}

// describe prints what trusting the workspace lets its lock do, what of
// it amounts to root on the host, and what changed since the last consent.
func describe(w io.Writer, l *lock.Lock, root, home string, v plan.Verdict) {
	fmt.Fprintf(w, "The tools.lock of %s asks to:\n", root)
	hostRoot := 0
	for _, it := range plan.Describe(l, root, home) {
		fmt.Fprintf(w, "  - %s\n", it.Text)
		if it.HostRoot != "" {
			hostRoot++
			fmt.Fprintf(w, "    !! gives the workspace root on this host: %s\n", it.HostRoot)
		}
	}
	if changes := v.Changes(); len(changes) > 0 {
		fmt.Fprintln(w, "Changed since you trusted it:")
		for _, c := range changes {
			fmt.Fprintf(w, "  %s\n", c)
		}
	}
	if hostRoot > 0 {
		fmt.Fprintf(w, "%d of these give code in the workspace root on this machine: trust it only if you would run the repository's code as root.\n", hostRoot)
	}
}

// consent is the user's verdict on the workspace before anything reaches
// the host: trusted already, --trust / WS_TRUST=1, or asked y/N on the
// terminal (default no). Without a terminal it refuses.
func consent(ctx context.Context, e *Env, l *lock.Lock, path string, forThisRun bool) (plan.Verdict, error) {
	root := filepath.Dir(path)
	store := plan.DefaultStore(e.Getenv)
	v, err := plan.CheckTrust(store, root, path, l, e.Caller.UID, forThisRun || e.Getenv(plan.EnvTrust) == "1")
	if err != nil || v.Trusted() {
		return v, err
	}
	untrusted := &plan.UntrustedError{Root: root, Changes: v.Changes()}
	if !isTerminal(e.Stdin) || !isTerminal(e.Stderr) {
		return v, untrusted
	}
	describe(e.Stderr, l, root, e.Getenv("HOME"), v)
	fmt.Fprint(e.Stderr, "Trust this workspace? [y/N] ")
	answer := readLine(ctx, e.Stdin)
	if a := strings.ToLower(strings.TrimSpace(answer)); a != "y" && a != "yes" {
		return v, withHint(fmt.Errorf("not trusted; nothing was started"), "ws trust --show says what the lock asks; ws trust allows it")
	}
	if err := store.Save(root, v.Reach); err != nil {
		return v, err
	}
	v.Record = &plan.Record{Root: root, Reach: v.Reach}
	return v, nil
}

// readLine reads one line a byte at a time, so nothing typed after it is
// taken from the shell or command that runs next.
func readLine(_ context.Context, r io.Reader) string {
	var b strings.Builder
	buf := make([]byte, 1)
	for {
		n, err := r.Read(buf)
		if n == 1 {
			if buf[0] == '\n' || buf[0] == '\r' {
				break
			}
			b.WriteByte(buf[0])
		}
		if err != nil {
			break
		}
	}
	return b.String()
}
