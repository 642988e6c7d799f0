#!/usr/bin/env bash
# Installs toefl-access into .venv and runs the demo: no key, no server of your own.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv >/dev/null 2>&1 || true
.venv/bin/python -m pip install -q --disable-pip-version-check -e .
exec .venv/bin/toefl-access demo "$@"
