package definition

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/solver/pb"
	digest "github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/ws-tools/ws/images/lock"
)

const twoTools = `format: 1
base:
  image: registry.example/debian:bookworm@sha256:abd67ffcfa541b485a3dff59865ab629aa048a6c613e639d36e7456b0b229241
  packages: [bash, git]
platforms: [linux/amd64, linux/arm64]
tools:
  flux:
    version: v2.9.4
    url: https://example.test/flux_{{trimV .Version}}_{{.OS}}_{{.Arch}}.tar.gz
    extract: flux
    sha256:
      linux/amd64: c2c397a52930f52d2005c01d276116b059d062de379386d58e98115380a766a2
      linux/arm64: dcab945f8d8658662fa1db93e150a602ba1f91da367a82e099bd65595fc7c62c
  kubectl:
    version: v1.36.4
    url: https://example.test/{{.Version}}/{{.OS}}/{{.Arch}}/kubectl
    sha256:
      linux/amd64: 8b8f088da2dab964f853b38464033b1be15ede2839eca751482357c45abdd05a
      linux/arm64: 0ecf44450ee6063bf19dd166a103ee6df4a9034455c2abce626e6eea657d73fb
`

var amd64 = lock.Platform{OS: "linux", Arch: "amd64"}

func image(t *testing.T, text string, p lock.Platform) *Image {
	t.Helper()
	l, err := lock.Parse(lock.FileName, []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	im, err := New(l, p)
	if err != nil {
		t.Fatal(err)
	}
	return im
}

// ops decodes a definition into its operations.
func ops(t *testing.T, st llb.State) []*pb.Op {
	t.Helper()
	def, err := st.Marshal(context.Background(), llb.Platform(amd64.OCI()))
	if err != nil {
		t.Fatal(err)
	}
	var out []*pb.Op
	for _, dt := range def.Def {
		var op pb.Op
		if err := op.UnmarshalVT(dt); err != nil {
			t.Fatal(err)
		}
		out = append(out, &op)
	}
	return out
}

func TestLLBOfATwoToolLock(t *testing.T) {
	t.Parallel()
	im := image(t, twoTools, amd64)
	for _, merge := range []bool{true, false} {
		st, err := im.State(Options{Merge: merge})
		if err != nil {
			t.Fatal(err)
		}
		var sources []string
		var merges, execs int
		for _, op := range ops(t, st) {
			switch {
			case op.GetSource() != nil:
				src := op.GetSource()
				if strings.HasPrefix(src.Identifier, "https://") {
					sources = append(sources, src.Identifier+" "+src.Attrs[pb.AttrHTTPChecksum])
				}
			case op.GetMerge() != nil:
				merges++
			case op.GetExec() != nil:
				execs++
			}
		}
		want := []string{
			"https://example.test/flux_2.9.4_linux_amd64.tar.gz sha256:c2c397a52930f52d2005c01d276116b059d062de379386d58e98115380a766a2",
			"https://example.test/v1.36.4/linux/amd64/kubectl sha256:8b8f088da2dab964f853b38464033b1be15ede2839eca751482357c45abdd05a",
		}
		if len(sources) != 2 || !containsAll(sources, want) {
			t.Errorf("merge=%v: HTTP sources %q, want each tool once with its pinned checksum %q", merge, sources, want)
		}
		if (merges == 1) != merge || execs != 1 {
			t.Errorf("merge=%v: %d merge ops, %d exec ops (want the packages' one RUN)", merge, merges, execs)
		}
	}
}

func containsAll(got, want []string) bool {
	for _, w := range want {
		found := false
		for _, g := range got {
			found = found || g == w
		}
		if !found {
			return false
		}
	}
	return true
}

func TestTagNamesTheContentOnly(t *testing.T) {
	t.Parallel()
	base := image(t, twoTools, amd64).Tag()
	tests := []struct {
		name     string
		text     string
		p        lock.Platform
		sameAsIs bool
	}{
		{"same lock", twoTools, amd64, true},
		{"comments and blank lines", "# pinned by the team\n" + strings.ReplaceAll(twoTools, "tools:\n", "\ntools:   # the CLIs\n"), amd64, true},
		{"another version", strings.Replace(twoTools, "version: v1.36.4", "version: v1.36.5", 1), amd64, false},
		{"another checksum of this platform", strings.Replace(twoTools, "8b8f088da2dab964", "9b8f088da2dab964", 1), amd64, false},
		{"another checksum of another platform", strings.Replace(twoTools, "0ecf44450ee6063b", "1ecf44450ee6063b", 1), amd64, true},
		{"another package", strings.Replace(twoTools, "[bash, git]", "[bash, git, less]", 1), amd64, false},
		{"another platform", twoTools, lock.Platform{OS: "linux", Arch: "arm64"}, false},
		{"a shared image repository", twoTools + "image: evil.example/ws\n", amd64, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := image(t, tt.text, tt.p).Tag()
			if (got == base) != tt.sameAsIs {
				t.Fatalf("tag %s vs %s: same=%v, want same=%v", got, base, got == base, tt.sameAsIs)
			}
		})
	}
}

func TestConfigRunsTheEntrypointAndLabelsThePins(t *testing.T) {
	t.Parallel()
	im := image(t, twoTools, amd64)
	cfg := im.Config()
	if cfg.Config.Entrypoint[0] != "/usr/local/lib/ws/entrypoint" || cfg.Config.Labels[LabelLockHash] != im.Hash ||
		cfg.Config.Labels[LabelToolPrefix+"kubectl.version"] != "v1.36.4" || cfg.Architecture != "amd64" {
		t.Fatalf("config %+v", cfg)
	}
}

// A zip (tflint's releases are zips only) is unpacked by the package
// stage's unzip, which the image then gets too.
func TestZipToolIsUnpackedByUnzip(t *testing.T) {
	t.Parallel()
	zipped := strings.Replace(twoTools, "flux_{{trimV .Version}}_{{.OS}}_{{.Arch}}.tar.gz", "flux_{{.OS}}_{{.Arch}}.zip", 1)
	im := image(t, zipped, amd64)
	if !slices.Contains(im.Packages, "unzip") || im.Tag() == image(t, twoTools, amd64).Tag() {
		t.Fatalf("packages %v; a zip tool must add unzip and change the tag", im.Packages)
	}
	st, err := im.State(Options{Merge: true})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, op := range ops(t, st) {
		if e := op.GetExec(); e != nil && strings.Contains(strings.Join(e.Meta.Args, " "), "unzip -p") {
			found = strings.HasSuffix(strings.Join(e.Meta.Args, " "), "/in/flux_linux_amd64.zip flux")
		}
	}
	if !found {
		t.Fatal("no unzip step for the zipped tool")
	}
}

// The snapshot, its key and the package versions are in the tag; the
// package step uses the pinned archive only.
func TestSnapshotIsInTheTag(t *testing.T) {
	withSnapshot := func(url, version string) string {
		return strings.Replace(twoTools, "  packages: [bash, git]\n", "  packages: [bash, git="+version+"]\n  snapshot:\n    url: "+url+"\n    suite: bookworm\n", 1)
	}
	base := image(t, withSnapshot("https://snapshot.debian.org/archive/debian/20261101T000000Z", "1:2.39.5-0+deb12u2"), amd64)
	for name, other := range map[string]string{
		"another snapshot": withSnapshot("https://snapshot.debian.org/archive/debian/20261201T000000Z", "1:2.39.5-0+deb12u2"),
		"another version":  withSnapshot("https://snapshot.debian.org/archive/debian/20261101T000000Z", "1:2.39.5-0+deb12u3"),
		"no snapshot":      twoTools,
	} {
		if image(t, other, amd64).Tag() == base.Tag() {
			t.Errorf("%s: same tag %s", name, base.Tag())
		}
	}
	st, err := base.State(Options{Merge: true})
	if err != nil {
		t.Fatal(err)
	}
	var script string
	for _, op := range ops(t, st) {
		if e := op.GetExec(); e != nil {
			script = strings.Join(e.Meta.Args, " ")
			for _, env := range e.Meta.Env {
				if strings.HasPrefix(env, "SOURCE_DATE_EPOCH=") && env != "SOURCE_DATE_EPOCH=1793491200" {
					t.Errorf("env %s, want the snapshot's time", env)
				}
			}
		}
	}
	for _, want := range []string{
		"deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] https://snapshot.debian.org/archive/debian/20261101T000000Z bookworm main",
		`Acquire::Check-Valid-Until "false";`,
		"git=1:2.39.5-0+deb12u2",
		"export APT_CONFIG=/tmp/ws-apt/apt.conf",
	} {
		if !strings.Contains(script, want) {
			t.Errorf("the package step lacks %q:\n%s", want, script)
		}
	}
}

// With a pinned archive the config's times are the snapshot's, and its
// history has one entry per layer: the base's, the package step's, then
// the tools' (one each when merged, one for all when stacked).
func TestReproducibleConfig(t *testing.T) {
	withSnapshot := strings.Replace(twoTools, "  packages: [bash, git]\n", "  packages: [bash, git]\n  snapshot:\n    url: https://snapshot.debian.org/archive/debian/20261101T000000Z\n    suite: bookworm\n", 1)
	im := image(t, withSnapshot, amd64)
	baseTime := time.Date(2026, 10, 20, 0, 0, 0, 0, time.UTC)
	base := ocispecs.Image{
		Created: &baseTime,
		RootFS:  ocispecs.RootFS{Type: "layers", DiffIDs: []digest.Digest{"sha256:aa"}},
		History: []ocispecs.History{{Created: &baseTime, CreatedBy: "debuerreotype"}, {Created: &baseTime, CreatedBy: "CMD bash", EmptyLayer: true}},
	}
	for merged, want := range map[bool]int{true: 2 + 1 + 1 + len(im.Lock.Tools), false: 2 + 1 + 1} {
		cfg, ok := im.ReproducibleConfig(base, merged)
		if !ok || cfg.Created == nil || cfg.Created.Format(time.RFC3339) != "2026-11-01T00:00:00Z" {
			t.Fatalf("merged %v: created %v, ok %v", merged, cfg.Created, ok)
		}
		if len(cfg.History) != want || cfg.History[0].CreatedBy != "debuerreotype" || !strings.HasPrefix(cfg.History[2].CreatedBy, "apt-get install bash git") {
			t.Fatalf("merged %v: history %+v", merged, cfg.History)
		}
		for _, h := range cfg.History[2:] {
			if !h.Created.Equal(*cfg.Created) {
				t.Fatalf("merged %v: a layer of ws's made at %v", merged, h.Created)
			}
		}
	}
	// A base whose history does not count its layers gets one entry per layer.
	base.History = nil
	base.RootFS.DiffIDs = []digest.Digest{"sha256:aa", "sha256:bb"}
	if cfg, _ := im.ReproducibleConfig(base, true); len(cfg.History) != 2+1+1+len(im.Lock.Tools) {
		t.Fatalf("history %+v", cfg.History)
	}
	if _, ok := image(t, twoTools, amd64).ReproducibleConfig(base, true); ok {
		t.Fatal("a lock without a snapshot got a reproducible config")
	}
}

// The package step's checks, run by a real shell against stand-ins for
// apt-cache and dpkg-query: a version the archive lacks exits with its
// package's status; one installed at another version says which, and what.
func TestVersionChecks(t *testing.T) {
	bin := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(bin, name), []byte("#!/bin/sh\n"+body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write("apt-cache", `case "$2" in git) echo "       git | 1:2.39.5-0+deb12u2 | http://x bookworm/main amd64 Packages";; bash) echo "      bash |   5.2.15-2+b7 | http://x bookworm/main amd64 Packages";; esac`+"\n")
	write("dpkg-query", `case "$3" in git) printf 1:2.39.5-0+deb12u2;; bash) printf 5.2.15-2+b8;; esac`+"\n")
	run := func(script string) (int, string) {
		cmd := exec.Command("/bin/sh", "-c", script+"exit 0")
		cmd.Env = []string{"PATH=" + bin + ":/usr/bin:/bin"}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		err := cmd.Run()
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return exit.ExitCode(), stderr.String()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0, stderr.String()
	}
	have, check := versionChecks([]string{"git=1:2.39.5-0+deb12u2", "bash=5.2.15-2+b7", "curl"})
	if code, out := run(have); code != 0 {
		t.Fatalf("both versions are offered, yet exit %d: %s", code, out)
	}
	code, out := run(check)
	if code != PackageMismatchExit || strings.TrimSpace(out) != PackageMismatchLine+"bash is at 5.2.15-2+b8, tools.lock pins 5.2.15-2+b7" {
		t.Fatalf("bash installed at another version: exit %d, %q", code, out)
	}
	have, _ = versionChecks([]string{"git=1:2.39.5-0+deb12u2", "bash=5.2.15-2+b9"})
	if code, _ := run(have); code != PackageMissingExit+1 {
		t.Fatalf("bash at a version the archive lacks: exit %d, want %d", code, PackageMissingExit+1)
	}
}
