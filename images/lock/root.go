package lock

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// The workspace root is the nearest folder, from the current one upwards,
// that holds tools.lock (the way git finds .git).

// NotFoundError is a directory with no tools.lock in it or above it.
type NotFoundError struct{ Dir string }

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("no %s in %s or any folder above it", FileName, e.Dir)
}

// Hint says what to do about it.
func (e *NotFoundError) Hint() string {
	return "run ws inside a repository that has a " + FileName + ", or point at one with -C DIR"
}

// FindRoot returns the absolute path of the workspace root holding dir.
func FindRoot(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("find workspace: %w", err)
	}
	if st, err := os.Stat(abs); err != nil {
		return "", fmt.Errorf("find workspace: %w", err)
	} else if !st.IsDir() {
		return "", fmt.Errorf("find workspace: %s is not a directory", abs)
	}
	for d := abs; ; d = filepath.Dir(d) {
		_, err := os.Stat(filepath.Join(d, FileName))
		if err == nil {
			return d, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("find workspace: %w", err)
		}
		if filepath.Dir(d) == d {
			return "", &NotFoundError{Dir: abs}
		}
	}
}

// PathIn is the lock file of a workspace root.
func PathIn(root string) string {
	return filepath.Join(root, FileName)
}
