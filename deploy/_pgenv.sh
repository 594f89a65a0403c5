# shellcheck shell=bash
# Sourced by backup.sh and restore.sh: turn TDS Core's database settings (DATABASE_URL or
# the DATABASE_* set, from the environment or an env file) into libpq's PG* variables, so
# that no password ever appears on a command line.

# load_env_file FILE: export FILE's KEY=VALUE lines that the environment does not set yet
# (like the app: real environment variables win). The file is read, never executed.
load_env_file() {
  local file="$1" line key value
  [ -r "$file" ] || { echo "cannot read env file $file" >&2; return 1; }
  while IFS= read -r line || [ -n "$line" ]; do
    [[ "$line" =~ ^[[:space:]]*([A-Z_][A-Z0-9_]*)=(.*)$ ]] || continue
    key="${BASH_REMATCH[1]}"
    value="${BASH_REMATCH[2]}"
    value="${value%\"}"
    value="${value#\"}"
    if [ -z "${!key+set}" ]; then export "$key=$value"; fi
  done <"$file"
}

# pg_env_from_settings: export PGHOST PGPORT PGUSER PGPASSWORD PGDATABASE.
pg_env_from_settings() {
  if [ -n "${DATABASE_URL:-}" ]; then
    local assignments
    assignments="$(python3 - <<'PY'
import os, shlex
from urllib.parse import unquote, urlsplit

url = urlsplit(os.environ["DATABASE_URL"])
if url.scheme not in ("postgres", "postgresql", "pgsql", "psql"):
    raise SystemExit(f"DATABASE_URL: not a PostgreSQL URL (scheme {url.scheme!r})")
values = {
    "PGHOST": unquote(url.hostname or ""),
    "PGPORT": str(url.port or ""),
    "PGUSER": unquote(url.username or ""),
    "PGPASSWORD": unquote(url.password or ""),
    "PGDATABASE": unquote(url.path.lstrip("/")),
}
for key, value in values.items():
    if value:
        print(f"export {key}={shlex.quote(value)}")
PY
)" || return 1
    eval "$assignments"
  elif [ -n "${DATABASE_HOST:-}" ]; then
    export PGHOST="$DATABASE_HOST" PGPORT="${DATABASE_PORT:-5432}"
    export PGDATABASE="${DATABASE_NAME:-tds_core}" PGUSER="${DATABASE_USER:-postgres}"
    if [ -n "${DATABASE_PASSWORD:-}" ]; then export PGPASSWORD="$DATABASE_PASSWORD"; fi
  else
    echo "no PostgreSQL settings: set DATABASE_URL or DATABASE_HOST (or use --env-file)" >&2
    return 1
  fi
}
