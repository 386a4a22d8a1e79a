package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// testEnv runs commands in dir with buffer IO.
func testEnv(dir string) (*Env, *bytes.Buffer, *bytes.Buffer) {
	var stdout, stderr bytes.Buffer
	return &Env{
		Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr,
		Getenv: func(string) string { return "" }, Dir: dir,
		HTTP: &http.Client{}, Log: slog.New(slog.DiscardHandler),
	}, &stdout, &stderr
}

func projectRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func TestVersionNamesCommitAndGo(t *testing.T) {
	t.Parallel()
	e, stdout, _ := testEnv(t.TempDir())
	if code := run(context.Background(), e, []string{"ws", "--version"}); code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"ws ", "commit ", "go1."} {
		if !strings.Contains(stdout.String(), want) {
			t.Fatalf("--version output %q lacks %q", stdout, want)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown command", []string{"ws", "frobnicate"}, "ws: unknown command \"frobnicate\"\nhint: see ws --help\n"},
		{"unknown subcommand", []string{"ws", "lock", "frobnicate"}, "ws: unknown command \"frobnicate\"\nhint: see ws lock --help\n"},
		{"unknown flag", []string{"ws", "lock", "list", "--frobnicate"}, "hint: see ws lock list --help\n"},
		{"bad completion shell", []string{"ws", "completion", "tcsh"}, "ws: completion: want bash, zsh or fish, got \"tcsh\"\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e, _, stderr := testEnv(projectRoot(t))
			if code := run(context.Background(), e, tt.args); code != exitWsFailed {
				t.Fatalf("exit %d, want %d", code, exitWsFailed)
			}
			if !strings.Contains(stderr.String(), tt.want) {
				t.Fatalf("stderr %q lacks %q", stderr, tt.want)
			}
		})
	}
}

func TestHelpDocumentsExitCodes(t *testing.T) {
	t.Parallel()
	e, stdout, _ := testEnv(t.TempDir())
	run(context.Background(), e, []string{"ws", "--help"})
	if !strings.Contains(stdout.String(), "EXIT STATUS:") || !strings.Contains(stdout.String(), "125") {
		t.Fatalf("help lacks the exit codes:\n%s", stdout)
	}
}

func TestLockListJSON(t *testing.T) {
	t.Parallel()
	e, stdout, _ := testEnv(filepath.Join(projectRoot(t), "images"))
	if code := run(context.Background(), e, []string{"ws", "lock", "list", "--json"}); code != 0 {
		t.Fatalf("exit %d", code)
	}
	var out lockListJSON
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Tools) != 6 || out.Tools[2].Name != "flux" || len(out.Tools[2].Artifacts) != 2 {
		t.Fatalf("unexpected list: %+v", out.Tools)
	}
	arm := out.Tools[2].Artifacts[1]
	if arm.Platform != "linux/arm64" || arm.URL != "https://github.com/fluxcd/flux2/releases/download/v2.9.4/flux_2.9.4_linux_arm64.tar.gz" || arm.Member != "flux" {
		t.Fatalf("flux arm64 artifact rendered wrong: %+v", arm)
	}
}

func TestLockListTable(t *testing.T) {
	t.Parallel()
	e, stdout, _ := testEnv(projectRoot(t))
	if code := run(context.Background(), e, []string{"ws", "lock", "list"}); code != 0 {
		t.Fatalf("exit %d", code)
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != 7 || !strings.HasPrefix(lines[1], "kubectl   v1.36.4  linux/amd64,linux/arm64") {
		t.Fatalf("table:\n%s", stdout)
	}
}

func TestVerifyOfflineReportsEachProblem(t *testing.T) {
	t.Parallel()
	good, err := os.ReadFile(filepath.Join(projectRoot(t), "tools.lock"))
	if err != nil {
		t.Fatal(err)
	}
	// Each problem is expected at the position of `at` in the edited file
	// (its nth occurrence), so the test does not depend on the layout of
	// the repository's own tools.lock.
	tests := []struct {
		name     string
		old, new string
		at       string
		nth      int
		want     string
	}{
		{"unknown key", "    extract: flux\n", "    extract: flux\n    strip: 1\n", "strip: 1", 0, `tool "flux": unknown key "strip" in tool`},
		{"duplicate tool", "  yq:\n", "  helm:\n", "helm:\n", 1, `tool "helm": duplicate tool (first defined at line {{line "helm:\n" 0}})`},
		{"missing checksum", "      linux/arm64: 0ecf44450ee6063bf19dd166a103ee6df4a9034455c2abce626e6eea657d73fb\n", "", "sha256:\n", 0, `tool "kubectl": no sha256 for platform linux/arm64`},
		{"malformed hex", "8b8f088da2dab964f853b38464033b1be15ede2839eca751482357c45abdd05a", "8b8f088da2dab964f853b38464033b1be15ede2839eca751482357c45abdd05", "8b8f088da2dab964f853b38464033b1be15ede2839eca751482357c45abdd05", 0, `tool "kubectl": sha256 for linux/amd64 must be 64 lowercase hex digits`},
		{"unpinned base", "@sha256:abd67ffcfa541b485a3dff59865ab629aa048a6c613e639d36e7456b0b229241", "", "docker.io/library/debian", 0, `base image "docker.io/library/debian:bookworm-slim" is not pinned by digest`},
		{"template", "{{trimV .Version}}_{{.OS}}", "{{trimV .Version}}_{{.Os}}", "https://github.com/fluxcd", 0, `tool "flux": url template does not render: unknown field .Os`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			bad := strings.Replace(string(good), tt.old, tt.new, 1)
			if bad == string(good) {
				t.Fatalf("%q not in tools.lock", tt.old)
			}
			if err := os.WriteFile(filepath.Join(dir, "tools.lock"), []byte(bad), 0o644); err != nil {
				t.Fatal(err)
			}
			e, _, stderr := testEnv(dir)
			if code := run(context.Background(), e, []string{"ws", "lock", "verify", "--offline"}); code != exitWsFailed {
				t.Fatalf("exit %d, want %d", code, exitWsFailed)
			}
			line, col := position(t, bad, tt.at, tt.nth)
			want := fmt.Sprintf("tools.lock:%d:%d: %s", line, col, tt.want)
			if i := strings.Index(want, "{{line "); i >= 0 {
				first, _ := position(t, bad, "helm:\n", 0)
				want = want[:i] + strconv.Itoa(first) + ")"
			}
			if !strings.Contains(stderr.String(), "ws: "+want) || !strings.Contains(stderr.String(), "\nhint: ") {
				t.Fatalf("stderr lacks %q and a hint:\n%s", want, stderr)
			}
		})
	}
}

func TestUnpinnedBaseOptInWarns(t *testing.T) {
	t.Parallel()
	good, err := os.ReadFile(filepath.Join(projectRoot(t), "tools.lock"))
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(good), "@sha256:abd67ffcfa541b485a3dff59865ab629aa048a6c613e639d36e7456b0b229241", "", 1)
	text = strings.Replace(text, "  packages:\n", "  allow_unpinned: true\n  packages:\n", 1)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "tools.lock"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	e, _, stderr := testEnv(dir)
	if code := run(context.Background(), e, []string{"ws", "lock", "verify", "--offline"}); code != 0 {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	line, col := position(t, text, "docker.io/library/debian", 0)
	if !strings.Contains(stderr.String(), fmt.Sprintf("ws: warning: tools.lock:%d:%d: base image", line, col)) {
		t.Fatalf("no warning:\n%s", stderr)
	}
}

// position is the 1-based line and column of the nth (from 0) occurrence
// of substr in text.
func position(t *testing.T, text, substr string, nth int) (line, col int) {
	t.Helper()
	off := -1
	for i := 0; i <= nth; i++ {
		j := strings.Index(text[off+1:], substr)
		if j < 0 {
			t.Fatalf("%q occurs fewer than %d times", substr, nth+1)
		}
		off += 1 + j
	}
	before := text[:off]
	return strings.Count(before, "\n") + 1, off - strings.LastIndex(before, "\n")
}
