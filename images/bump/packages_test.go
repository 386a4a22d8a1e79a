package bump

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ws-tools/ws/images/lock"
)

func TestParseSnapshotTime(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"20261115T013000Z":          "2026-11-15T01:30:00Z",
		"2026-11-15":                "2026-11-15T00:00:00Z",
		"2026-11-15T02:30:00+01:00": "2026-11-15T01:30:00Z",
	} {
		got, err := ParseSnapshotTime(in)
		if err != nil || got.Format(time.RFC3339) != want {
			t.Errorf("%q: %v %v, want %s", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "yesterday", "2026-13-01", "20261115"} {
		if _, err := ParseSnapshotTime(bad); err == nil || !strings.Contains(err.Error(), "is not a time") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestSnapshotFlagNeedsASnapshot(t *testing.T) {
	t.Parallel()
	l, err := lock.Parse(lock.FileName, []byte("format: 1\nbase:\n  image: debian:bookworm@sha256:"+strings.Repeat("a", 64)+"\n  packages: [git]\nplatforms: [linux/amd64]\ntools: {}\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = (&Bumper{}).Plan(context.Background(), l, []string{"packages"}, Options{Snapshot: "2026-11-15"})
	var usage *UsageError
	if !errors.As(err, &usage) || !strings.Contains(err.Error(), "base has no snapshot") {
		t.Fatalf("--snapshot without base.snapshot: %v", err)
	}
}
