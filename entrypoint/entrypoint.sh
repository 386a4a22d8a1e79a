#!/bin/sh
# ws entrypoint: the first program in every workspace container (after
# Docker's init). It runs as the caller (their host UID and GID) from the
# start, with no capabilities and no-new-privileges: nothing in a workspace
# container ever runs as root. ws has already given the caller an entry in
# /etc/passwd and /etc/group (made on the host from the image's files) and
# made HOME and /run/ws tmpfs mounts owned by them. The entrypoint waits for
# the secrets, then replaces itself with the command, so signals and the
# exit status pass straight between Docker's init and the command.
#
# With secrets, a watcher stays between them instead: a second tini
# (Docker's own, /sbin/docker-init) runs the command and passes signals on
# as the first one would; when it ends, the watcher compares the secrets
# with what was delivered and warns that a change (kubectl config
# use-context…) dies with the tmpfs.
#
# Every program it runs is named by absolute path: the image's PATH holds
# the lock's tools, and a tool called tar must not stand in for /bin/tar.
#
# Inputs (environment, set by ws):
#   WS_UID, WS_GID   the caller's ids (checked against the process's own)
#   WS_USER          the caller's user name
#   WS_HOME          HOME inside the container
#   WS_DELIVERY      how the secrets reach /run/ws before the command runs:
#                    pipe  untar what ws writes into the FIFO /run/ws/.deliver
#                    exec  wait (60 s at most) for ws's own tar, which
#                          writes /run/ws/.ready last
#   WS_SECRETS       names of the delivered credentials in /run/ws, watched
#                    for changes (their sums go to /run/ws/.sums)
#   WS_READ_ONLY=1   the root file system is read-only (informational)
#   WS_KEEP=N        keep the container: after the secrets are in, print
#                    "ws: workspace ready" and wait; end it after N seconds
#                    with no command running (the idle clock, kept here in
#                    the container so a killed ws cannot leave it running)
#   WS_EXEC=TOKEN    wrap one command exec'd into a kept container: write
#                    its process group to /run/ws/.exec/TOKEN (ws signals
#                    it there), wait, warn about changed secrets
#   TINI_KILL_PROCESS_GROUP  for Docker's init; not passed on
# Arguments: the command; none means the user's login shell.
#
# Exit status of its own: 125 setup failed, 126 command not executable,
# 127 command not found (as docker run uses them).
#
# Test hook: WS_ENTRYPOINT_FAIL=setup makes the setup fail, so tests can
# check how ws reports it.
set -eu

fail() {
	echo "ws: workspace setup: $*" >&2
	exit 125
}

[ -n "${WS_UID:-}" ] && [ -n "${WS_GID:-}" ] && [ -n "${WS_USER:-}" ] && [ -n "${WS_HOME:-}" ] ||
	fail "WS_UID, WS_GID, WS_USER and WS_HOME must be set (is this container started by ws?)"
[ "${WS_ENTRYPOINT_FAIL:-}" != setup ] || fail "failing on purpose (WS_ENTRYPOINT_FAIL=setup)"
[ "$(/usr/bin/id -u)" = "$WS_UID" ] || fail "running as UID $(/usr/bin/id -u), not the caller's $WS_UID"

shell=/bin/sh
[ -x /bin/bash ] && shell=/bin/bash

# lookup NAME: exit 127/126 as exec would, unless NAME can be run.
lookup() {
	case $1 in
	*/*) path=$1 ;;
	*)
		path=
		oldifs=$IFS
		IFS=:
		for dir in $PATH; do
			if [ -e "$dir/$1" ]; then
				path=$dir/$1
				break
			fi
		done
		IFS=$oldifs
		;;
	esac
	[ -n "$path" ] && [ -e "$path" ] || { echo "ws: $1: command not found in the workspace" >&2; exit 127; }
	[ -x "$path" ] && [ ! -d "$path" ] || { echo "ws: $1: not executable" >&2; exit 126; }
}

# warn_changed: the secrets' sums against those taken at delivery.
warn_changed() {
	[ -s /run/ws/.sums ] || return 0
	(cd /run/ws && /usr/bin/sha256sum -c .sums 2>/dev/null) | while IFS=": " read -r name result; do
		[ "$result" = OK ] || printf "ws: warning: %s changed in the workspace and was not written back; it is gone when the workspace ends. To keep the change, make it with sops in the repository (sops edit <file>).\n" "$name" >&2
	done
}

if [ -n "${WS_EXEC:-}" ]; then
	# One command in a kept container (docker exec). Its process group is
	# where ws sends signals: a session of its own without a terminal, the
	# exec's own with one (Ctrl-C reaches it through the terminal then).
	export HOME="$WS_HOME" USER="$WS_USER" LOGNAME="$WS_USER" SHELL="$shell"
	token=$WS_EXEC
	unset WS_EXEC WS_ENTRYPOINT_FAIL WS_DELIVERY WS_READ_ONLY WS_SECRETS WS_KEEP TINI_KILL_PROCESS_GROUP
	if [ $# -eq 0 ]; then set -- "$shell" -l; else lookup "$1"; fi
	/bin/mkdir -p /run/ws/.exec
	pidfile=/run/ws/.exec/$token
	trap : HUP INT QUIT TERM USR1 USR2
	# An asynchronous command gets /dev/null for stdin unless it is given
	# one explicitly, and dash does not count <&0: hand it over as fd 3.
	exec 3<&0
	if [ -t 0 ] || [ -t 1 ]; then
		echo $$ >"$pidfile"
		"$@" <&3 3<&- &
	else
		/usr/bin/setsid /bin/sh -c 'echo $$ >"$0"; exec "$@"' "$pidfile" "$@" <&3 3<&- &
	fi
	exec 3<&-
	child=$!
	while :; do
		wait "$child"
		status=$?
		kill -0 "$child" 2>/dev/null || break
	done
	/bin/rm -f "$pidfile"
	warn_changed
	exit "$status"
fi

case ${WS_DELIVERY:-} in
pipe)
	# The FIFO ws mounted from the host: opening it waits for ws, the bytes
	# pass through kernel memory only.
	/bin/tar -x --numeric-owner --same-owner --same-permissions -C /run/ws -f - </run/ws/.deliver ||
		fail "the secrets could not be unpacked into /run/ws"
	;;
exec)
	tries=0
	while [ ! -e /run/ws/.ready ]; do
		tries=$((tries + 1))
		[ "$tries" -le 6000 ] || fail "the secrets did not arrive in /run/ws within 60s"
		/bin/sleep 0.01
	done
	/bin/rm -f /run/ws/.ready
	;;
esac

if [ -n "${WS_KEEP:-}" ]; then
	# A kept container: take the sums, say ready, then keep the idle clock.
	[ -z "${WS_SECRETS:-}" ] || (cd /run/ws && /usr/bin/sha256sum -- $WS_SECRETS >.sums 2>/dev/null) || :
	/bin/mkdir -p /run/ws/.exec
	echo "ws: workspace ready"
	idle=0
	while [ "$idle" -lt "$WS_KEEP" ]; do
		/bin/sleep 1
		busy=
		for f in /run/ws/.exec/*; do
			[ -e "$f" ] || continue
			if kill -0 "$(/bin/cat "$f" 2>/dev/null)" 2>/dev/null; then busy=1; else /bin/rm -f "$f"; fi
		done
		if [ -n "$busy" ]; then idle=0; else idle=$((idle + 1)); fi
		echo "$idle" >/run/ws/.idle
	done
	exit 0
fi

# The watcher (see the top): it runs the command under a tini of its own,
# ignores the signals the outer tini also sends its process group, and
# checks the secrets against their sums from delivery.
watch=
if [ -n "${WS_SECRETS:-}" ] && [ -x /sbin/docker-init ] && (cd /run/ws && /usr/bin/sha256sum -- $WS_SECRETS >.sums 2>/dev/null); then
	watch='trap : HUP INT QUIT TERM USR1 USR2
/sbin/docker-init -s -- "$@"
status=$?
(cd /run/ws && /usr/bin/sha256sum -c .sums 2>/dev/null) | while IFS=": " read -r name result; do
	[ "$result" = OK ] || printf "ws: warning: %s changed in the workspace and was not written back; it is gone when the workspace ends. To keep the change, make it with sops in the repository (sops edit <file>).\n" "$name" >&2
done
exit "$status"'
fi

export HOME="$WS_HOME" USER="$WS_USER" LOGNAME="$WS_USER" SHELL="$shell"
unset WS_ENTRYPOINT_FAIL WS_DELIVERY WS_READ_ONLY WS_SECRETS TINI_KILL_PROCESS_GROUP

if [ $# -eq 0 ]; then
	set -- "$shell" -l
else
	lookup "$1" # the way exec will (builtins do not count)
fi
[ -z "$watch" ] || set -- /bin/sh -c "$watch" ws-watch "$@"
exec "$@"
