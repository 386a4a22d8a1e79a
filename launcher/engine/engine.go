// Package engine connects to the Docker engine ws works with and names its
// connection failures, so every package reports "cannot talk to Docker"
// the same way. It knows nothing of workspaces or images.
package engine

import (
	"fmt"
	"strings"

	dockerclient "github.com/docker/docker/client"
)

// EnvHost names the engine, as the Docker CLI reads it.
const EnvHost = "DOCKER_HOST"

// DaemonError is a Docker engine that cannot be reached.
type DaemonError struct{ Err error }

func (e *DaemonError) Error() string { return fmt.Sprintf("cannot talk to Docker: %v", e.Err) }
func (e *DaemonError) Unwrap() error { return e.Err }

// Hint says what to do about it.
func (e *DaemonError) Hint() string {
	return "start Docker (or set DOCKER_HOST), then check with `docker info`"
}

// Classify turns a connection failure into a *DaemonError and leaves every
// other error as it is.
func Classify(err error) error {
	if err != nil && dockerclient.IsErrConnectionFailed(err) {
		return &DaemonError{Err: err}
	}
	return err
}

// OnThisHost says whether the engine at dockerHost (DOCKER_HOST) can
// bind-mount this machine's files, sockets and FIFOs, and if not, why.
// goos is runtime.GOOS, passed in so a plan can be computed for any host.
func OnThisHost(goos, dockerHost string) (bool, string) {
	if goos == "darwin" {
		return false, "Docker Desktop on macOS cannot bind-mount host sockets"
	}
	if dockerHost != "" && !strings.HasPrefix(dockerHost, "unix://") {
		return false, "the Docker daemon (" + dockerHost + ") is not on this host"
	}
	return true, ""
}
