#!/usr/bin/env bash
# Installs everything into .venv, starts a throw-away PostgreSQL server on loopback,
# runs the whole test suite (arguments go to pytest), and stops the server again.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv >/dev/null 2>&1 || true
[ -x .venv/bin/python ] || { echo "python3 -m venv failed: install Python 3.11+ with venv" >&2; exit 1; }
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'

# The browser tests drive Debian's chromium (never a downloaded browser); install it if missing.
if ! command -v chromium >/dev/null; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo -n"
  { $SUDO apt-get install -y -q chromium >/dev/null 2>&1 \
    || { $SUDO apt-get update -q >/dev/null 2>&1 && $SUDO apt-get install -y -q chromium >/dev/null 2>&1; }; } \
    || echo "chromium could not be installed (apt-get install chromium): the browser tests will be skipped" >&2
fi

# shellcheck source=scripts/pg.sh
. scripts/pg.sh
pg_start || echo "PostgreSQL 15 not found: the PostgreSQL tests will be skipped" >&2
trap pg_stop EXIT

.venv/bin/python -m pytest "$@"
