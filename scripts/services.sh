#!/usr/bin/env bash
# Start the services the integration tests use (Redis, PostgreSQL) when they are not running.
# Installs them (and gpg, sshd for the fleet tests, openrc, systemd-analyze, nginx and logrotate for the deploy tests,
# docker.io, docker-compose and debootstrap for the compose test,
# chromium, tmux and prometheus for the dashboard, monitor and metrics tests)
# from Debian's packages on a machine that lacks them.
set -uo pipefail

need_apt=()
command -v redis-server >/dev/null || need_apt+=(redis-server)
command -v pg_ctlcluster >/dev/null || need_apt+=(postgresql)
command -v gpg >/dev/null || need_apt+=(gnupg)  # signing the binhost, and the tests that verify it with portage
command -v sshd >/dev/null || [[ -x /usr/sbin/sshd ]] || need_apt+=(openssh-server)  # the fleet tests run a private sshd on 127.0.0.1
command -v scanelf >/dev/null || need_apt+=(pax-utils)  # real emerge builds: scanelf reads what a binary package provides and needs
command -v gcc >/dev/null || need_apt+=(gcc)  # real emerge builds (tests/realbuild, demo --builder emerge) compile C with the host's gcc
command -v make >/dev/null || need_apt+=(make)  # ... and make
command -v zstd >/dev/null || need_apt+=(zstd)  # the real-build tests read the zstd image of a real GPKG
command -v wget >/dev/null || need_apt+=(wget)  # portage's FETCHCOMMAND: binary packages from the swarm binhost, distfiles
# the deploy tests (tests/integration/test_deploy_*.py): OpenRC services run for real, units verified, nginx and logrotate run
command -v openrc-run >/dev/null || [[ -x /usr/sbin/openrc-run ]] || need_apt+=(openrc)
command -v systemd-analyze >/dev/null || need_apt+=(systemd)
command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || need_apt+=(nginx-light)
command -v logrotate >/dev/null || [[ -x /usr/sbin/logrotate ]] || need_apt+=(logrotate)
# the compose test (tests/integration/test_compose.py): a private Docker engine, docker-compose v1, a debootstrap base image
[[ -x /usr/sbin/dockerd ]] || need_apt+=(docker.io)
command -v docker-compose >/dev/null || need_apt+=(docker-compose)
command -v debootstrap >/dev/null || [[ -x /usr/sbin/debootstrap ]] || need_apt+=(debootstrap)
# the dashboard's browser tests (Playwright drives Debian's chromium: Playwright's own browser download needs the internet)
# and `build-swarm monitor` driven in tmux
[[ -x /usr/bin/chromium ]] || need_apt+=(chromium)
command -v tmux >/dev/null || need_apt+=(tmux)
# a real Prometheus evaluates the Grafana dashboard's queries (deploy/grafana/) in the live-watch test
command -v prometheus >/dev/null || need_apt+=(prometheus)
if ((${#need_apt[@]})); then
  echo "installing ${need_apt[*]} from Debian's packages" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  echo "starting redis-server on 127.0.0.1:6379" >&2
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  for _ in $(seq 50); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 0.1; done
fi

if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  echo "starting PostgreSQL on 127.0.0.1:5432" >&2
  version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -1)
  if [[ -z $version ]]; then
    version=$(ls /usr/lib/postgresql | sort -V | tail -1)
    pg_createcluster "$version" main >/dev/null
  fi
  hba=/etc/postgresql/$version/main/pg_hba.conf
  grep -q "swarm-ci trust" "$hba" 2>/dev/null || {
    printf 'host all all 127.0.0.1/32 trust # swarm-ci trust\nhost all all ::1/128 trust # swarm-ci trust\nlocal all all trust # swarm-ci trust\n' | cat - "$hba" > "$hba.new" && mv "$hba.new" "$hba"
  }
  pg_ctlcluster --skip-systemctl-redirect "$version" main start
  for _ in $(seq 100); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 0.1; done
  psql -h 127.0.0.1 -U postgres -tc "SELECT 1 FROM pg_database WHERE datname='test'" | grep -q 1 \
    || psql -h 127.0.0.1 -U postgres -c "CREATE DATABASE test" >/dev/null
fi
redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null && pg_isready -h 127.0.0.1 -p 5432 -q
