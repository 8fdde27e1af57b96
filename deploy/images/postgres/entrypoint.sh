#!/bin/sh
# Initialise the cluster on first start (database and role "vlmhb"), then run the server
# on 127.0.0.1:$PGPORT and on the socket in /run/vlmhb-pg.
set -eu
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  initdb -D "$PGDATA" -U vlmhb -E UTF8 --no-locale \
    --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  echo "CREATE DATABASE vlmhb;" | postgres --single -D "$PGDATA" postgres >/dev/null
  echo "vlmhb-postgres: initialised $PGDATA"
fi
exec postgres -D "$PGDATA" -c listen_addresses=127.0.0.1 -c port="$PGPORT" \
  -c unix_socket_directories=/run/vlmhb-pg -c unix_socket_permissions=0777 "$@"
