# Sourced by scripts/test.sh and the benchmarks: pg_start runs a private PostgreSQL server
# on 127.0.0.1 in a temporary folder and exports TOEFL_ACCESS_TEST_PG_URL; pg_stop removes it.
# PostgreSQL refuses to run as root, so as root it runs as the postgres user (runuser).
PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}

_pg_as() {
  # From / so that the postgres user is not refused the caller's (private) folder.
  if [ "$(id -u)" = 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

pg_start() {
  [ -n "${PG_BIN}" ] && [ -x "${PG_BIN}/initdb" ] || return 1
  PG_DIR=$(mktemp -d /tmp/toefl-access-pg.XXXXXX)
  [ "$(id -u)" = 0 ] && chown postgres "${PG_DIR}"
  PG_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  _pg_as "${PG_BIN}/initdb" -D "${PG_DIR}/data" -U postgres -A trust --no-sync >/dev/null
  _pg_as "${PG_BIN}/pg_ctl" -D "${PG_DIR}/data" -l "${PG_DIR}/log" -w -o \
    "-p ${PG_PORT} -k ${PG_DIR} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" \
    start >/dev/null
  export TOEFL_ACCESS_TEST_PG_URL="postgresql://postgres@127.0.0.1:${PG_PORT}/postgres"
  export PG_DIR PG_PORT PG_BIN
}

pg_stop() {
  if [ -n "${PG_DIR:-}" ] && [ -d "${PG_DIR}" ]; then
    _pg_as "${PG_BIN}/pg_ctl" -D "${PG_DIR}/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "${PG_DIR}"
  fi
}
