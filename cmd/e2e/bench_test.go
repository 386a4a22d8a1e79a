//go:build e2e

package e2e

import (
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ws-tools/ws/cmd/e2e/testenv"
)

// timeIt runs f and returns how long it took.
func timeIt(tb testing.TB, f func()) time.Duration {
	tb.Helper()
	start := time.Now()
	f()
	return time.Since(start)
}

// BenchmarkBuildWarm: ws build when the image exists, against
// `docker image inspect` of it in the same run (target: ws/inspect <= 1.5).
func BenchmarkBuildWarm(b *testing.B) {
	in := needInfra(b)
	w := newBuildWorkspace(b, in)
	tag, r := w.build(b)
	if r.code != 0 {
		b.Fatalf("build exited %d", r.code)
	}
	var ws, inspect time.Duration
	for i := 0; i < b.N; i++ {
		ws += timeIt(b, func() {
			if err := exec.Command(wsBin, "-C", w.dir, "build").Run(); err != nil {
				b.Fatal(err)
			}
		})
		inspect += timeIt(b, func() {
			if err := exec.Command("docker", "image", "inspect", tag).Run(); err != nil {
				b.Fatal(err)
			}
		})
	}
	b.ReportMetric(float64(ws.Milliseconds())/float64(b.N), "ws-build-ms")
	b.ReportMetric(float64(inspect.Milliseconds())/float64(b.N), "docker-inspect-ms")
	b.ReportMetric(float64(ws)/float64(inspect), "ratio")
}

// BenchmarkBuildBumpOneTool: bump one tool and rebuild, against a cold
// build (--no-cache) of the same lock (target: bump/cold <= 0.2), and the
// image's size beyond base + Debian packages + tool binaries (target <= 1 MB).
func BenchmarkBuildBumpOneTool(b *testing.B) {
	in := needInfra(b)
	for _, builder := range []string{"docker", "buildkitd"} {
		b.Run(builder, func(b *testing.B) {
			var args []string
			if builder == "buildkitd" {
				args = []string{"--builder", needBuildkitd(b).Addr}
			}
			var cold, bump time.Duration
			var overhead int64
			for i := 0; i < b.N; i++ {
				w := newBuildWorkspace(b, in)
				cold += timeIt(b, func() {
					if _, r := w.build(b, append(args, "--no-cache")...); r.code != 0 {
						b.Fatalf("cold build exited %d", r.code)
					}
				})
				bumped := testenv.ScriptTool("hello", fmt.Sprintf("v9.%d.%d", time.Now().UnixNano(), i), amd64)
				w.server.Add(bumped)
				w.tools[1] = bumped
				w.writeLock(b)
				var tag string
				bump += timeIt(b, func() {
					var r result
					if tag, r = w.build(b, args...); r.code != 0 {
						b.Fatalf("build after bump exited %d", r.code)
					}
				})
				overhead = sizeOverhead(b, in, w, tag, args)
			}
			b.ReportMetric(float64(cold.Milliseconds())/float64(b.N), "cold-ms")
			b.ReportMetric(float64(bump.Milliseconds())/float64(b.N), "bump-rebuild-ms")
			b.ReportMetric(float64(bump)/float64(cold), "ratio")
			b.ReportMetric(float64(overhead), "overhead-bytes")
		})
	}
}

// sizeOverhead is the image's size minus the same lock's image without tools
// (base + Debian packages) minus the tools' binaries.
func sizeOverhead(b *testing.B, in *infra, w *buildWorkspace, tag string, args []string) int64 {
	b.Helper()
	bare := &buildWorkspace{dir: b.TempDir(), server: w.server, url: w.url, kubectl: w.kubectl, base: w.base}
	bare.writeLock(b)
	bareTag, r := bare.build(b, args...)
	if r.code != 0 {
		b.Fatalf("tool-less build exited %d", r.code)
	}
	var binaries int64
	for _, t := range w.tools {
		n, err := strconv.ParseInt(strings.TrimSpace(dockerOut(b, "run", "--rm", "--label", "ws.e2e=1", "--entrypoint", "", tag, "stat", "-c", "%s", "/usr/local/bin/"+t.Name)), 10, 64)
		if err != nil {
			b.Fatal(err)
		}
		binaries += n
	}
	size := func(ref string) int64 {
		n, err := strconv.ParseInt(strings.TrimSpace(dockerOut(b, "image", "inspect", "--format", "{{.Size}}", ref)), 10, 64)
		if err != nil {
			b.Fatal(err)
		}
		return n
	}
	return size(tag) - size(bareTag) - binaries
}
