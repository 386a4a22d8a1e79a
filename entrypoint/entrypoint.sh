#!/bin/sh
# ws entrypoint: the first program in every workspace container (after
# Docker's init). It starts as root holding only SETUID, SETGID, SETPCAP,
# CHOWN, DAC_OVERRIDE and FOWNER, gives the caller a user and group with their
# host ids (any ids, even ones the image already uses: GID 20, UID 1000),
# a HOME, and /run/ws owned by them, then replaces itself with the command
# running as that user with no capabilities at all (under no-new-privileges
# they cannot come back). Signals and the exit status therefore pass
# straight between Docker's init and the command.
#
# Inputs (environment, set by ws):
#   WS_UID, WS_GID   the caller's ids
#   WS_USER          the caller's user name
#   WS_HOME          HOME inside the container
#   WS_READ_ONLY=1   the root file system is read-only and ws mounted
#                    /etc/passwd and /etc/group with the caller in them
#   WS_WAIT_READY=1  wait (60 s at most) for ws to deliver the secrets into
#                    /run/ws, which it marks by writing /run/ws/.ready last
#   WS_SECRETS       names of the delivered credentials in /run/ws; a login
#                    shell warns on exit when one of them changed
# Arguments: the command; none means the user's login shell.
#
# Exit status of its own: 125 setup failed, 126 command not executable,
# 127 command not found (as docker run uses them).
#
# Test hook: WS_ENTRYPOINT_FAIL=setup makes the user setup fail, so tests
# can check how ws reports it.
set -eu

fail() {
	echo "ws: workspace setup: $*" >&2
	exit 125
}

[ -n "${WS_UID:-}" ] && [ -n "${WS_GID:-}" ] && [ -n "${WS_USER:-}" ] && [ -n "${WS_HOME:-}" ] ||
	fail "WS_UID, WS_GID, WS_USER and WS_HOME must be set (is this container started by ws?)"
[ "${WS_ENTRYPOINT_FAIL:-}" != setup ] || fail "failing on purpose (WS_ENTRYPOINT_FAIL=setup)"

shell=/bin/sh
[ -x /bin/bash ] && shell=/bin/bash

if [ "$WS_UID" != 0 ] && [ "${WS_READ_ONLY:-}" != 1 ]; then
	# A group with the caller's GID, unless the image has one (-o: the id
	# may repeat, as GID 20 from macOS does on Debian).
	if ! getent group "$WS_GID" >/dev/null; then
		gname=$WS_USER
		getent group "$gname" >/dev/null && gname="ws-$WS_GID"
		groupadd -o -g "$WS_GID" "$gname" || fail "groupadd $gname ($WS_GID) failed"
	fi
	if getent passwd "$WS_USER" >/dev/null; then
		# The image has a user of that name: give it the caller's ids.
		usermod -o -u "$WS_UID" -g "$WS_GID" -d "$WS_HOME" -s "$shell" "$WS_USER" >/dev/null 2>&1 ||
			fail "usermod $WS_USER failed"
	else
		useradd -o -M -u "$WS_UID" -g "$WS_GID" -d "$WS_HOME" -s "$shell" "$WS_USER" ||
			fail "useradd $WS_USER ($WS_UID:$WS_GID) failed"
	fi
fi
mkdir -p "$WS_HOME"
chown "$WS_UID:$WS_GID" "$WS_HOME"
if [ -d /run/ws ]; then
	chown "$WS_UID:$WS_GID" /run/ws
	chmod 0700 /run/ws
fi

if [ "${WS_WAIT_READY:-}" = 1 ]; then
	tries=0
	while [ ! -e /run/ws/.ready ]; do
		tries=$((tries + 1))
		[ "$tries" -le 1200 ] || fail "the secrets did not arrive in /run/ws within 60s"
		sleep 0.05
	done
	rm -f /run/ws/.ready
	# Remember the credentials as delivered: a login shell warns on exit
	# when one changed, since the change dies with the tmpfs.
	if [ -n "${WS_SECRETS:-}" ]; then
		(cd /run/ws && sha256sum $WS_SECRETS >.sums 2>/dev/null) || true
		if [ -d /etc/profile.d ] && [ -w /etc/profile.d ]; then
			cat >/etc/profile.d/ws-secrets.sh <<'PROFILE'
# Written by the ws entrypoint: warn when a decrypted credential changed.
if [ -n "${BASH_VERSION:-}" ] && [ -r /run/ws/.sums ]; then
	_ws_check_secrets() {
		(cd /run/ws && sha256sum -c .sums 2>/dev/null) | while IFS=': ' read -r name status; do
			[ "$status" = OK ] || printf 'ws: warning: %s changed in the workspace and was not written back; it is gone when the workspace ends. To keep the change, make it with sops in the repository (sops edit <file>).\n' "$name" >&2
		done
	}
	trap _ws_check_secrets EXIT
fi
PROFILE
		fi
	fi
fi

export HOME="$WS_HOME" USER="$WS_USER" LOGNAME="$WS_USER" SHELL="$shell"
unset WS_ENTRYPOINT_FAIL WS_WAIT_READY WS_READ_ONLY WS_SECRETS

if [ $# -eq 0 ]; then
	set -- "$shell" -l
else
	# Look the command up the way exec will (builtins do not count).
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
fi
exec setpriv --reuid="$WS_UID" --regid="$WS_GID" --init-groups \
	--inh-caps=-all --bounding-set=-all -- "$@"
