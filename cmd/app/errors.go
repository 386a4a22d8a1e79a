package app

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/ws-tools/ws/launcher"
)

// Exit codes. Codes 1-124 and 128+N also pass through from a command run in
// the workspace, so ws's own failures keep to 125-127 like docker run.
const (
	exitOK = 0
	// exitCheckFailed: a check command (lock verify, doctor) found a problem.
	exitCheckFailed = 1
	// exitWsFailed: ws itself failed: bad usage, invalid tools.lock, Docker
	// or BuildKit errors.
	exitWsFailed = 125
	// exitNotFound: a shim's tool exists nowhere (as a shell says it).
	exitNotFound = 127
)

const exitCodesHelp = `EXIT STATUS:
   0      success
   N      ws exec / ws enter: the command's own exit status
   128+N  ws exec / ws enter: the command was killed by signal N
   1      a check found a problem (ws lock verify, ws doctor)
   125    ws itself failed: bad usage, invalid tools.lock, no workspace,
          Docker or BuildKit errors
   126    the command exists in the workspace but cannot be run
   127    the command was not found in the workspace
`

// hinter is an error that knows what the user should do next.
type hinter interface{ Hint() string }

// checkFailure marks errors that are a check's verdict, not ws breaking.
type checkFailure interface{ CheckFailed() bool }

type hintError struct {
	err  error
	hint string
}

func (e *hintError) Error() string { return e.err.Error() }
func (e *hintError) Unwrap() error { return e.err }
func (e *hintError) Hint() string  { return e.hint }

// withHint attaches a next step to err.
func withHint(err error, format string, args ...any) error {
	return &hintError{err: err, hint: fmt.Sprintf(format, args...)}
}

func exitCode(err error) int {
	var ee *launcher.ExitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	var nf *notFoundError
	if errors.As(err, &nf) {
		return exitNotFound
	}
	var cf checkFailure
	if errors.As(err, &cf) && cf.CheckFailed() {
		return exitCheckFailed
	}
	return exitWsFailed
}

// printError writes "ws: <error>" (one line per problem) and the hint.
func printError(w io.Writer, err error) {
	for _, line := range strings.Split(strings.TrimRight(err.Error(), "\n"), "\n") {
		fmt.Fprintf(w, "ws: %s\n", line)
	}
	var h hinter
	if errors.As(err, &h) && h.Hint() != "" {
		fmt.Fprintf(w, "hint: %s\n", h.Hint())
	}
}
