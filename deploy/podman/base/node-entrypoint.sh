#!/bin/sh
# As the official node image's: a first argument that is a flag or not a command runs with node; exec keeps PID 1.
set -e
if [ "${1#-}" != "$1" ] || [ -z "$(command -v "$1")" ] || { [ -f "$1" ] && ! [ -x "$1" ]; }; then
  set -- node "$@"
fi
exec "$@"
