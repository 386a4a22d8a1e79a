package lock

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// WriteFile writes the lock to path when its bytes differ from what is
// there, atomically: a reader sees the old file or the new one, never half
// of either, and a failure leaves the old file untouched. The edited bytes
// are parsed again first, so an edit can never write an invalid lock.
func (l *Lock) WriteFile(path string) (written bool, err error) {
	out, err := l.Bytes()
	if err != nil {
		return false, err
	}
	if _, err := Parse(l.name, out); err != nil {
		return false, fmt.Errorf("edited lock would not be valid: %w", err)
	}
	old, err := os.ReadFile(path)
	if err == nil && bytes.Equal(old, out) {
		return false, nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("read lock file: %w", err)
	}
	mode := fs.FileMode(0o644)
	if st, err := os.Stat(path); err == nil {
		mode = st.Mode().Perm()
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return false, fmt.Errorf("write lock file: %w", err)
	}
	defer func() {
		if err != nil {
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(out); err != nil {
		tmp.Close()
		return false, fmt.Errorf("write lock file: %w", err)
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return false, fmt.Errorf("write lock file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return false, fmt.Errorf("write lock file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return false, fmt.Errorf("write lock file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return false, fmt.Errorf("write lock file: %w", err)
	}
	l.raw, l.edits = out, nil
	return true, nil
}
