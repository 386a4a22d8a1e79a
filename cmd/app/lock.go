package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/ws-tools/ws/images/fetch"
	"github.com/ws-tools/ws/images/lock"
)

func newLockCommand(e *Env) *cli.Command {
	return &cli.Command{
		Name:         "lock",
		Usage:        "read, check and move the pins in tools.lock",
		OnUsageError: usageError,
		Action:       unknownCommand,
		Subcommands: []*cli.Command{
			newLockListCommand(e),
			newLockVerifyCommand(e),
			newLockBumpCommand(e),
			newLockAddCommand(e),
			newLockRemoveCommand(e),
		},
	}
}

// loadLock finds the workspace from e.Dir and loads its lock, printing the
// warnings the user opted into.
func loadLock(e *Env) (*lock.Lock, string, error) {
	root, err := lock.FindRoot(e.Dir)
	if err != nil {
		return nil, "", err
	}
	path := lock.PathIn(root)
	l, err := lock.Load(path)
	if err != nil {
		return nil, "", err
	}
	for _, w := range l.Warnings {
		fmt.Fprintf(e.Stderr, "ws: warning: %s\n", w)
	}
	e.Log.Debug("loaded lock", "path", path, "tools", len(l.Tools))
	return l, path, nil
}

type lockListOptions struct {
	json bool
}

func newLockListCommand(e *Env) *cli.Command {
	var o lockListOptions
	return &cli.Command{
		Name:         "list",
		Usage:        "show the pinned tools: name, version, platforms",
		OnUsageError: usageError,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "print JSON for scripts", Destination: &o.json},
		},
		Action: func(c *cli.Context) error { return runLockList(c.Context, e, o) },
	}
}

// lockListJSON is the --json shape; its field names are a public interface.
type lockListJSON struct {
	Base      baseListJSON   `json:"base"`
	Platforms []string       `json:"platforms"`
	Tools     []toolListJSON `json:"tools"`
}

type baseListJSON struct {
	Image    string   `json:"image"`
	Packages []string `json:"packages"`
}

type toolListJSON struct {
	Name      string             `json:"name"`
	Version   string             `json:"version"`
	Source    string             `json:"source,omitempty"`
	Bin       string             `json:"bin"`
	Artifacts []artifactListJSON `json:"artifacts"`
}

type artifactListJSON struct {
	Platform string `json:"platform"`
	URL      string `json:"url"`
	Member   string `json:"member,omitempty"`
	SHA256   string `json:"sha256"`
}

func runLockList(_ context.Context, e *Env, o lockListOptions) error {
	l, _, err := loadLock(e)
	if err != nil {
		return err
	}
	platforms := make([]string, len(l.Platforms))
	for i, p := range l.Platforms {
		platforms[i] = p.String()
	}
	if o.json {
		out := lockListJSON{
			Base:      baseListJSON{Image: l.Base.Image, Packages: l.Base.Packages},
			Platforms: platforms,
			Tools:     []toolListJSON{},
		}
		for _, t := range l.Tools {
			tj := toolListJSON{Name: t.Name, Version: t.Version, Source: t.Source, Bin: t.Bin}
			for _, p := range l.Platforms {
				a, err := t.Artifact(p)
				if err != nil {
					return err
				}
				tj.Artifacts = append(tj.Artifacts, artifactListJSON{Platform: p.String(), URL: a.URL, Member: a.Member, SHA256: a.SHA256})
			}
			out.Tools = append(out.Tools, tj)
		}
		enc := json.NewEncoder(e.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	tw := tabwriter.NewWriter(e.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TOOL\tVERSION\tPLATFORMS")
	for _, t := range l.Tools {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", t.Name, t.Version, strings.Join(platforms, ","))
	}
	return tw.Flush()
}

type lockVerifyOptions struct {
	offline  bool
	parallel int
}

func newLockVerifyCommand(e *Env) *cli.Command {
	var o lockVerifyOptions
	return &cli.Command{
		Name:  "verify",
		Usage: "download every artifact for every platform and check its sha256",
		Description: "Checks tools.lock's structure, then downloads each tool's artifact for each\n" +
			"platform (in parallel, progress on stderr) and compares its sha256 with the\n" +
			"pin; archives must also hold the member to install. Exits 1 on a mismatch.",
		OnUsageError: usageError,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "offline", Usage: "only check the file's structure; download nothing", Destination: &o.offline},
			&cli.IntFlag{Name: "parallel", Usage: "downloads at once", Value: 4, Destination: &o.parallel},
		},
		Action: func(c *cli.Context) error { return runLockVerify(c.Context, e, o) },
	}
}

// verifyError is a verify run in which some artifacts failed.
type verifyError struct {
	failed []error
	total  int
}

func (v *verifyError) Error() string {
	lines := make([]string, 0, len(v.failed)+1)
	for _, err := range v.failed {
		lines = append(lines, err.Error())
	}
	lines = append(lines, fmt.Sprintf("%d of %d artifacts failed verification", len(v.failed), v.total))
	return strings.Join(lines, "\n")
}

func (v *verifyError) Unwrap() []error { return v.failed }

// CheckFailed says a wrong or missing artifact is the verdict the user asked
// for, not ws breaking.
func (v *verifyError) CheckFailed() bool { return true }

// Hint is the first failure's hint: failures tend to share a cause.
func (v *verifyError) Hint() string {
	var h hinter
	if errors.As(v.failed[0], &h) {
		return h.Hint()
	}
	return ""
}

func runLockVerify(ctx context.Context, e *Env, o lockVerifyOptions) error {
	l, path, err := loadLock(e)
	if err != nil {
		return err
	}
	arts, err := l.Artifacts()
	if err != nil {
		return err
	}
	if o.offline {
		fmt.Fprintf(e.Stderr, "%s: %d tools, %d platforms, %d pins: structure ok (nothing downloaded)\n",
			path, len(l.Tools), len(l.Platforms), len(arts))
		return nil
	}
	if o.parallel < 1 {
		return withHint(fmt.Errorf("--parallel must be at least 1"), "see ws lock verify --help")
	}
	start := time.Now()
	checker := &fetch.Checker{Client: e.HTTP, Parallel: o.parallel}
	width := len(fmt.Sprint(len(arts)))
	results := checker.CheckAll(ctx, arts, func(done, total int, r fetch.Result) {
		status := "ok"
		if r.Err != nil {
			status = "FAILED"
		}
		fmt.Fprintf(e.Stderr, "[%*d/%d] %-6s %s %s (%s)\n", width, done, total, status,
			r.Artifact.Tool, r.Artifact.Platform, humanBytes(r.Size))
		e.Log.Debug("checked artifact", "tool", r.Artifact.Tool, "platform", r.Artifact.Platform.String(),
			"url", r.Artifact.URL, "sha256", r.SHA256, "err", r.Err)
	})
	var failed []error
	var size int64
	for _, r := range results {
		size += r.Size
		if r.Err != nil {
			failed = append(failed, r.Err)
		}
	}
	if len(failed) > 0 {
		return &verifyError{failed: failed, total: len(results)}
	}
	fmt.Fprintf(e.Stderr, "verified %d artifacts (%s) in %s\n", len(results), humanBytes(size), time.Since(start).Round(100*time.Millisecond))
	return nil
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f kB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
