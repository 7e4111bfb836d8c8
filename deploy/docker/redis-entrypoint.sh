#!/bin/sh
# Redis for the compose stack: the password from REDIS_PASSWORD goes into a configuration file only redis can read
# (never into argv, which every process in the container can see), AOF persistence in /data, then redis-server as redis.
set -eu
: "${REDIS_PASSWORD:?set REDIS_PASSWORD in the env file (openssl rand -hex 24)}"
case $REDIS_PASSWORD in *[!A-Za-z0-9._~-]*) echo "REDIS_PASSWORD: letters, digits and . _ ~ - only (it goes into URLs)" >&2; exit 1 ;; esac
install -d -o redis -g redis -m 0700 /run/redis
chown redis:redis /data
umask 077
cat > /run/redis/redis.conf <<CONF
bind 0.0.0.0 -::
port 6379
protected-mode yes
requirepass $REDIS_PASSWORD
dir /data
appendonly yes
appendfsync everysec
save ""
CONF
chown redis:redis /run/redis/redis.conf
exec setpriv --reuid=redis --regid=redis --init-groups redis-server /run/redis/redis.conf
