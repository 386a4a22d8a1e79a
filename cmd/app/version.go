package app

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// version is set at link time by the Makefile (git describe).
var version = "dev"

// buildInfo is the version line: release, commit and toolchain, which is
// what a bug report needs.
func buildInfo() string {
	commit, dirty := "unknown", ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value
				if len(commit) > 12 {
					commit = commit[:12]
				}
			case "vcs.modified":
				if s.Value == "true" {
					dirty = "-dirty"
				}
			}
		}
	}
	return fmt.Sprintf("ws %s (commit %s%s, %s, %s/%s)", version, commit, dirty, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
