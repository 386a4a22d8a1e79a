//go:build e2e

// Package e2e runs the built ws binary against real parts: a Docker engine,
// a local registry holding a Debian base made with debootstrap, an artifact
// server in this process and Debian's real kubectl. Run with
// `make test-e2e`; with WS_E2E_REQUIRE=1 (CI) a missing part fails the run
// instead of skipping.
package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ws-tools/ws/cmd/e2e/testenv"
)

// wsBin is the ws binary under test, built once by TestMain.
var wsBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ws-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Chmod(dir, 0o755) // tests run ws as other users too
	wsBin = filepath.Join(dir, "ws")
	// Every ws the tests start (directly, in tmux, as root) keeps its trust
	// records and cache here, never in the developer's own dirs.
	os.Setenv("XDG_STATE_HOME", filepath.Join(dir, "state"))
	os.Setenv("XDG_CACHE_HOME", filepath.Join(dir, "cache"))
	os.Unsetenv("WS_TRUST")
	// The tests of one run per container say so here; the kept
	// workspace's own tests (kept_test.go) clear it.
	os.Setenv("WS_FRESH", "1")
	// ws-sops beside ws, as make install puts it.
	for _, b := range [][2]string{{wsBin, "github.com/ws-tools/ws/cmd/ws"}, {filepath.Join(dir, "ws-sops"), "github.com/ws-tools/ws/cmd/ws-sops"}} {
		build := exec.Command("go", "build", "-o", b[0], b[1])
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "build", b[1]+":", err)
			os.Exit(1)
		}
	}
	// The benchmarks decrypt in this process, with the same helper.
	os.Setenv("WS_SOPS_HELPER", filepath.Join(dir, "ws-sops"))
	code := m.Run()
	buildkitdVal.Stop()
	authRegistryVal.Stop()
	os.RemoveAll(dir)
	os.Exit(code)
}

// unavailable skips a test whose real part is missing, or fails it when
// WS_E2E_REQUIRE is set: CI must never pass by skipping.
func unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv(testenv.EnvRequire) != "" {
		t.Fatalf("e2e prerequisite missing (%s is set, so this fails instead of skipping): "+format,
			append([]any{testenv.EnvRequire}, args...)...)
	}
	t.Skipf("e2e prerequisite missing: "+format, args...)
}

// infra is the registry and base image, made once per run.
type infra struct {
	cache    string
	registry *testenv.Registry
	base     string // digest-pinned base reference
	kubectl  *testenv.Kubectl
}

var (
	infraOnce sync.Once
	infraVal  *infra
	infraErr  error
)

func needInfra(t testing.TB) *infra {
	t.Helper()
	if err := exec.Command("docker", "info").Run(); err != nil {
		unavailable(t, "no Docker engine answers (docker info: %v)", err)
	}
	infraOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		in := &infra{}
		if in.cache, infraErr = testenv.CacheDir(); infraErr != nil {
			return
		}
		if in.registry, infraErr = testenv.EnsureRegistry(ctx, in.cache); infraErr != nil {
			return
		}
		progress := func(s string) { fmt.Fprintln(os.Stderr, "e2e setup:", s) }
		if in.base, infraErr = testenv.EnsureBase(ctx, in.registry, in.cache, progress); infraErr != nil {
			return
		}
		if in.kubectl, infraErr = testenv.DebianKubectl(ctx, in.cache); infraErr != nil {
			return
		}
		infraVal = in
	})
	if infraErr != nil {
		unavailable(t, "%v", infraErr)
	}
	return infraVal
}

// artifactServer serves tools from this process for the test's lifetime.
func artifactServer(t testing.TB, tools ...testenv.Tool) (*testenv.ArtifactServer, string) {
	t.Helper()
	s := testenv.NewArtifactServer(tools...)
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return s, srv.URL
}

// trust is the test's consent to its own workspace: `ws trust` there, as
// a user would after reading `ws trust --show`.
func trust(t testing.TB, dir string) {
	t.Helper()
	if r := runWs(t, dir, "trust"); r.code != 0 {
		t.Fatalf("ws trust exited %d", r.code)
	}
}

// result is one run of the ws binary.
type result struct {
	stdout, stderr string
	code           int
}

// runWs runs ws in dir with an isolated HOME and XDG dirs.
func runWs(t testing.TB, dir string, args ...string) result {
	t.Helper()
	home := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, wsBin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"HOME="+home,
		"XDG_CONFIG_HOME="+filepath.Join(home, ".config"),
		"XDG_RUNTIME_DIR="+filepath.Join(home, "run"),
	)
	return collect(t, cmd)
}

// collect runs cmd and returns its output and exit code.
func collect(t testing.TB, cmd *exec.Cmd) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run %v: %v", cmd.Args, err)
	}
	t.Logf("%v -> %d\nstdout:\n%s\nstderr:\n%s", cmd.Args[1:], code, stdout.String(), stderr.String())
	return result{stdout.String(), stderr.String(), code}
}

var (
	buildkitdOnce sync.Once
	buildkitdVal  *testenv.Buildkitd
	buildkitdErr  error
)

// needBuildkitd is a standalone buildkitd for this run, stopped by TestMain.
func needBuildkitd(t testing.TB) *testenv.Buildkitd {
	t.Helper()
	in := needInfra(t)
	buildkitdOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		repo, err := filepath.Abs("../..")
		if err != nil {
			buildkitdErr = err
			return
		}
		fmt.Fprintln(os.Stderr, "e2e setup: building and starting buildkitd")
		buildkitdVal, buildkitdErr = testenv.StartBuildkitd(ctx, repo, in.cache, in.registry.Addr)
	})
	if buildkitdErr != nil {
		unavailable(t, "%v", buildkitdErr)
	}
	return buildkitdVal
}

var (
	sopsOnce sync.Once
	sopsVal  *testenv.Sops
	sopsErr  error
)

// needSops is the real sops CLI, built once per run.
func needSops(t testing.TB) *testenv.Sops {
	t.Helper()
	in := needInfra(t)
	sopsOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		repo, err := filepath.Abs("../..")
		if err != nil {
			sopsErr = err
			return
		}
		fmt.Fprintln(os.Stderr, "e2e setup: building sops")
		sopsVal, sopsErr = testenv.BuildSops(ctx, repo, in.cache)
	})
	if sopsErr != nil {
		unavailable(t, "%v", sopsErr)
	}
	return sopsVal
}

var (
	authRegistryOnce sync.Once
	authRegistryVal  *testenv.AuthRegistry
	authRegistryErr  error
)

// needAuthRegistry is a registry that wants a login (htpasswd), with a
// password made for this run, stopped by TestMain.
func needAuthRegistry(t testing.TB) *testenv.AuthRegistry {
	t.Helper()
	needInfra(t)
	authRegistryOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		dir, err := os.MkdirTemp("", "ws-e2e-auth-registry-")
		if err != nil {
			authRegistryErr = err
			return
		}
		authRegistryVal, authRegistryErr = testenv.StartAuthRegistry(ctx, dir, "ws-e2e", fmt.Sprintf("pw-%d-secret", time.Now().UnixNano()))
	})
	if authRegistryErr != nil {
		unavailable(t, "%v", authRegistryErr)
	}
	return authRegistryVal
}
