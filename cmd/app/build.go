package app

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/ws-tools/ws/cmd/plan"
	"github.com/ws-tools/ws/images/build"
	"github.com/ws-tools/ws/images/definition"
	"github.com/ws-tools/ws/images/lock"
)

// Environment variables ws build reads (and builder.go's).
const (
	// EnvBuildKitProgress sets the progress display, as docker buildx reads it.
	EnvBuildKitProgress = "BUILDKIT_PROGRESS"
)

type buildOptions struct {
	builder  builderOptions
	platform string
	force    bool
	noCache  bool
	progress string
	push     string
	trust    bool
}

func newBuildCommand(e *Env) *cli.Command {
	var o buildOptions
	return &cli.Command{
		Name:  "build",
		Usage: "build the workspace image from tools.lock (only when it does not exist yet)",
		Description: "The image is tagged ws-tools:<hash of the lock's pins>, so an unchanged lock\n" +
			"never builds twice. Progress goes to stderr; stdout gets the image tag.",
		OnUsageError: usageError,
		Flags: append(o.builder.flags(),
			&cli.StringFlag{Name: "platform", Usage: "target `OS/ARCH` (checksums for it come from the lock)", Value: lock.HostPlatform().String(), Destination: &o.platform},
			&cli.BoolFlag{Name: "force", Usage: "build even if the image exists", Destination: &o.force},
			&cli.BoolFlag{Name: "no-cache", Usage: "build from scratch, ignoring BuildKit's cache", Destination: &o.noCache},
			&cli.StringFlag{Name: "push", Usage: "push the image to `REPO`:<hash> so the team pulls instead of building (usually the lock's image:)", Destination: &o.push},
			&cli.BoolFlag{Name: "trust", Usage: "trust this workspace for this run only (also " + plan.EnvTrust + "=1)", Destination: &o.trust},
			&cli.StringFlag{Name: "progress", Usage: "progress display: auto, tty, plain, rawjson or quiet", EnvVars: []string{EnvBuildKitProgress}, Value: "auto", Destination: &o.progress},
		),
		Action: func(c *cli.Context) error { return runBuild(c.Context, e, o) },
	}
}

func runBuild(ctx context.Context, e *Env, o buildOptions) error {
	l, path, err := loadLock(e)
	if err != nil {
		return err
	}
	// A lock that only pins tools builds from their download hosts, like
	// ws lock verify; one that names a shared image or a workspace section
	// reaches further, so it needs the user's consent first.
	if l.ReachesBeyondDownloads() {
		if _, err := consent(ctx, e, l, path, o.trust); err != nil {
			return err
		}
	}
	p, err := lock.ParsePlatform(o.platform)
	if err != nil {
		return withHint(err, "write --platform as os/arch, e.g. linux/arm64")
	}
	if !slices.Contains(l.Platforms, p) {
		return withHint(fmt.Errorf("tools.lock has no checksums for %s (platforms: %s)", p, platformList(l.Platforms)),
			"add the platform and its checksums to tools.lock, or build for one it has")
	}
	switch o.progress {
	case "auto", "tty", "plain", "rawjson", "quiet":
	default:
		return withHint(fmt.Errorf("--progress %q is not a display", o.progress), "use auto, tty, plain, rawjson or quiet")
	}
	target, err := e.target(o.builder)
	if err != nil {
		return err
	}
	b, err := e.imageBuilder()
	if err != nil {
		return err
	}
	im, err := definition.New(l, p)
	if err != nil {
		return err
	}
	warnFloating(e, l)
	res, err := b.Build(ctx, im, build.Options{
		Builder: target, Force: o.force, NoCache: o.noCache,
		Progress: o.progress, ProgressOut: e.Stderr, SharedRepo: l.Image,
	})
	if err != nil {
		return err
	}
	switch {
	case res.Pulled != "":
		fmt.Fprintf(e.Stderr, "pulled %s as %s (nothing built)\n", res.Pulled, res.Tag)
	case !res.Built:
		fmt.Fprintf(e.Stderr, "%s is up to date (nothing built)\n", res.Tag)
	case res.Merged:
		fmt.Fprintf(e.Stderr, "built %s (tool layers merged)\n", res.Tag)
	default:
		fmt.Fprintf(e.Stderr, "built %s (tool layers stacked: this builder has no merge)\n", res.Tag)
	}
	if o.push != "" {
		ref := build.SharedRef(o.push, res.Tag)
		if err := b.Push(ctx, res.Tag, ref); err != nil {
			return err
		}
		fmt.Fprintf(e.Stderr, "pushed %s\n", ref)
	}
	fmt.Fprintln(e.Stdout, res.Tag)
	return nil
}

func platformList(list []lock.Platform) string {
	s := make([]string, len(list))
	for i, p := range list {
		s[i] = p.String()
	}
	return strings.Join(s, ", ")
}

// warnFloating says when the lock's Debian packages are not pinned: the
// same lock then builds different packages as the mirror moves.
func warnFloating(e *Env, l *lock.Lock) {
	if !l.Base.Floating() {
		return
	}
	how := "add base.snapshot (an apt archive at a point in time), then run ws lock bump packages"
	if l.Base.Snapshot != nil {
		how = "run ws lock bump packages"
	}
	fmt.Fprintf(e.Stderr, "ws: warning: the base packages float with the mirror (not every one is pinned to a snapshot's version); to pin them, %s\n", how)
}
