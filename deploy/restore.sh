#!/usr/bin/env bash
# Restore a dump made by backup.sh into the database named by --dbname (created if it does
# not exist). Refuses a database that already has tables unless --force, which drops and
# recreates the dump's tables, and only while nothing uses them: not while TDS Core's units
# run here, nor while another session is connected to the database (a worker on another
# host). All or nothing: one transaction, stops at the first error.
#   deploy/restore.sh --dbname NAME [--force] [--env-file /opt/tds_core/.env] DUMP
# The server and credentials come from the same settings as backup.sh (DATABASE_URL or
# DATABASE_*); only the database name is replaced by --dbname.
set -euo pipefail

ENV_FILE=""
DBNAME=""
FORCE=0
DUMP=""
while [ $# -gt 0 ]; do
  case "$1" in
    --dbname) DBNAME="${2:?--dbname needs a name}"; shift ;;
    --force) FORCE=1 ;;
    --env-file) ENV_FILE="${2:?--env-file needs a file}"; shift ;;
    -h | --help) sed -n '2,9p' "$0"; exit 0 ;;
    -*) echo "restore.sh: unknown argument: $1" >&2; exit 2 ;;
    *) DUMP="$1" ;;
  esac
  shift
done
[ -n "$DBNAME" ] || { echo "restore.sh: --dbname is required" >&2; exit 2; }
[ -n "$DUMP" ] || { echo "restore.sh: name the dump file to restore" >&2; exit 2; }
[ -r "$DUMP" ] || { echo "restore.sh: cannot read $DUMP" >&2; exit 2; }
[[ "$DBNAME" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] ||
  { echo "restore.sh: --dbname must be a plain identifier" >&2; exit 2; }

UNITS=(tds-core-watchdog.timer tds-core-worker.service tds-core-api.service tds-core-api.socket)
STOP_FIRST="stop TDS Core first: systemctl stop ${UNITS[*]} (and the worker on every other host)"
# Without systemd, is-active fails like an inactive unit; the session check below still holds.
if [ "$FORCE" = 1 ] && command -v systemctl >/dev/null; then
  for unit in "${UNITS[@]}"; do
    if systemctl is-active --quiet "$unit" 2>/dev/null; then
      echo "restore.sh: $unit is running; $STOP_FIRST" >&2
      exit 1
    fi
  done
fi

# shellcheck source=SCRIPTDIR/_pgenv.sh
source "$(dirname "${BASH_SOURCE[0]}")/_pgenv.sh"
if [ -n "$ENV_FILE" ]; then load_env_file "$ENV_FILE"; fi
if [ -n "${DATABASE_URL:-}" ] || [ -n "${DATABASE_HOST:-}" ]; then pg_env_from_settings; fi
pg_restore --list "$DUMP" >/dev/null  # a readable dump, before touching anything

# DBNAME is a checked plain identifier, so it can stand in the query as it is.
exists="$(PGDATABASE=postgres psql -XAtq -v ON_ERROR_STOP=1 \
  -c "SELECT count(*) FROM pg_database WHERE datname = '$DBNAME'")"
if [ "$exists" = 0 ]; then
  echo "restore: creating database $DBNAME"
  PGDATABASE=postgres createdb "$DBNAME"
else
  tables="$(PGDATABASE="$DBNAME" psql -XAtq -v ON_ERROR_STOP=1 -c \
    "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')")"
  if [ "$tables" != 0 ] && [ "$FORCE" = 0 ]; then
    echo "restore.sh: database $DBNAME is not empty ($tables tables); use --force to" \
      "replace the dump's tables in it" >&2
    exit 1
  fi
  # Whatever holds a connection (an API, a worker on any host) would see its tables dropped.
  others="$(PGDATABASE="$DBNAME" psql -XAtq -v ON_ERROR_STOP=1 -c \
    "SELECT count(*) || ' connections from ' || coalesce(string_agg(DISTINCT
       coalesce(host(client_addr), 'a local socket'), ', '), 'nowhere')
     FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()
       AND backend_type = 'client backend'")"
  if [ "${others%% *}" != 0 ]; then
    echo "restore.sh: $DBNAME is in use ($others); $STOP_FIRST" >&2
    exit 1
  fi
fi

clean=()
if [ "$FORCE" = 1 ]; then clean=(--clean --if-exists); fi
echo "restore: $DUMP -> database $DBNAME"
pg_restore --dbname="$DBNAME" --no-owner --single-transaction --exit-on-error "${clean[@]}" "$DUMP"
# The dump's worker heartbeats are of the hosts that ran when it was made: kept, they would
# have the watchdog call each of them lost (worker_down) for a day. Workers started on the
# restored database beat afresh.
PGDATABASE="$DBNAME" psql -XAtq -v ON_ERROR_STOP=1 -c "DO \$\$ BEGIN
  IF to_regclass('tds_worker_heartbeats') IS NOT NULL THEN DELETE FROM tds_worker_heartbeats; END IF;
END \$\$"
echo "restore: done; check with: psql -d $DBNAME -c 'SELECT status, count(*) FROM tds_sync_queue GROUP BY 1'"
