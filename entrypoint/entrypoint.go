// Package entrypoint is the contract between ws and its workspace
// containers, and the program that runs first in them: a POSIX shell script
// (so it runs on every platform's image with no build step) that waits for
// the secrets and then execs the command. The paths, markers, environment
// names and the names a tools.lock may not take are defined here once;
// the lock, the launcher and cmd import them, and a test checks that the
// script uses the same literals.
//
// It imports nothing else of ws and never talks to Docker.
package entrypoint

import _ "embed"

// Script is the entrypoint's text.
//
//go:embed entrypoint.sh
var Script []byte

// AgentBridge is the far end of ws's GPG relay when the engine is not on the
// caller's host: a perl script (perl-base is Essential in Debian) that ws
// runs in the workspace with `perl -e`, listening on AgentDir/S.gpg-agent
// and carrying each connection over the exec's stdin/stdout as frames:
// type byte (L listening, O open, D data, C close), connection and length
// as big-endian uint32, data.
//
//go:embed agentbridge.pl
var AgentBridge string

// Path is where the image holds it.
const Path = "/usr/local/lib/ws/entrypoint"

// Paths inside the container.
const (
	// SecretsDir is the tmpfs for secrets, 0700 and owned by the caller.
	SecretsDir = "/run/ws"
	// GPGHome is GNUPGHOME in the container: on the secrets tmpfs.
	GPGHome = SecretsDir + "/gnupg"
	// AgentDir is where the host directory holding ws's GPG relay socket
	// is mounted: a directory, so a kept workspace sees the socket of
	// each later ws run (each run serves its own relay).
	AgentDir = SecretsDir + "/agent"
	// AgentSocket is where gpg looks for its agent: a symlink to the
	// relay's socket in AgentDir.
	AgentSocket = GPGHome + "/S.gpg-agent"
	// DeliverPipe is the FIFO the "pipe" delivery mounts from the host.
	DeliverPipe = SecretsDir + "/.deliver"
	// ReadyMarker is written last by the "exec" delivery, relative to
	// SecretsDir; the entrypoint waits for it, then removes it.
	ReadyMarker = ".ready"
	// SumsFile holds the delivered secrets' sha256 sums, relative to
	// SecretsDir, for the changed-credential warning.
	SumsFile = ".sums"
	// DockerInit is Docker's own init, which the watcher runs the command under.
	DockerInit = "/sbin/docker-init"
	// ExecDir holds one file per command running in a kept container: its
	// process group, for signals, and the idle clock's evidence.
	ExecDir = SecretsDir + "/.exec"
	// IdleFile holds the seconds a kept container has had no command.
	IdleFile = SecretsDir + "/.idle"
	// ReadyLine is what a kept container prints once it takes commands.
	ReadyLine = "ws: workspace ready"
)

// TarExtract is the command that unpacks a delivery into SecretsDir,
// reading the archive on its stdin; by absolute path, so no tool of the
// lock's named tar stands in for it.
var TarExtract = []string{"/bin/tar", "-x", "--numeric-owner", "--same-owner", "--same-permissions", "-C", SecretsDir, "-f", "-"}

// Environment variables the entrypoint reads.
const (
	EnvUID  = "WS_UID"
	EnvGID  = "WS_GID"
	EnvUser = "WS_USER"
	EnvHome = "WS_HOME"
	// EnvDelivery says how the secrets reach SecretsDir before the command
	// starts: DeliveryPipe or DeliveryExec.
	EnvDelivery = "WS_DELIVERY"
	// EnvSecrets lists the delivered credentials' names, space-separated.
	EnvSecrets = "WS_SECRETS"
	// EnvReadOnly says the root file system is read-only.
	EnvReadOnly = "WS_READ_ONLY"
	// EnvKeep (seconds) makes the entrypoint keep the container: once the
	// secrets are in it prints ReadyLine and waits, and ends the container
	// after that many seconds with no command running.
	EnvKeep = "WS_KEEP"
	// EnvExec (a token of ws's) runs the entrypoint as the wrapper of one
	// command exec'd into a kept container: it writes the process group to
	// signal into ExecDir/<token>, waits, and warns about changed secrets.
	EnvExec = "WS_EXEC"
	// EnvFail is the test hook: "setup" makes the setup fail, so tests
	// can check how ws reports it. ws passes it on from its own
	// environment (WS_ENTRYPOINT_FAIL=setup ws exec …), never from a lock.
	EnvFail = "WS_ENTRYPOINT_FAIL"
	// EnvKillGroup is read by Docker's init: signals go to the command's
	// whole process group, as a terminal's Ctrl-C does.
	EnvKillGroup = "TINI_KILL_PROCESS_GROUP"
	// EnvGPGHome points gpg at GPGHome.
	EnvGPGHome = "GNUPGHOME"
)

// The ways of EnvDelivery.
const (
	// DeliveryPipe: the entrypoint untars what ws writes into DeliverPipe.
	DeliveryPipe = "pipe"
	// DeliveryExec: ws runs TarExtract itself with docker exec and writes
	// ReadyMarker last.
	DeliveryExec = "exec"
)

// EnvPrefix is ws's own namespace: no variable in it may come from a
// tools.lock or -e.
const EnvPrefix = "WS_"

// ReservedEnv are the variables that ws or the entrypoint set: a lock's
// workspace env, a secret's env and -e may not set them.
var ReservedEnv = []string{
	EnvGPGHome, EnvKillGroup,
	"HOME", "PATH", "USER", "LOGNAME", "SHELL", "TERM", "GPG_TTY",
}

// ReservedEnvPrefixes are namespaces no lock or -e may write into:
// ws's own, and the dynamic loader's (LD_PRELOAD runs code in every process).
var ReservedEnvPrefixes = []string{EnvPrefix, "LD_"}

// ReservedSecretNames are the names in SecretsDir that ws itself uses.
var ReservedSecretNames = []string{"gnupg", "agent", ".deliver", ReadyMarker, SumsFile, ".exec", ".idle"}

// IsReservedEnv reports whether the variable name belongs to ws.
func IsReservedEnv(name string) bool {
	for _, r := range ReservedEnv {
		if name == r {
			return true
		}
	}
	for _, p := range ReservedEnvPrefixes {
		if len(name) >= len(p) && name[:len(p)] == p {
			return true
		}
	}
	return false
}
