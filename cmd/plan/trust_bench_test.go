package plan

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ws-tools/ws/images/lock"
)

// BenchmarkTrustCheck is what consent adds to every ws exec of a trusted
// workspace (owner checks, reading the record, the lock's reach and the
// comparison), against the baseline every run pays anyway: loading and
// validating tools.lock. The target is ≤ 2 ms.
func BenchmarkTrustCheck(b *testing.B) {
	root := b.TempDir()
	src, err := os.ReadFile("../../tools.lock")
	if err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(root, lock.FileName)
	if err := os.WriteFile(path, src, 0o644); err != nil {
		b.Fatal(err)
	}
	l, err := lock.Load(path)
	if err != nil {
		b.Fatal(err)
	}
	store := Store{Dir: b.TempDir()}
	if err := store.Save(root, l.Reach()); err != nil {
		b.Fatal(err)
	}
	var check, load time.Duration
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		v, err := CheckTrust(store, root, path, l, os.Getuid(), false)
		if err != nil || !v.Trusted() {
			b.Fatalf("not trusted: %v", err)
		}
		t1 := time.Now()
		if _, err := lock.Load(path); err != nil {
			b.Fatal(err)
		}
		check += t1.Sub(t0)
		load += time.Since(t1)
	}
	b.ReportMetric(float64(check.Microseconds())/1000/float64(b.N), "trust-check-ms")
	b.ReportMetric(float64(load.Microseconds())/1000/float64(b.N), "lock-load-ms")
	b.ReportMetric(float64(check)/float64(load), "ratio")
}
