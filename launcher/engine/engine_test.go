package engine

import "testing"

func TestOnThisHost(t *testing.T) {
	t.Parallel()
	tests := []struct {
		goos, host string
		want       bool
	}{
		{"linux", "", true},
		{"linux", "unix:///var/run/docker.sock", true},
		{"linux", "tcp://10.0.0.5:2376", false},
		{"linux", "ssh://me@buildbox", false},
		{"darwin", "", false},
	}
	for _, tt := range tests {
		got, why := OnThisHost(tt.goos, tt.host)
		if got != tt.want || (!got && why == "") {
			t.Errorf("OnThisHost(%q, %q) = %v, %q; want %v with a reason when false", tt.goos, tt.host, got, why, tt.want)
		}
	}
}
