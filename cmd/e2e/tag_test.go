//go:build e2e

package e2e

import (
	"path/filepath"
	"testing"

	"github.com/ws-tools/ws/images/definition"
	"github.com/ws-tools/ws/images/lock"
)

// imageTag is the content-addressed tag ws gives dir's image on this host.
func imageTag(t testing.TB, dir string) string {
	t.Helper()
	l, err := lock.Load(filepath.Join(dir, "tools.lock"))
	if err != nil {
		t.Fatal(err)
	}
	im, err := definition.New(l, lock.HostPlatform())
	if err != nil {
		t.Fatal(err)
	}
	return im.Tag()
}
