package bump

import (
	"strings"
	"testing"
	"time"
)

func TestPick(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	// Newest first by publication, as GitHub lists them: a patch of an older
	// minor line (v1.35.9) came out after v1.36.4.
	releases := []Release{
		{Tag: "v1.37.0-rc.0", Prerelease: true, PublishedAt: now.Add(-1 * day)},
		{Tag: "v1.35.9", PublishedAt: now.Add(-2 * day)},
		{Tag: "v1.36.5", Draft: true, PublishedAt: now.Add(-3 * day)},
		{Tag: "v1.36.4", PublishedAt: now.Add(-3 * day)},
		{Tag: "nightly", PublishedAt: now.Add(-4 * day)},
		{Tag: "v1.36.3", PublishedAt: now.Add(-20 * day)},
	}
	b := &Bumper{Now: func() time.Time { return now }}
	tests := []struct {
		name     string
		current  string
		opts     Options
		want     string // "" for no release
		wantNote string
	}{
		{"newest stable by version, not by date", "v1.36.3", Options{}, "v1.36.4", ""},
		{"pre-releases on request", "v1.36.3", Options{Pre: true}, "v1.37.0-rc.0", ""},
		{"never downgrade", "v1.36.4", Options{}, "", "up to date"},
		{"cooldown", "v1.36.3", Options{MinAge: 7 * day}, "", "skipped v1.36.4: published 72h0m0s ago, younger than --min-age 168h0m0s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, note := b.pick(releases, tt.current, tt.opts)
			got := ""
			if r != nil {
				got = r.Tag
			}
			noteOK := strings.Contains(note, tt.wantNote)
			if tt.wantNote == "" {
				noteOK = note == "" // a release picked needs no excuse
			}
			if got != tt.want || !noteOK {
				t.Fatalf("pick = %q (%q), want %q (%q)", got, note, tt.want, tt.wantNote)
			}
		})
	}
}
