package app

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/ws-tools/ws/cmd/plan"
	"github.com/ws-tools/ws/images/bump"
	"github.com/ws-tools/ws/images/credentials"
	"github.com/ws-tools/ws/images/fetch"
	"github.com/ws-tools/ws/images/lock"
)

// Environment variables ws lock bump reads.
const (
	// EnvGitHubToken lifts GitHub's anonymous rate limit.
	EnvGitHubToken = "GITHUB_TOKEN"
	// EnvGitHubAPI is the API root; GitHub Actions sets it on Enterprise.
	EnvGitHubAPI = "GITHUB_API_URL"
)

type lockBumpOptions struct {
	to        string
	pre       bool
	minAge    string
	noVerify  bool
	dryRun    bool
	json      bool
	githubAPI string
	snapshot  string
}

func newLockBumpCommand(e *Env) *cli.Command {
	var o lockBumpOptions
	return &cli.Command{
		Name:      "bump",
		Usage:     "move pins: a tool's version and every platform's sha256 together, the base digest, or the Debian packages' versions",
		ArgsUsage: "[TOOL…|base|packages]",
		Description: "With no TOOL, every tool moves to its newest release. A TOOL is its name in\n" +
			"tools.lock or its source repository (OWNER/REPO, as Renovate names it); `base`\n" +
			"moves the base image to the digest its tag points at now, and its apt snapshot\n" +
			"(base.snapshot) forward to that image's build date; `packages` pins every Debian\n" +
			"package to the version the snapshot has. Either with --snapshot moves the\n" +
			"snapshot to that time instead; the packages are pinned again from it.\n\n" +
			"Checksums come from GitHub's asset digests, else the release's checksum file\n" +
			"(signature verified with the key pinned in tools.lock), else a download; every\n" +
			"new artifact is then downloaded and checked once (unless --no-verify). All\n" +
			"tools are resolved first; tools.lock is written once, atomically, or not at all.",
		OnUsageError: usageError,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "to", Usage: "pin exactly `VERSION` (one tool)", Destination: &o.to},
			&cli.BoolFlag{Name: "pre", Usage: "allow pre-releases", Destination: &o.pre},
			&cli.StringFlag{Name: "min-age", Usage: "skip releases younger than `AGE` (e.g. 7d, 36h)", Destination: &o.minAge},
			&cli.BoolFlag{Name: "no-verify", Usage: "trust published digests without downloading the artifacts", Destination: &o.noVerify},
			&cli.StringFlag{Name: "snapshot", Usage: "move the apt snapshot to `TIME` (20261115T000000Z or 2026-11-15) with base or packages", Destination: &o.snapshot},
			&cli.BoolFlag{Name: "dry-run", Usage: "print the diff; write nothing", Destination: &o.dryRun},
			&cli.BoolFlag{Name: "json", Usage: "print what changed as JSON", Destination: &o.json},
			&cli.StringFlag{Name: "github-api", Usage: "GitHub API root `URL` (GitHub Enterprise)", EnvVars: []string{EnvGitHubAPI}, Value: bump.DefaultGitHubAPI, Destination: &o.githubAPI},
		},
		Action: func(c *cli.Context) error { return runLockBump(c.Context, e, o, c.Args().Slice()) },
	}
}

// bumpJSON is the --json shape; its field names are a public interface.
type bumpJSON struct {
	Changes []bump.Change `json:"changes"`
	Written bool          `json:"written"`
	DryRun  bool          `json:"dry_run"`
}

func runLockBump(ctx context.Context, e *Env, o lockBumpOptions, names []string) error {
	minAge, err := parseAge(o.minAge)
	if err != nil {
		return withHint(err, "write an age such as 7d, 36h or 90m")
	}
	l, path, err := loadLock(e)
	if err != nil {
		return err
	}
	before, err := l.Bytes()
	if err != nil {
		return err
	}
	reachBefore := l.Reach()
	logins, err := credentials.Load()
	if err != nil {
		return withHint(err, "fix or move config.json in DOCKER_CONFIG or ~/.docker")
	}
	b := &bump.Bumper{
		Credentials: logins,
		GitHub:      &bump.GitHub{Client: e.HTTP, BaseURL: o.githubAPI, Token: e.Getenv(EnvGitHubToken)},
		HTTP:        e.HTTP,
		Checker:     &fetch.Checker{Client: e.HTTP, Parallel: 4},
		LockDir:     filepath.Dir(path),
		Progress:    func(s string) { fmt.Fprintln(e.Stderr, s) },
	}
	changes, err := b.Plan(ctx, l, names, bump.Options{To: o.to, Pre: o.pre, MinAge: minAge, NoVerify: o.noVerify, Snapshot: o.snapshot})
	if err != nil {
		return err
	}
	after, err := l.Bytes()
	if err != nil {
		return err
	}
	written := false
	if !o.dryRun {
		if written, err = l.WriteFile(path); err != nil {
			return err
		}
		if written {
			keepTrust(e, filepath.Dir(path), reachBefore, l.Reach())
		}
	}
	switch {
	case o.json:
		enc := json.NewEncoder(e.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(bumpJSON{Changes: changes, Written: written, DryRun: o.dryRun})
	case o.dryRun:
		fmt.Fprint(e.Stdout, lock.Diff(lock.FileName, before, after))
	}
	for _, c := range changes {
		fmt.Fprintln(e.Stderr, describeChange(c))
	}
	if !o.dryRun && !written {
		fmt.Fprintln(e.Stderr, "tools.lock unchanged")
	}
	return nil
}

// keepTrust carries the user's consent over their own bump: if they had
// trusted the workspace as it was, they trust what ws lock bump made of it
// (a new base digest, say, whose repository is the same anyway).
func keepTrust(e *Env, root string, before, after lock.Reach) {
	store := plan.DefaultStore(e.Getenv)
	rec, err := store.Load(root)
	if err != nil || rec == nil || !rec.Reach.Equal(before) || before.Equal(after) {
		return
	}
	if err := store.Save(root, after); err != nil {
		e.Log.Debug("keep trust after bump", "err", err)
	}
}

func describeChange(c bump.Change) string {
	if c.Kind == "snapshot" {
		if !c.Changed() {
			return "snapshot: " + c.From + " (" + c.Note + ")"
		}
		return "snapshot: " + c.From + " -> " + c.To
	}
	if !c.Changed() {
		msg := c.Tool + ": " + c.From
		if c.Kind == "package" {
			msg = "package " + msg
		}
		if c.Note != "" {
			msg += " (" + c.Note + ")"
		}
		return msg
	}
	var sources []string
	seen := map[string]bool{}
	verified := true
	for _, cs := range c.Checksums {
		if !seen[cs.Source] {
			seen[cs.Source] = true
			sources = append(sources, cs.Source)
		}
		verified = verified && cs.Verified
	}
	from := c.From
	if c.Kind == "package" {
		if from == "" {
			from = "(any version)"
		}
		to := c.To
		if len(c.Architectures) > 0 {
			var per []string
			for _, arch := range slices.Sorted(maps.Keys(c.Architectures)) {
				per = append(per, arch+" "+c.Architectures[arch])
			}
			to = strings.Join(per, ", ")
		}
		return fmt.Sprintf("package %s: %s -> %s (from the snapshot's signed index)", c.Tool, from, to)
	}
	msg := fmt.Sprintf("%s: %s -> %s", c.Tool, from, c.To)
	if len(sources) > 0 {
		msg += " (checksums: " + strings.Join(sources, ", ")
		if verified {
			msg += "; every artifact downloaded and checked"
		}
		msg += ")"
	}
	if c.Note != "" {
		msg += "; " + c.Note
	}
	return msg
}

// parseAge reads 7d, 36h, 90m (days are what release cooldowns are
// counted in, and time.ParseDuration has none).
func parseAge(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("--min-age %q is not an age", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("--min-age %q is not an age", s)
	}
	return d, nil
}
