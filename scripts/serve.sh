#!/usr/bin/env bash
# Serve voidsite on the embedded default (or whatever the environment configures).
# Called by `make run` after the virtual environment is installed.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
DATA_DIR=${DATA_DIR:-$PWD/data}
mkdir -p "$DATA_DIR"
if [ -z "${SECRET_KEY:-}" ]; then
  # A random key generated once per installation and kept out of git.
  if [ ! -s "$DATA_DIR/.secret_key" ]; then
    (umask 077; "$BIN/python" -c 'import secrets; print(secrets.token_urlsafe(50))' > "$DATA_DIR/.secret_key")
  fi
  SECRET_KEY=$(cat "$DATA_DIR/.secret_key")
  export SECRET_KEY
fi
"$BIN/python" manage.py migrate --noinput
"$BIN/python" manage.py bootstrap_users
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8000}
echo "voidsite: serving on http://$HOST:$PORT/"
# A large listen backlog: daphne's -b/-p default of 50 drops connection bursts.
# -v 0: no daphne access log (it would print client addresses and query strings);
# voidsite logs one privacy-safe line per request itself.
exec "$BIN/daphne" -v 0 -e "tcp:port=$PORT:interface=$HOST:backlog=${BACKLOG:-4096}" voidsite.asgi:application
