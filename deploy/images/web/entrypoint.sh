#!/bin/sh
# Write the nginx config for this start's ports, check it, run nginx in the foreground.
set -eu
case "$WEB_PORT$BACKEND_PORT" in *[!0-9]*) echo "vlmhb-web: ports must be numbers" >&2; exit 2;; esac
sed -e "s/@WEB_PORT@/$WEB_PORT/g" -e "s/@BACKEND_PORT@/$BACKEND_PORT/g" \
  /etc/vlmhb/nginx.conf.template > /run/vlmhb-web/nginx.conf
nginx -t -q -c /run/vlmhb-web/nginx.conf
exec nginx -c /run/vlmhb-web/nginx.conf -g 'daemon off;'
