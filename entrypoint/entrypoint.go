// Package entrypoint is what runs first in a workspace container: a POSIX
// shell script (so it runs on every platform's image with no build step)
// that sets up the caller's user and then execs the command as that user.
// It never talks to Docker; ws passes it everything through the
// environment (see the script's header for its inputs and test hooks).
package entrypoint

import _ "embed"

// Script is the entrypoint's text.
//
//go:embed entrypoint.sh
var Script []byte

// Path is where the image holds it.
const Path = "/usr/local/lib/ws/entrypoint"

// Environment variables the entrypoint reads.
const (
	EnvUID  = "WS_UID"
	EnvGID  = "WS_GID"
	EnvUser = "WS_USER"
	EnvHome = "WS_HOME"
	// EnvDelivery says how the secrets reach /run/ws before the command
	// starts: "pipe" (a tar through the FIFO /run/ws/.deliver) or "exec"
	// (ws runs tar itself and writes /run/ws/.ready last).
	EnvDelivery = "WS_DELIVERY"
	// EnvSecrets lists the delivered credentials' names, space-separated.
	EnvSecrets = "WS_SECRETS"
	// EnvReadOnly says the root file system is read-only: ws has mounted
	// passwd and group with the caller in them, so no user is added.
	EnvReadOnly = "WS_READ_ONLY"
	// EnvFail is the test hook: "setup" makes the user setup fail.
	EnvFail = "WS_ENTRYPOINT_FAIL"
)
