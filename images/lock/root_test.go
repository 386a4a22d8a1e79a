package lock

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestFindRoot(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	deep := filepath.Join(root, "clusters", "prod", "apps")
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "tools.lock"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{root, deep} {
		got, err := FindRoot(dir)
		if err != nil || got != root {
			t.Fatalf("FindRoot(%s) = %q, %v; want %q", dir, got, err, root)
		}
	}
	outside := t.TempDir()
	_, err := FindRoot(outside)
	var nf *NotFoundError
	if !errors.As(err, &nf) || nf.Dir != outside {
		t.Fatalf("outside a workspace: got %v", err)
	}
}
