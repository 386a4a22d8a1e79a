package build

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/image"
	dockerclient "github.com/docker/docker/client"
	bkclient "github.com/moby/buildkit/client"
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/solver/pb"

	"github.com/ws-tools/ws/images/credentials"
	"github.com/ws-tools/ws/images/definition"
	"github.com/ws-tools/ws/images/lock"
)

// fakeEngine has the images in has; everything else is unused by Build.
type fakeEngine struct {
	Engine
	has map[string]bool
}

func (f *fakeEngine) ImageInspect(_ context.Context, ref string, _ ...dockerclient.ImageInspectOption) (image.InspectResponse, error) {
	if f.has[ref] {
		return image.InspectResponse{ID: "sha256:x"}, nil
	}
	return image.InspectResponse{}, cerrdefs.ErrNotFound
}

func (f *fakeEngine) DialHijack(context.Context, string, string, map[string][]string) (net.Conn, error) {
	return nil, errors.New("not in tests")
}

// fakeSolver answers each Solve with the next error of errs and keeps the
// definitions it was given.
type fakeSolver struct {
	errs []error
	defs []*llb.Definition
	// logs are what the build's steps print, one status update each.
	logs []string
}

func (f *fakeSolver) Solve(_ context.Context, def *llb.Definition, _ ImageConfig, _ bkclient.ExportEntry, status chan *bkclient.SolveStatus) error {
	for _, l := range f.logs {
		status <- &bkclient.SolveStatus{Logs: []*bkclient.VertexLog{{Data: []byte(l)}}}
	}
	close(status)
	f.defs = append(f.defs, def)
	if len(f.errs) == 0 {
		return nil
	}
	err := f.errs[0]
	f.errs = f.errs[1:]
	return err
}

func (f *fakeSolver) ListWorkers(context.Context) ([]*bkclient.WorkerInfo, error) { return nil, nil }
func (f *fakeSolver) Close() error                                                { return nil }

const twoTools = `format: 1
base:
  image: registry.example/debian:bookworm@sha256:abd67ffcfa541b485a3dff59865ab629aa048a6c613e639d36e7456b0b229241
platforms: [linux/amd64]
tools:
  flux:
    version: v2.9.4
    url: https://example.test/flux_{{trimV .Version}}_{{.OS}}_{{.Arch}}.tar.gz
    extract: flux
    sha256:
      linux/amd64: c2c397a52930f52d2005c01d276116b059d062de379386d58e98115380a766a2
  kubectl:
    version: v1.36.4
    url: https://example.test/{{.Version}}/{{.OS}}/{{.Arch}}/kubectl
    sha256:
      linux/amd64: 8b8f088da2dab964f853b38464033b1be15ede2839eca751482357c45abdd05a
`

func setup(t *testing.T, has map[string]bool, errs ...error) (*Builder, *fakeSolver, *definition.Image) {
	t.Helper()
	l, err := lock.Parse(lock.FileName, []byte(twoTools))
	if err != nil {
		t.Fatal(err)
	}
	im, err := definition.New(l, lock.Platform{OS: "linux", Arch: "amd64"})
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeSolver{errs: errs}
	b := &Builder{Engine: &fakeEngine{has: has}, Dial: func(context.Context, Engine, Target, *credentials.Store) (Solver, error) { return s, nil }}
	return b, s, im
}

func hasMerge(t *testing.T, def *llb.Definition) bool {
	t.Helper()
	for _, dt := range def.Def {
		var op pb.Op
		if err := op.UnmarshalVT(dt); err != nil {
			t.Fatal(err)
		}
		if op.GetMerge() != nil {
			return true
		}
	}
	return false
}

func TestBuildFallsBackToAStackWithoutMerge(t *testing.T) {
	t.Parallel()
	b, s, im := setup(t, nil, errors.New("failed to load LLB: unknown API capability mergeop"))
	res, err := b.Build(context.Background(), im, Options{Progress: "quiet", ProgressOut: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Built || res.Merged || len(s.defs) != 2 || !hasMerge(t, s.defs[0]) || hasMerge(t, s.defs[1]) {
		t.Fatalf("result %+v after %d solves; want a merged try, then a stacked one", res, len(s.defs))
	}
}

func TestBuildMergesWhereItCan(t *testing.T) {
	t.Parallel()
	b, s, im := setup(t, nil)
	res, err := b.Build(context.Background(), im, Options{Progress: "quiet"})
	if err != nil || !res.Merged || len(s.defs) != 1 {
		t.Fatalf("result %+v, %d solves, err %v", res, len(s.defs), err)
	}
}

func TestBuildSkipsAnImageThatExists(t *testing.T) {
	t.Parallel()
	b, s, im := setup(t, nil)
	b.Engine = &fakeEngine{has: map[string]bool{im.Tag(): true}}
	res, err := b.Build(context.Background(), im, Options{Progress: "quiet"})
	if err != nil || res.Built || len(s.defs) != 0 {
		t.Fatalf("result %+v, %d solves, err %v", res, len(s.defs), err)
	}
}

func TestBuildErrorsNameTheirTool(t *testing.T) {
	t.Parallel()
	pin := "8b8f088da2dab964f853b38464033b1be15ede2839eca751482357c45abdd05a"
	other := strings.Repeat("e", 64)
	tests := []struct {
		name   string
		err    string
		check  func(error) bool
		inLine string
	}{
		{"checksum, pinned digest first", "failed to solve: digest mismatch sha256:" + pin + ": sha256:" + other,
			func(err error) bool {
				var ce *lock.ChecksumError
				return errors.As(err, &ce) && ce.Tool == "kubectl" && ce.Want == pin && ce.Got == other
			}, "tools.lock pins sha256:" + pin},
		{"checksum, downloaded digest first", "digest mismatch sha256:" + other + ": sha256:" + pin,
			func(err error) bool {
				var ce *lock.ChecksumError
				return errors.As(err, &ce) && ce.Tool == "kubectl" && ce.Want == pin && ce.Got == other
			}, "download is sha256:" + other},
		{"download", "failed to solve: Get \"https://example.test/flux_2.9.4_linux_amd64.tar.gz\": dial tcp: connection refused",
			func(err error) bool {
				var de *lock.DownloadError
				return errors.As(err, &de) && de.Tool == "flux"
			}, "connection refused"},
		{"base image", "failed to resolve source metadata for registry.example/debian: not found",
			func(err error) bool {
				var be *BaseImageError
				return errors.As(err, &be)
			}, "base image registry.example/debian"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b, _, im := setup(t, nil, errors.New(tt.err))
			_, err := b.Build(context.Background(), im, Options{Progress: "quiet"})
			if err == nil || !tt.check(err) || !strings.Contains(err.Error(), tt.inLine) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("got %T %v", err, err)
			}
		})
	}
}

// BuildKit's error carries the package step's exit status only; the step's
// own line (split over two log updates here) names the package and both
// versions.
func TestBuildNamesAPackageInstalledAtAnotherVersion(t *testing.T) {
	t.Parallel()
	text := strings.Replace(twoTools, "platforms:", "  packages: [git=1:2.39.5-0+deb12u2]\n  snapshot:\n    url: https://snapshot.debian.org/archive/debian/20261101T000000Z\n    suite: bookworm\nplatforms:", 1)
	l, err := lock.Parse(lock.FileName, []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	im, err := definition.New(l, lock.Platform{OS: "linux", Arch: "amd64"})
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeSolver{
		errs: []error{errors.New(`process "/bin/sh -c set -e; … apt-get install -y git=1:2.39.5-0+deb12u2" did not complete successfully: exit code: 63`)},
		logs: []string{"Unpacking git …\nws: package git is at 1:2.39.5-0+deb", "12u3, tools.lock pins 1:2.39.5-0+deb12u2\n"},
	}
	b := &Builder{Engine: &fakeEngine{}, Dial: func(context.Context, Engine, Target, *credentials.Store) (Solver, error) { return s, nil }}
	_, err = b.Build(context.Background(), im, Options{Progress: "quiet"})
	var pe *PackageError
	want := "package git got installed at 1:2.39.5-0+deb12u3 from https://snapshot.debian.org/archive/debian/20261101T000000Z bookworm; tools.lock pins 1:2.39.5-0+deb12u2"
	if !errors.As(err, &pe) || err.Error() != want {
		t.Fatalf("error %v, want %q", err, want)
	}
}
