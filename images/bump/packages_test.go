package bump

import (
	"strings"
	"testing"
	"time"
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
