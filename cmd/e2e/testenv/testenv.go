// Package testenv brings up what ws's end-to-end tests and `make demo` need
// on a machine with a Docker engine: a local registry on 127.0.0.1 holding a
// Debian base made offline with debootstrap, an artifact server for tool
// downloads, Debian's real kubectl, and tools.lock files that pin them all
// by digest and sha256, exactly as users pin theirs.
//
// Everything slow is cached under CacheDir and keyed by what made it, so a
// second run reuses it. Nothing here is used by the ws binary.
package testenv

import (
	"fmt"
	"os"
	"path/filepath"
)

// Environment variables that steer the harness.
const (
	// EnvCache overrides where the registry storage, the base image's
	// build stamp and the unpacked kubectl live.
	EnvCache = "WS_E2E_CACHE"
	// EnvRegistry overrides the registry address (default 127.0.0.1:5000).
	EnvRegistry = "WS_E2E_REGISTRY"
	// EnvMirror overrides the Debian mirror debootstrap uses.
	EnvMirror = "WS_E2E_DEBIAN_MIRROR"
	// EnvRequire turns every skip of an e2e test into a failure (CI sets it).
	EnvRequire = "WS_E2E_REQUIRE"
)

// CacheDir is where slow-to-make things are kept between runs.
func CacheDir() (string, error) {
	dir := os.Getenv(EnvCache)
	if dir == "" {
		if os.Geteuid() == 0 {
			dir = "/var/cache/ws-e2e"
		} else {
			base, err := os.UserCacheDir()
			if err != nil {
				return "", fmt.Errorf("find cache dir: %w", err)
			}
			dir = filepath.Join(base, "ws-e2e")
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("make cache dir: %w", err)
	}
	return dir, nil
}
