package lock

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteFileOnlyWhenChanged(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), FileName)
	must(t, os.WriteFile(path, []byte(validLock), 0o600))
	l, err := Load(path)
	must(t, err)
	written, err := l.WriteFile(path)
	must(t, err)
	if written {
		t.Fatal("an unchanged lock was rewritten")
	}
	must(t, l.SetVersion("kubectl", "v1.37.0"))
	written, err = l.WriteFile(path)
	must(t, err)
	got, err := os.ReadFile(path)
	must(t, err)
	if !written || !strings.Contains(string(got), "version: v1.37.0") {
		t.Fatalf("edit not written:\n%s", got)
	}
	st, err := os.Stat(path)
	must(t, err)
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("file mode changed to %v", st.Mode().Perm())
	}
	entries, err := os.ReadDir(filepath.Dir(path))
	must(t, err)
	if len(entries) != 1 {
		t.Fatalf("temporary files left behind: %v", entries)
	}
}
