#!/bin/sh
# drone-image/bootstrap.sh: turn a fresh Gentoo stage3 host into a build-swarm drone, the golden drone of
# drone-image/spec.toml. Run it as root on the host, from a checkout of build-swarm (it uses drone-image/ and deploy/):
#
#   SWARM_BROKER_URL='redis://:PASSWORD@coordinator.example:6379/0' SWARM_DRONE_TOKEN='bsd_...' \
#     sh drone-image/bootstrap.sh --name box1 --coordinator http://coordinator.example [--arch amd64] \
#        [--source PATH-OR-WHEEL] [--init openrc|systemd] [--dry-run]
#
# The broker URL and the token come from the environment, never from arguments (argv is public), and are written
# only to /etc/build-swarm/drone.conf (mode 0600). --dry-run changes nothing: it prints each step, and the
# drone.conf it would write with the secrets masked.
set -euf  # no globbing anywhere: every word is ours

here=$(cd "$(dirname "$0")" && pwd)
deploy="$here/../deploy"
venv=/opt/build-swarm/venv
name="" coordinator="" arch=amd64 source="$here/.." init="" dry=""

die() { echo "bootstrap: $*" >&2; exit 1; }
run() { if [ -n "$dry" ]; then echo "+ $*"; else "$@"; fi; }

while [ $# -gt 0 ]; do
	case $1 in
		--name) name=${2:-}; shift 2 ;;
		--coordinator) coordinator=${2:-}; shift 2 ;;
		--arch) arch=${2:-}; shift 2 ;;
		--source) source=${2:-}; shift 2 ;;
		--init) init=${2:-}; shift 2 ;;
		--dry-run) dry=1; shift ;;
		*) die "unknown argument $1 (see the top of $0)" ;;
	esac
done

# --- what was asked -----------------------------------------------------------------------------------------------
case $name in ''|[!A-Za-z0-9]*|*[!A-Za-z0-9._-]*) die "--name NAME: letters, digits, '.', '_' and '-' (the drone's queue is drone.NAME)" ;; esac
case $coordinator in
	*[!A-Za-z0-9._:/@%+-]*) die "--coordinator URL: letters, digits and . _ : / @ % + - only" ;;
	http://*|https://*) ;;
	*) die "--coordinator URL: the coordinator's http(s):// address (nginx in front of its API)" ;;
esac
case $arch in ''|*[!a-z0-9]*) die "--arch ARCH: Gentoo's name of this machine's arch (amd64, arm64, ...)" ;; esac
for variable in SWARM_BROKER_URL SWARM_DRONE_TOKEN; do
	eval "value=\${$variable:-}"
	[ -n "$value" ] || die "set $variable in the environment (it is a secret: never an argument)"
	case $value in *[[:space:]\'\"\\]*) die "$variable has spaces, quotes or backslashes: drone.conf takes it as one word" ;; esac
done
if [ -z "$init" ]; then
	if [ -d /run/systemd/system ]; then init=systemd; else init=openrc; fi
fi
case $init in openrc|systemd) ;; *) die "--init openrc|systemd" ;; esac
if [ -z "$dry" ]; then
	[ "$(id -u)" = 0 ] || die "run as root: it installs packages and a service"
	[ -f /etc/gentoo-release ] || die "not a Gentoo host (no /etc/gentoo-release): start from a Gentoo stage3"
fi

# the spec's profile and world (python3 is in every stage3)
read_spec='import sys, tomllib; spec = tomllib.load(open(sys.argv[1], "rb")); print(spec["system"]["profile"], *spec["packages"]["world"])'
set -- $(python3 -c "$read_spec" "$here/spec.toml")
profile=$1; shift; world=$*

drone_conf() {
	cat <<-EOF
	# written by drone-image/bootstrap.sh; the settings: deploy/env/drone.conf.example
	SWARM_BROKER_URL='$1'
	SWARM_COORDINATOR_URL='$coordinator'
	SWARM_DRONE_TOKEN='$2'
	SWARM_DRONE_NAME='$name'
	SWARM_ARCH='$arch'
	SWARM_BUILDER='emerge'
	SWARM_BINHOST_URL='$coordinator/binhost/$arch'
	SWARM_HOME='/var/lib/build-swarm'
	EOF
}

# --- the steps ----------------------------------------------------------------------------------------------------
echo "== 1. the portage tree"
if [ -f /var/db/repos/gentoo/metadata/timestamp.chk ]; then echo "synced: $(head -n 1 /var/db/repos/gentoo/metadata/timestamp.chk)"; else run emerge-webrsync; fi

echo "== 2. portage configuration (the stage3's make.conf is kept as make.conf.stage3)"
[ -f /etc/portage/make.conf.stage3 ] || [ ! -f /etc/portage/make.conf ] || run cp /etc/portage/make.conf /etc/portage/make.conf.stage3
run install -m 0644 "$here/portage/make.conf" /etc/portage/make.conf
for kind in package.use package.accept_keywords; do
	if [ -f "/etc/portage/$kind" ]; then die "/etc/portage/$kind is a file: make it a directory, then run this again"; fi
	run install -D -m 0644 "$here/portage/$kind" "/etc/portage/$kind/build-swarm"
done
run eselect profile set "$profile"

echo "== 3. the drone's own packages (the spec's world)"
# shellcheck disable=SC2086 # one word per atom (the spec's atoms have no spaces)
run emerge --noreplace --quiet-build=y $world

echo "== 4. build-swarm in $venv"
run python3 -m venv "$venv"
run "$venv/bin/pip" install --quiet "$source"
run install -d -m 0755 /etc/build-swarm /var/cache/binpkgs /var/cache/distfiles
run install -d -m 0750 /var/lib/build-swarm

echo "== 5. /etc/build-swarm/drone.conf (mode 0600)"
if [ -n "$dry" ]; then
	drone_conf '<SWARM_BROKER_URL from the environment>' '<SWARM_DRONE_TOKEN from the environment>'
else
	(umask 077 && drone_conf "$SWARM_BROKER_URL" "$SWARM_DRONE_TOKEN" > /etc/build-swarm/drone.conf)
fi
run "$venv/bin/build-swarm" drone --check --name "$name"

echo "== 6. the $init service"
if [ "$init" = openrc ]; then
	run install -m 0755 "$deploy/openrc/init.d/build-swarm-drone" /etc/init.d/build-swarm-drone
	run install -m 0644 "$deploy/openrc/conf.d/build-swarm-drone" /etc/conf.d/build-swarm-drone
	run install -m 0644 "$deploy/logrotate/build-swarm" /etc/logrotate.d/build-swarm
	for service in sshd chronyd build-swarm-drone; do run rc-update add "$service" default; done
	for service in sshd chronyd build-swarm-drone; do run rc-service "$service" start; done
else
	run install -m 0644 "$deploy/systemd/build-swarm-drone@.service" /etc/systemd/system/
	run systemctl daemon-reload
	run systemctl enable --now sshd chronyd "build-swarm-drone@$name"
fi
echo "== done: drone $name. The coordinator's audit checks it against drone-image/spec.toml."
