package app

import (
	"strings"
	"testing"
)

func TestInterspersedFlags(t *testing.T) {
	t.Parallel()
	e, _, _ := testEnv(t.TempDir())
	app := newApp(e)
	tests := []struct{ in, want string }{
		{"ws lock bump flux --to v2 --dry-run", "ws lock bump --to v2 --dry-run flux"},
		{"ws -C dir lock bump flux --json", "ws -C dir lock bump --json flux"},
		{"ws lock bump --to=v2 flux helm", "ws lock bump --to=v2 flux helm"},
		{"ws lock verify --offline", "ws lock verify --offline"},
		{"ws lock bump flux -- --to", "ws lock bump flux -- --to"},
	}
	for _, tt := range tests {
		got := strings.Join(interspersed(app, strings.Fields(tt.in)), " ")
		if got != tt.want {
			t.Errorf("%q -> %q, want %q", tt.in, got, tt.want)
		}
	}
}
