// Package build builds a workspace image (images/definition) with BuildKit
// and puts it into the Docker daemon's image store: through dockerd's
// embedded BuildKit (the Engine API's /grpc and /session endpoints), or a
// standalone buildkitd whose image tarball it loads into the daemon.
package build

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
	"io"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/image"
	dockerclient "github.com/docker/docker/client"
	bkclient "github.com/moby/buildkit/client"
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/util/grpcerrors"
	"github.com/moby/buildkit/util/progress/progressui"
	"google.golang.org/grpc/codes"

	"github.com/ws-tools/ws/images/credentials"
	"github.com/ws-tools/ws/images/definition"
	"github.com/ws-tools/ws/images/lock"
	"github.com/ws-tools/ws/launcher/engine"
)

// Options are the user's choices for a build.
type Options struct {
	// Builder is the BuildKit to build on; the zero Target is dockerd's
	// embedded one.
	Builder Target
	// Force builds even when the tagged image exists.
	Force bool
	// NoCache ignores BuildKit's cache too.
	NoCache bool
	// Progress is progressui's mode: auto, tty, plain, rawjson or quiet.
	Progress string
	// ProgressOut receives the build display (stderr).
	ProgressOut io.Writer
	// SharedRepo is the lock's image repository: its REPO:<hash> is pulled
	// instead of building when the registry has it.
	SharedRepo string
}

// Result says what happened.
type Result struct {
	Tag string
	// Built is false when the image already existed and nothing was solved.
	Built bool
	// Pulled names the shared image that was pulled instead of building.
	Pulled string
	// Merged says whether tool layers were merged or stacked.
	Merged bool
}

// Engine is what the builder asks of the Docker engine: its image store,
// and the hijacked endpoints that reach its embedded BuildKit.
type Engine interface {
	ImageInspect(ctx context.Context, ref string, opts ...dockerclient.ImageInspectOption) (image.InspectResponse, error)
	ImagePull(ctx context.Context, ref string, options image.PullOptions) (io.ReadCloser, error)
	ImagePush(ctx context.Context, ref string, options image.PushOptions) (io.ReadCloser, error)
	ImageTag(ctx context.Context, source, target string) error
	ImageLoad(ctx context.Context, input io.Reader, opts ...dockerclient.ImageLoadOption) (image.LoadResponse, error)
	NegotiateAPIVersion(ctx context.Context)
	ClientVersion() string
	DialHijack(ctx context.Context, url, proto string, meta map[string][]string) (net.Conn, error)
}

// Solver is one connection to BuildKit: it solves a definition into an
// export, and says which workers it has.
type Solver interface {
	Solve(ctx context.Context, def *llb.Definition, config ImageConfig, export bkclient.ExportEntry, status chan *bkclient.SolveStatus) error
	ListWorkers(ctx context.Context) ([]*bkclient.WorkerInfo, error)
	Close() error
}

// ImageConfig is what a solve exports as the image config: Static as it
// is, or, with FromBase, what FromBase makes of the base image's own config
// (resolved through the builder, which fetches it for the build anyway).
type ImageConfig struct {
	Static   []byte
	Base     string
	Platform ocispecs.Platform
	FromBase func(base []byte) ([]byte, error)
}

// Builder builds workspace images into one Docker engine.
type Builder struct {
	Engine Engine
	// Credentials are the registry logins for pulls, pushes and the
	// builder's base-image pulls; nil means anonymous.
	Credentials *credentials.Store
	// Dial opens the BuildKit of t; nil means the real BuildKit client.
	// Tests put a fake here.
	Dial func(ctx context.Context, e Engine, t Target, creds *credentials.Store) (Solver, error)
}

func (b *Builder) creds() *credentials.Store {
	if b.Credentials == nil {
		return credentials.Anonymous()
	}
	return b.Credentials
}

func (b *Builder) dial(ctx context.Context, t Target) (Solver, error) {
	if b.Dial != nil {
		return b.Dial(ctx, b.Engine, t, b.creds())
	}
	return dialBuildKit(ctx, b.Engine, t, b.creds())
}

// Exists reports whether the daemon has the image tag.
func (b *Builder) Exists(ctx context.Context, tag string) (bool, error) {
	_, err := b.Engine.ImageInspect(ctx, tag)
	if err == nil {
		return true, nil
	}
	if cerrdefs.IsNotFound(err) {
		return false, nil
	}
	return false, engine.Classify(err)
}

// Build makes im's image and tags it, unless it exists and o.Force is off.
func (b *Builder) Build(ctx context.Context, im *definition.Image, o Options) (Result, error) {
	tag := im.Tag()
	res := Result{Tag: tag}
	if !o.Force && !o.NoCache {
		exists, err := b.Exists(ctx, tag)
		if err != nil {
			return res, err
		}
		if exists {
			return res, nil
		}
		if o.SharedRepo != "" {
			ref := SharedRef(o.SharedRepo, tag)
			found, err := b.Pull(ctx, ref, tag)
			if err != nil {
				return res, err
			}
			if found {
				res.Pulled = ref
				return res, nil
			}
		}
	}
	epoch := ""
	if t, ok := im.SourceDateEpoch(); ok {
		epoch = strconv.FormatInt(t, 10)
	}
	c, export, err := b.connect(ctx, o, tag, epoch)
	if err != nil {
		return res, err
	}
	defer c.Close()
	res.Built = true
	res.Merged = true
	err = b.solve(ctx, c, im, o, export, true)
	if err != nil && strings.Contains(err.Error(), "mergeop") {
		// Docker 20.10's embedded BuildKit predates merge: stack instead.
		res.Merged = false
		err = b.solve(ctx, c, im, o, export, false)
	}
	if err != nil {
		if !o.Builder.Engine() && grpcerrors.Code(err) == codes.Unavailable {
			return res, &BuilderError{Target: o.Builder, Err: err} // bkclient dials lazily: this is the first contact
		}
		return res, explain(err, im)
	}
	return res, nil
}

// connect opens BuildKit and says how to export into the engine.
func (b *Builder) connect(ctx context.Context, o Options, tag, epoch string) (Solver, exportFunc, error) {
	c, err := b.dial(ctx, o.Builder)
	if err != nil {
		return nil, nil, err
	}
	if o.Builder.Engine() {
		// The engine's own exporter writes straight into its image store.
		return c, func(context.Context) (bkclient.ExportEntry, func() error) {
			return bkclient.ExportEntry{Type: "moby", Attrs: map[string]string{"name": tag}}, func() error { return nil }
		}, nil
	}
	return c, b.loadExport(tag, epoch), nil
}

// Probe asks the builder that Build would use (t as in Options) for its
// workers, so ws doctor tells a builder that answers from one that does not
// before a build needs it, and says which it is.
func (b *Builder) Probe(ctx context.Context, t Target) (string, error) {
	c, _, err := b.connect(ctx, Options{Builder: t}, "", "")
	if err != nil {
		return "", err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	workers, err := c.ListWorkers(ctx)
	if err == nil && len(workers) == 0 {
		err = errors.New("it has no workers")
	}
	if err != nil {
		if t.Engine() {
			return "", &NoBuildKitError{Err: err}
		}
		return "", &BuilderError{Target: t, Err: err}
	}
	who := t.String()
	// A buildkitd built from source without a version stamp says v0.0.0+unknown.
	if v := workers[0].BuildkitVersion.Version; v != "" && !strings.HasPrefix(v, "v0.0.0") {
		who += " " + v
	}
	var targets []string
	for _, w := range workers {
		for _, p := range w.Platforms {
			t := p.OS + "/" + p.Architecture
			if p.Variant != "" {
				t += "/" + p.Variant
			}
			if !slices.Contains(targets, t) {
				targets = append(targets, t)
			}
		}
	}
	return fmt.Sprintf("%s (builds for %s)", who, strings.Join(targets, ", ")), nil
}

// exportFunc gives the export entry of one solve and a wait function that
// reports whether the image reached the daemon.
type exportFunc func(context.Context) (bkclient.ExportEntry, func() error)

// loadExport streams a standalone builder's docker-format tarball into the
// daemon's ImageLoad.
//
// With an epoch (a pinned apt snapshot's time), the exporter clamps every
// file's time to it (BuildKit's rewrite-timestamp), so two builds of one
// lock give the same layers. dockerd's own exporter gets no such option:
// Docker 20.10's predates it.
func (b *Builder) loadExport(tag string, epoch string) exportFunc {
	return func(ctx context.Context) (bkclient.ExportEntry, func() error) {
		pr, pw := io.Pipe()
		loaded := make(chan error, 1)
		started := false
		attrs := map[string]string{"name": tag}
		if epoch != "" {
			attrs["source-date-epoch"] = epoch
			attrs["rewrite-timestamp"] = "true"
		}
		entry := bkclient.ExportEntry{
			Type:  bkclient.ExporterDocker,
			Attrs: attrs,
			Output: func(map[string]string) (io.WriteCloser, error) {
				started = true
				go func() {
					resp, err := b.Engine.ImageLoad(ctx, pr)
					if err == nil {
						_, err = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
					}
					pr.CloseWithError(err)
					loaded <- err
				}()
				return pw, nil
			},
		}
		return entry, func() error {
			if !started {
				return nil
			}
			if err := <-loaded; err != nil {
				return fmt.Errorf("load image into Docker: %w", err)
			}
			return nil
		}
	}
}

func (b *Builder) solve(ctx context.Context, c Solver, im *definition.Image, o Options, export exportFunc, merge bool) error {
	state, err := im.State(definition.Options{Merge: merge})
	if err != nil {
		return err
	}
	cfg := im.Config()
	cfgJSON, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	config := ImageConfig{Static: cfgJSON}
	if _, ok := im.SourceDateEpoch(); ok {
		// Pinned packages: a reproducible config, whose history starts
		// with the base's own.
		config.Base, config.Platform = im.Lock.Base.Image, cfg.Platform
		config.FromBase = func(b []byte) ([]byte, error) {
			var base ocispecs.Image
			if err := json.Unmarshal(b, &base); err != nil {
				return nil, fmt.Errorf("the base image's config: %w", err)
			}
			c, _ := im.ReproducibleConfig(base, merge)
			return json.Marshal(c)
		}
	}
	marshal := []llb.ConstraintsOpt{llb.Platform(cfg.Platform)}
	if o.NoCache {
		marshal = append(marshal, llb.IgnoreCache)
	}
	def, err := state.Marshal(ctx, marshal...)
	if err != nil {
		return err
	}
	entry, wait := export(ctx)
	out := o.ProgressOut
	if out == nil {
		out = io.Discard
	}
	display, err := progressui.NewDisplay(out, progressui.DisplayMode(o.Progress))
	if err != nil {
		return fmt.Errorf("progress %q: %w", o.Progress, err)
	}
	ch := make(chan *bkclient.SolveStatus)
	shown := make(chan *bkclient.SolveStatus)
	displayed := make(chan struct{})
	var said stepLines
	go func() {
		defer close(shown)
		for s := range ch {
			said.scan(s)
			shown <- s
		}
	}()
	go func() {
		defer close(displayed)
		display.UpdateFrom(context.WithoutCancel(ctx), shown) //nolint:errcheck // the solve's error is the one that matters
	}()
	err = c.Solve(ctx, def, config, entry, ch)
	<-displayed
	if err != nil {
		if said.line != "" {
			return &stepSaid{Line: said.line, Err: err}
		}
		return err
	}
	return wait()
}

// stepLines keeps the last line a build step printed that starts with
// definition.PackageMismatchLine: BuildKit's error carries a step's exit
// status, not its output, and that line names the package and versions.
type stepLines struct {
	partial []byte
	line    string
}

func (l *stepLines) scan(s *bkclient.SolveStatus) {
	for _, log := range s.Logs {
		l.partial = append(l.partial, log.Data...)
		for {
			i := bytes.IndexByte(l.partial, '\n')
			if i < 0 {
				break
			}
			if line := strings.TrimSpace(string(l.partial[:i])); strings.HasPrefix(line, definition.PackageMismatchLine) {
				l.line = line
			}
			l.partial = l.partial[i+1:]
		}
	}
}

// stepSaid is a failed solve with what the failing step said.
type stepSaid struct {
	Line string
	Err  error
}

func (e *stepSaid) Error() string { return e.Err.Error() }
func (e *stepSaid) Unwrap() error { return e.Err }

// minAPIVersion is Docker 19.03's API, the first whose embedded BuildKit
// serves /grpc and /session to clients.
const minAPIVersion = "1.40"

// DaemonTooOldError is a Docker daemon whose API predates BuildKit access.
type DaemonTooOldError struct{ APIVersion string }

func (e *DaemonTooOldError) Error() string {
	return fmt.Sprintf("the Docker daemon speaks API %s; building needs %s (Docker 19.03) or newer", e.APIVersion, minAPIVersion)
}

// Hint says what to do about it.
func (e *DaemonTooOldError) Hint() string {
	return "upgrade Docker, or build with a standalone buildkitd: --builder unix:///run/buildkit/buildkitd.sock"
}

// NoBuildKitError is a daemon without BuildKit.
type NoBuildKitError struct{ Err error }

func (e *NoBuildKitError) Error() string {
	return fmt.Sprintf("the Docker daemon's BuildKit does not answer: %v", e.Err)
}

func (e *NoBuildKitError) Unwrap() error { return e.Err }

// Hint says what to do about it.
func (e *NoBuildKitError) Hint() string {
	return "use Docker 20.10 or newer with BuildKit enabled, or a standalone buildkitd with --builder unix:///run/buildkit/buildkitd.sock"
}

// BuilderError is a standalone buildkitd (--builder, BUILDKIT_HOST) that
// cannot be reached.
type BuilderError struct {
	Target Target
	Err    error
}

func (e *BuilderError) Error() string {
	reason := firstLine(e.Err.Error())
	if _, desc, ok := strings.Cut(reason, "desc = "); ok {
		reason = strings.Trim(desc, `"`) // gRPC's "connection error: desc = "…"" wording
	}
	return fmt.Sprintf("%s does not answer: %v", e.Target, reason)
}

func (e *BuilderError) Unwrap() error { return e.Err }

// Hint says what to do about it.
func (e *BuilderError) Hint() string {
	if strings.HasPrefix(e.Target.Addr, "tcp://") {
		return "check that buildkitd listens there; with mutual TLS give --tlscacert, --tlscert and --tlskey (or --tlsdir, or BUILDKIT_TLS_*)"
	}
	return "start buildkitd there, or unset BUILDKIT_HOST (and drop --builder) to build with the Docker daemon's BuildKit"
}

// digestMismatchRe is BuildKit's HTTP source failing its checksum.
var digestMismatchRe = regexp.MustCompile(`digest mismatch (sha256:[0-9a-f]{64}): (sha256:[0-9a-f]{64})`)

// explain turns BuildKit's failures into the errors ws reports: a checksum
// mismatch names the tool, platform and URL it belongs to.
func explain(err error, im *definition.Image) error {
	msg := err.Error()
	if m := digestMismatchRe.FindStringSubmatch(msg); m != nil {
		// BuildKit versions disagree on the order of the two digests: the
		// pinned one is whichever the lock holds.
		first, second := strings.TrimPrefix(m[1], "sha256:"), strings.TrimPrefix(m[2], "sha256:")
		for _, a := range im.Artifacts {
			switch a.SHA256 {
			case first:
				return &lock.ChecksumError{Tool: a.Tool, Platform: a.Platform, URL: a.URL, Want: first, Got: second}
			case second:
				return &lock.ChecksumError{Tool: a.Tool, Platform: a.Platform, URL: a.URL, Want: second, Got: first}
			}
		}
	}
	for _, a := range im.Artifacts {
		if strings.Contains(msg, a.URL) {
			reason := lastLine(msg)
			if i := strings.LastIndex(reason, a.URL+`": `); i >= 0 {
				reason = reason[i+len(a.URL)+3:] // Go's `Get "URL": ` prefix; the URL is said already
			}
			return &lock.DownloadError{Tool: a.Tool, Platform: a.Platform, URL: a.URL, Err: errors.New(reason)}
		}
	}
	if m := packageStepExitRe.FindStringSubmatch(msg); m != nil && im.Lock.Base.Snapshot != nil {
		code, _ := strconv.Atoi(m[1])
		switch i := code - definition.PackageMissingExit; {
		case i >= 0 && i < len(im.Packages):
			p := im.Packages[i]
			return &PackageError{Package: lock.PackageName(p), Version: lock.PackageVersion(p), Archive: archiveOf(im)}
		case code == definition.PackageMismatchExit:
			pe := &PackageError{Archive: archiveOf(im)}
			var said *stepSaid
			if errors.As(err, &said) {
				// "ws: package NAME is at FOUND, tools.lock pins WANTED"
				rest := strings.TrimPrefix(said.Line, definition.PackageMismatchLine)
				name, rest, _ := strings.Cut(rest, " is at ")
				found, wanted, ok := strings.Cut(rest, ", tools.lock pins ")
				if ok {
					pe.Package, pe.Version, pe.Found = name, wanted, found
				}
			}
			return pe
		}
	}
	if credentials.IsAuthFailure(err) {
		// The only registry a build reaches is the base image's.
		if host, herr := credentials.Host(im.Lock.Base.Image); herr == nil && strings.Contains(msg, host) {
			return &credentials.LoginError{Registry: host, Err: errors.New(authReason(msg))}
		}
	}
	if strings.Contains(msg, im.Lock.Base.Image) || strings.Contains(msg, "failed to resolve source metadata") {
		reason := lastLine(msg)
		if i := strings.LastIndex(reason, ": "); i >= 0 {
			reason = reason[i+2:] // BuildKit repeats the reference before the reason
		}
		return &BaseImageError{Image: im.Lock.Base.Image, Err: errors.New(reason)}
	}
	return fmt.Errorf("build: %w", err)
}

// authReason is the end of BuildKit's words for a refused pull: "401
// Unauthorized" rather than the chain of cache-key and solve prefixes.
func authReason(msg string) string {
	reason := lastLine(msg)
	if i := strings.LastIndex(reason, "]: "); i >= 0 {
		return reason[i+3:] // "… failed with status code [manifests sha256:…]: 401 Unauthorized"
	}
	if i := strings.LastIndex(reason, ": "); i >= 0 {
		return reason[i+2:]
	}
	return reason
}

// packageStepExitRe is BuildKit's words for the package step failing:
// the command ("… apt-get install …") and its exit status.
// Docker 20.10's BuildKit says "executor failed running [CMD]: exit code: N".
var packageStepExitRe = regexp.MustCompile(`apt-get install [\s\S]*exit code: (\d+)`)

func archiveOf(im *definition.Image) string {
	if s := im.Lock.Base.Snapshot; s != nil {
		return s.URL + " " + s.Suite
	}
	return "the base image's apt sources"
}

// PackageError is a pinned Debian package the archive does not have at its
// pinned version (Package empty: one was installed at another version).
type PackageError struct {
	Package, Version, Archive string
	// Found is the version that got installed instead, when one did.
	Found string
}

func (e *PackageError) Error() string {
	switch {
	case e.Found != "":
		return fmt.Sprintf("package %s got installed at %s from %s; tools.lock pins %s", e.Package, e.Found, e.Archive, e.Version)
	case e.Package == "":
		return fmt.Sprintf("a package from %s was installed at another version than tools.lock pins (the build's log names it)", e.Archive)
	}
	return fmt.Sprintf("package %s=%s is not in %s", e.Package, e.Version, e.Archive)
}

// Hint says what to do about it.
func (e *PackageError) Hint() string {
	return "ws lock bump packages pins each package to the version the lock's snapshot has"
}

// BaseImageError is a base image the builder could not get.
type BaseImageError struct {
	Image string
	Err   error
}

func (e *BaseImageError) Error() string {
	return fmt.Sprintf("base image %s: %v", e.Image, e.Err)
}

func (e *BaseImageError) Unwrap() error { return e.Err }

// Hint says what to do about it.
func (e *BaseImageError) Hint() string {
	return "check the base image reference and digest in tools.lock, and that the builder can reach its registry; `ws lock bump base` re-pins it"
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndex(s, "\n"); i >= 0 {
		s = s[i+1:]
	}
	return s
}
