// Package workspace finds the repository a ws command works on: the nearest
// folder, from the current one upwards, that holds tools.lock (the way git
// finds .git). It only reads the file system.
package workspace

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/ws-tools/ws/images/lock"
)

// NotFoundError is a directory with no tools.lock in it or above it.
type NotFoundError struct{ Dir string }

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("no %s in %s or any folder above it", lock.FileName, e.Dir)
}

// Hint says what to do about it.
func (e *NotFoundError) Hint() string {
	return "run ws inside a repository that has a " + lock.FileName + ", or point at one with -C DIR"
}

// Find returns the absolute path of the workspace root holding dir.
func Find(dir string) (string, error) {
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
		_, err := os.Stat(filepath.Join(d, lock.FileName))
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

// LockPath is the lock file of a workspace root.
func LockPath(root string) string {
	return filepath.Join(root, lock.FileName)
}
