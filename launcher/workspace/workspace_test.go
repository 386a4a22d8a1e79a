package workspace

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestFind(t *testing.T) {
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
		got, err := Find(dir)
		if err != nil || got != root {
			t.Fatalf("Find(%s) = %q, %v; want %q", dir, got, err, root)
		}
	}
	outside := t.TempDir()
	_, err := Find(outside)
	var nf *NotFoundError
	if !errors.As(err, &nf) || nf.Dir != outside {
		t.Fatalf("outside a workspace: got %v", err)
	}
}
