#!/usr/bin/env bash
# Back up TDS Core's tables: pg_dump custom format (-Fc) of the sync tables (tds_*), the ERP
# tables, django-q2's queue and the Django tables the schema refers to, so that a restore
# into an empty database is complete and `migrate` knows it is up to date.
# Keeps --keep-days days of dumps. Exits non-zero when anything fails.
#   deploy/backup.sh [--env-file /opt/tds_core/.env] [--dir /var/backups/tds_core] [--keep-days 14]
set -euo pipefail

ENV_FILE=""
DIR=/var/backups/tds_core
KEEP_DAYS=14
while [ $# -gt 0 ]; do
  case "$1" in
    --env-file) ENV_FILE="${2:?--env-file needs a file}"; shift ;;
    --dir) DIR="${2:?--dir needs a directory}"; shift ;;
    --keep-days) KEEP_DAYS="${2:?--keep-days needs a number}"; shift ;;
    -h | --help) sed -n '2,7p' "$0"; exit 0 ;;
    *) echo "backup.sh: unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done
[[ "$KEEP_DAYS" =~ ^[0-9]+$ ]] || { echo "backup.sh: --keep-days must be a number" >&2; exit 2; }

# shellcheck source=SCRIPTDIR/_pgenv.sh
source "$(dirname "${BASH_SOURCE[0]}")/_pgenv.sh"
if [ -n "$ENV_FILE" ]; then load_env_file "$ENV_FILE"; fi
pg_env_from_settings

ERP_TABLES=(products customers vendors invoices invoice_lines bills bill_lines credit_notes
  credit_note_lines sales_orders sales_order_lines payments stock_adjustments
  stock_adjustment_lines price_lists price_list_items)
# Patterns; --strict-names makes a pattern that matches nothing an error (a wrong database).
TABLES=('tds_*' "${ERP_TABLES[@]}" 'django_q_*' django_migrations django_content_type
  'auth_*' authtoken_token django_admin_log 'axes_*')
args=()
for table in "${TABLES[@]}"; do args+=(--table="public.$table"); done

umask 077
mkdir -p "$DIR"
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
final="$DIR/tds_core_${PGDATABASE:-db}_$stamp.dump"
partial="$final.partial"
trap 'rm -f "$partial"' EXIT

echo "backup: database ${PGDATABASE:-?} on ${PGHOST:-local socket} -> $final"
pg_dump --format=custom --compress=6 --no-owner --strict-names "${args[@]}" --file="$partial"
# A dump that pg_restore cannot read is no backup.
pg_restore --list "$partial" >/dev/null
mv "$partial" "$final"
echo "backup: $(du -h "$final" | cut -f1) written"

# Retention: whole dumps older than KEEP_DAYS days.
find "$DIR" -maxdepth 1 -type f -name 'tds_core_*.dump' -mtime "+$KEEP_DAYS" -print -delete |
  sed 's/^/backup: removed old /'
