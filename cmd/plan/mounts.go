package plan

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/ws-tools/ws/launcher"
)

// expandMounts resolves the workspace section's mount sources: relative to
// the workspace root, ~/ to the caller's home.
func expandMounts(mounts []string, root, home string) []string {
	out := make([]string, 0, len(mounts))
	for _, m := range mounts {
		src, rest, _ := strings.Cut(m, ":")
		switch {
		case strings.HasPrefix(src, "~/") && home != "":
			src = filepath.Join(home, src[2:])
		case !filepath.IsAbs(src):
			src = filepath.Join(root, src)
		}
		out = append(out, src+":"+rest)
	}
	return out
}

// MountError is a -v that cannot be mounted.
type MountError struct{ Spec, Why string }

func (e *MountError) Error() string { return fmt.Sprintf("mount %q: %s", e.Spec, e.Why) }

// Hint says what to do about it.
func (e *MountError) Hint() string { return "write -v as /host/path:/container/path[:ro]" }

func parseMount(spec string) (launcher.Mount, error) {
	parts := strings.Split(spec, ":")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return launcher.Mount{}, &MountError{spec, "want SRC:DST[:ro]"}
	}
	src, err := filepath.Abs(parts[0])
	if err != nil {
		return launcher.Mount{}, &MountError{spec, err.Error()}
	}
	if _, err := os.Stat(src); err != nil {
		return launcher.Mount{}, &MountError{spec, "source does not exist"}
	}
	if !filepath.IsAbs(parts[1]) {
		return launcher.Mount{}, &MountError{spec, "destination must be an absolute path"}
	}
	m := launcher.Mount{Source: src, Target: parts[1]}
	if len(parts) == 3 {
		if parts[2] != "ro" && parts[2] != "rw" {
			return launcher.Mount{}, &MountError{spec, "the only options are ro and rw"}
		}
		m.ReadOnly = parts[2] == "ro"
	}
	return m, nil
}
