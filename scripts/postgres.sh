#!/usr/bin/env bash
# Start a local PostgreSQL for the tests that need one (idempotent), and print its URL.
# Installs Debian's postgresql when it is missing and apt can. Needs root (CI runs as root).
# Exit 1 when no server can be started: those tests then skip, saying why.
set -uo pipefail
export DEBIAN_FRONTEND=noninteractive
if ! command -v pg_ctlcluster >/dev/null; then
  { apt-get update -q && apt-get install -y -q postgresql; } >/dev/null 2>&1 || { echo "apt-get install postgresql failed" >&2; exit 1; }
fi
read -r PGVER PGCLUSTER _ < <(pg_lsclusters -h | head -1)
if [ -z "${PGVER:-}" ]; then echo "no PostgreSQL cluster" >&2; exit 1; fi
pg_ctlcluster "$PGVER" "$PGCLUSTER" status >/dev/null 2>&1 || pg_ctlcluster "$PGVER" "$PGCLUSTER" start >/dev/null 2>&1
for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 && break; sleep 1; done
pg_isready -q -h 127.0.0.1 || { echo "PostgreSQL did not start" >&2; exit 1; }
psql_as() { su postgres -c "psql -tAq -c \"$1\"" 2>/dev/null; }
psql_as "SELECT 1 FROM pg_roles WHERE rolname='autometa'" | grep -q 1 \
  || psql_as "CREATE ROLE autometa LOGIN CREATEDB PASSWORD 'autometa'" >/dev/null
psql_as "SELECT 1 FROM pg_database WHERE datname='autometa_test'" | grep -q 1 \
  || su postgres -c "createdb -O autometa autometa_test" >/dev/null
echo "postgresql+psycopg://autometa:autometa@127.0.0.1:5432/autometa_test"
