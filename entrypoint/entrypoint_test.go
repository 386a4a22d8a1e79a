package entrypoint

import (
	"bytes"
	"os/exec"
	"testing"
)

// The script must at least parse as POSIX sh (dash is Debian's /bin/sh);
// its behaviour is tested end to end in cmd/e2e.
func TestScriptParses(t *testing.T) {
	t.Parallel()
	for _, sh := range []string{"dash", "sh"} {
		if _, err := exec.LookPath(sh); err != nil {
			continue
		}
		cmd := exec.Command(sh, "-n", "/dev/stdin")
		cmd.Stdin = bytes.NewReader(Script)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s -n: %v\n%s", sh, err, out)
		}
	}
}
