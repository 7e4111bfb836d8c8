#!/bin/sh
# PostgreSQL for the compose stack: on an empty volume, a cluster whose superuser `swarm` has the password from
# POSTGRES_PASSWORD (read from a file, never argv) and a database `swarm`; then the server as postgres, reachable from
# the compose network with that password (scram-sha-256).
set -eu
: "${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD in the env file (openssl rand -hex 24)}"
data=/var/lib/postgresql/data
as_postgres() { setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }
chown postgres:postgres "$data" && chmod 0700 "$data"
install -d -o postgres -g postgres -m 2775 /run/postgresql
if [ ! -s "$data/PG_VERSION" ]; then
	password=$(mktemp)
	printf '%s\n' "$POSTGRES_PASSWORD" > "$password"
	chown postgres "$password"
	as_postgres initdb --pgdata="$data" --username=swarm --pwfile="$password" --auth-local=scram-sha-256 \
		--auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >/dev/null
	rm -f "$password"
	echo "CREATE DATABASE swarm" | as_postgres postgres --single -D "$data" postgres >/dev/null
	echo "host all all all scram-sha-256" >> "$data/pg_hba.conf"
	echo "listen_addresses = '*'" >> "$data/postgresql.auto.conf"
fi
exec setpriv --reuid=postgres --regid=postgres --init-groups postgres -D "$data"
