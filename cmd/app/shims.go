package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/ws-tools/ws/cmd/plan"
	"github.com/ws-tools/ws/images/lock"
)

// shimMarker is in every shim ws writes, so it removes only its own and
// a shim never finds itself (or another ws shim) as "the next program".
const shimMarker = "# ws shim: runs the pinned tool of the workspace you are in"

func newShimsCommand(e *Env) *cli.Command {
	return &cli.Command{
		Name:  "shims",
		Usage: "put the tools your trusted workspaces pin on your PATH (ws shims install [DIR])",
		Description: "A shim runs the tool of the workspace you are in (its kept container, in your\n" +
			"directory, with its exit status); outside any workspace that pins it, the next\n" +
			"program of that name on PATH. Run ws shims again after a lock changes.",
		OnUsageError: usageError,
		Action:       func(c *cli.Context) error { return runShimsInstall(e, c.Args().First()) },
		Subcommands: []*cli.Command{{
			Name:         "install",
			Usage:        "write one shim per pinned tool into DIR (default ~/.local/share/ws/shims)",
			ArgsUsage:    "[DIR]",
			OnUsageError: usageError,
			Action:       func(c *cli.Context) error { return runShimsInstall(e, c.Args().First()) },
		}},
	}
}

// newShimCommand is what a shim runs: ws shim TOOL ARGS…
func newShimCommand(e *Env) *cli.Command {
	return &cli.Command{
		Name:            "shim",
		Hidden:          true,
		SkipFlagParsing: true,
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return errors.New("shim: no tool")
			}
			return runShim(c.Context, e, c.Args().First(), c.Args().Tail())
		},
	}
}

func defaultShimDir(getenv func(string) string) string {
	base := getenv("XDG_DATA_HOME")
	if base == "" || !filepath.IsAbs(base) {
		base = filepath.Join(getenv("HOME"), ".local", "share")
	}
	return filepath.Join(base, "ws", "shims")
}

// pinnedBy maps each tool's installed name to the trusted workspaces
// whose lock pins it.
func pinnedBy(e *Env) (map[string][]string, error) {
	records, err := plan.DefaultStore(e.Getenv).All()
	if err != nil {
		return nil, err
	}
	out := map[string][]string{}
	for _, r := range records {
		l, err := lock.Load(lock.PathIn(r.Root))
		if err != nil {
			continue // moved or broken: it pins nothing now
		}
		for _, t := range l.Tools {
			out[t.Bin] = append(out[t.Bin], r.Root)
		}
	}
	return out, nil
}

func runShimsInstall(e *Env, dir string) error {
	if dir == "" {
		dir = defaultShimDir(e.Getenv)
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find ws itself: %w", err)
	}
	tools, err := pinnedBy(e)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("shims: %w", err)
	}
	// Remove the shims of tools no trusted workspace pins any more.
	entries, _ := os.ReadDir(dir)
	removed := 0
	for _, ent := range entries {
		if _, pinned := tools[ent.Name()]; !pinned && isShim(filepath.Join(dir, ent.Name())) {
			os.Remove(filepath.Join(dir, ent.Name()))
			removed++
		}
	}
	names := make([]string, 0, len(tools))
	for name := range tools {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		script := fmt.Sprintf("#!/bin/sh\n%s\nexec %s shim %s \"$@\"\n", shimMarker, shellQuote(self), shellQuote(name))
		p := filepath.Join(dir, name)
		if b, err := os.ReadFile(p); err == nil && string(b) == script {
			continue
		} else if err == nil && !isShim(p) {
			fmt.Fprintf(e.Stderr, "ws: %s exists and is not a ws shim; left alone\n", p)
			continue
		}
		tmp := p + ".tmp"
		if err := os.WriteFile(tmp, []byte(script), 0o755); err != nil {
			return fmt.Errorf("shims: %w", err)
		}
		if err := os.Rename(tmp, p); err != nil {
			return fmt.Errorf("shims: %w", err)
		}
	}
	fmt.Fprintf(e.Stderr, "%d shims in %s (%s); %d removed\n", len(names), dir, strings.Join(names, ", "), removed)
	fmt.Fprintf(e.Stdout, "export PATH=%s:\"$PATH\"\n", shellQuote(dir))
	return nil
}

func isShim(p string) bool {
	b := make([]byte, 256)
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	n, _ := f.Read(b)
	return strings.Contains(string(b[:n]), shimMarker)
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// runShim runs tool in the workspace holding e.Dir if its lock pins it;
// otherwise the next program of that name on PATH, or exit 127 naming the
// workspaces that pin it.
func runShim(ctx context.Context, e *Env, tool string, args []string) error {
	if root, err := lock.FindRoot(e.Dir); err == nil {
		if l, err := lock.Load(lock.PathIn(root)); err == nil && slices.ContainsFunc(l.Tools, func(t *lock.Tool) bool { return t.Bin == tool }) {
			tty := isTerminal(e.Stdin) && isTerminal(e.Stdout)
			return runInWorkspace(ctx, e, runOptions{}, append([]string{tool}, args...), tty)
		}
	}
	for _, dir := range filepath.SplitList(e.Getenv("PATH")) {
		p := filepath.Join(dir, tool)
		st, err := os.Stat(p)
		if err != nil || st.IsDir() || st.Mode()&0o111 == 0 || isShim(p) {
			continue
		}
		return syscall.Exec(p, append([]string{tool}, args...), os.Environ())
	}
	pinned, _ := pinnedBy(e)
	msg := fmt.Sprintf("%s: not found: no workspace here pins it and PATH has no other", tool)
	if roots := pinned[tool]; len(roots) > 0 {
		msg += " (pinned by " + strings.Join(roots, ", ") + ")"
	}
	return &notFoundError{msg: msg}
}

// notFoundError exits 127, like a shell's command not found.
type notFoundError struct{ msg string }

func (e *notFoundError) Error() string { return e.msg }
func (e *notFoundError) Hint() string {
	return "cd into a workspace that pins it, or install it on the host"
}
