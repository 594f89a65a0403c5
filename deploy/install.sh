#!/usr/bin/env bash
# Install or upgrade TDS Core on Debian/Ubuntu, from the checkout this script lives in.
# Idempotent: run it again after pulling new code to upgrade (migrate, reload, restart).
# Prints every step; --dry-run prints them and changes nothing.
set -euo pipefail

usage() {
  cat <<'TXT'
usage: deploy/install.sh [--dry-run] [--prefix DIR] [--server-name NAME] [--user NAME]
                         [--skip-packages] [--no-nginx] [--app-host ADDRESS]
                         [--env-from FILE] [--balance HOST:PORT,...]
       deploy/install.sh --database-host [--allow CIDR,...] [--pgbouncer] [--dry-run]
  --dry-run        print the steps, change nothing
  --prefix DIR     install directory (default /opt/tds_core)
  --server-name    public host name for nginx and ALLOWED_HOSTS (default api.tsh.sale)
  --user NAME      system user the services run as (default tds)
  --skip-packages  do not apt-get install anything
  --no-nginx       do not install the nginx site
  --app-host ADDR  one of several API + worker hosts: the API also listens on ADDR:8001
                   for the balancer on another host
  --env-from FILE  first install: take .env from FILE (a copy of the first host's .env:
                   every host needs the same SECRET_KEY and webhook secrets)
  --database-env FILE  put FILE's DATABASE_URL and DATABASE_PGBOUNCER (a copy of the
                   database host's /etc/tds-core/database.env) into .env, e.g. for PgBouncer
  --balance LIST   nginx balances over these APIs (HOST:PORT,...) instead of 127.0.0.1:8001
  --database-host  install only PostgreSQL for TDS Core (role tds, database tsh_erp); the
                   URL for the app hosts goes to /etc/tds-core/database.env (root only)
  --allow LIST     database host: app hosts' networks that may connect (default: local only)
  --pgbouncer      database host: PgBouncer (transaction mode, port 6432) in front
On a first install the database comes from DATABASE_URL in the environment, else from
/etc/tds-core/database.env (left by --database-host on the same host); otherwise edit the
DATABASE_* lines of the new .env and run the script again. The options of an app host's
install are kept in /etc/tds-core/install.conf: an upgrade needs none of them again.
TXT
}

DRY_RUN=0
WITH_PACKAGES=1
ENV_FROM=""
DATABASE_SETTINGS=""
DATABASE_HOST_MODE=0
ALLOW=""
WITH_PGBOUNCER=0
# Given on the command line (empty: not given). An app host's options are remembered in
# SAVED, so an upgrade is `deploy/install.sh` alone, with what the first install was told.
PREFIX="" SERVER_NAME="" APP_USER="" WITH_NGINX="" APP_HOST="" BALANCE=""
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY_RUN=1 ;;
    --prefix) PREFIX="${2:?--prefix needs a directory}"; shift ;;
    --server-name) SERVER_NAME="${2:?--server-name needs a name}"; shift ;;
    --user) APP_USER="${2:?--user needs a name}"; shift ;;
    --skip-packages) WITH_PACKAGES=0 ;;
    --no-nginx) WITH_NGINX=0 ;;
    --app-host) APP_HOST="${2:?--app-host needs an address}"; shift ;;
    --env-from) ENV_FROM="${2:?--env-from needs a file}"; shift ;;
    --database-env) DATABASE_SETTINGS="${2:?--database-env needs a file}"; shift ;;
    --balance) BALANCE="${2:?--balance needs HOST:PORT,...}"; shift ;;
    --database-host) DATABASE_HOST_MODE=1 ;;
    --allow) ALLOW="${2:?--allow needs CIDR,...}"; shift ;;
    --pgbouncer) WITH_PGBOUNCER=1 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "install.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done
SAVED=/etc/tds-core/install.conf
saved() { if [ -r "$SAVED" ]; then sed -n "s/^$1=//p" "$SAVED" | tail -n1; fi; }
PREFIX="${PREFIX:-$(saved PREFIX)}"
PREFIX="${PREFIX:-/opt/tds_core}"
SERVER_NAME="${SERVER_NAME:-$(saved SERVER_NAME)}"
SERVER_NAME="${SERVER_NAME:-api.tsh.sale}"
APP_USER="${APP_USER:-$(saved APP_USER)}"
APP_USER="${APP_USER:-tds}"
WITH_NGINX="${WITH_NGINX:-$(saved WITH_NGINX)}"
WITH_NGINX="${WITH_NGINX:-1}"
APP_HOST="${APP_HOST:-$(saved APP_HOST)}"
BALANCE="${BALANCE:-$(saved BALANCE)}"
PREFIX="${PREFIX%/}"
SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SYSTEMD_DIR=/etc/systemd/system
NGINX_SITE=/etc/nginx/sites-available/tds-core
BACKUP_DIR=/var/backups/tds_core
VENV="$PREFIX/venv"
ENV_FILE="$PREFIX/.env"
DATABASE_ENV=/etc/tds-core/database.env
ENV_CHANGED=0  # .env rewritten: the API must restart (a reload keeps the old settings)

step() { printf '\n== %s  [%s]\n' "$*" "$(date +%T)"; }
note() { printf '   %s\n' "$*"; }
# Print a command, then run it unless this is a dry run.
run() {
  printf '+ %s\n' "$*"
  if [ "$DRY_RUN" = 0 ]; then "$@"; fi
}
# Write stdin to a file (mode, owner:group) unless this is a dry run.
put() {
  local dest="$1" mode="$2" owner="$3" tmp
  printf '+ write %s (mode %s, %s)\n' "$dest" "$mode" "$owner"
  if [ "$DRY_RUN" = 1 ]; then
    cat >/dev/null
    return
  fi
  tmp="$(mktemp)"
  cat >"$tmp"
  install -m "$mode" -o "${owner%:*}" -g "${owner#*:}" "$tmp" "$dest"
  rm -f "$tmp"
}
# DATABASE_URL and DATABASE_PGBOUNCER from DATABASE_SETTINGS (read, never executed).
load_database_settings() {
  local line
  while IFS= read -r line; do
    case "$line" in
      DATABASE_URL=*) DATABASE_URL="${line#*=}" ;;
      DATABASE_PGBOUNCER=*) DATABASE_PGBOUNCER="${line#*=}" ;;
    esac
  done <"$DATABASE_SETTINGS"
}
# Rewrite .env's database lines from DATABASE_SETTINGS, in bash alone: the password is on
# no command line. Every other line stays as it is.
replace_database_settings() {
  local line
  DATABASE_URL="" DATABASE_PGBOUNCER=false
  load_database_settings
  [ -n "$DATABASE_URL" ] || { echo "install.sh: no DATABASE_URL in $DATABASE_SETTINGS" >&2; exit 2; }
  {
    while IFS= read -r line || [ -n "$line" ]; do
      case "$line" in
        DATABASE_URL=* | DATABASE_PGBOUNCER=*) ;;
        *) printf '%s\n' "$line" ;;
      esac
    done <"$ENV_FILE"
    printf 'DATABASE_URL=%s\nDATABASE_PGBOUNCER=%s\n' "$DATABASE_URL" "$DATABASE_PGBOUNCER"
  } | put "$ENV_FILE" 0640 "root:$APP_USER"
  ENV_CHANGED=1
}
manage() { run runuser -u "$APP_USER" -- "$VENV/bin/python" "$PREFIX/manage.py" "$@"; }
# Deployment files name /opt/tds_core, user tds and api.tsh.sale; adapt them to the options.
adapt() {
  sed -e "s|/opt/tds_core|$PREFIX|g" -e "s|^User=tds$|User=$APP_USER|" \
    -e "s|^Group=tds$|Group=$APP_USER|" -e "s|api\.tsh\.sale|$SERVER_NAME|g" "$1"
}

[ "$DRY_RUN" = 1 ] && echo "DRY RUN: nothing is changed."
if [ "$DRY_RUN" = 0 ] && [ "$(id -u)" != 0 ]; then
  echo "install.sh: run as root (or with --dry-run)" >&2
  exit 1
fi
cd /  # manage.py then reads $PREFIX/.env, whatever directory we were started from

# apt-get install, unless every package is installed already (an upgrade, or a host
# prepared beforehand): then nothing is fetched, and no mirror needs to answer.
packages() {
  local absent=() package
  for package in "$@"; do
    if [ "$(dpkg-query -W -f='${db:Status-Status}' "$package" 2>/dev/null)" != installed ]; then
      absent+=("$package")
    fi
  done
  if [ "${#absent[@]}" = 0 ]; then
    note "installed already: $*"
    return
  fi
  run apt-get update -q
  run env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    "${absent[@]}"
}

if [ "$DATABASE_HOST_MODE" = 1 ]; then
  # shellcheck source=SCRIPTDIR/_dbhost.sh
  source "$SRC/deploy/_dbhost.sh"
  database_host
  exit 0
fi

step "1. System packages"
if [ "$WITH_PACKAGES" = 1 ]; then
  packages python3 python3-venv python3-pip rsync openssl ca-certificates postgresql-client \
    nginx curl procps
else
  note "skipped (--skip-packages)"
fi
PYTHON=""
for candidate in python3.13 python3.12 python3.11 python3; do
  if command -v "$candidate" >/dev/null &&
    "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    PYTHON="$(command -v "$candidate")"
    break
  fi
done
if [ -z "$PYTHON" ]; then
  [ "$DRY_RUN" = 1 ] || { echo "install.sh: Python 3.11+ not found (apt install python3.11)" >&2; exit 1; }
  PYTHON=python3.11
fi
note "python: $PYTHON"

step "2. System user $APP_USER"
if id -u "$APP_USER" >/dev/null 2>&1; then
  note "user $APP_USER exists"
else
  run useradd --system --user-group --home-dir "$PREFIX" --no-create-home \
    --shell /usr/sbin/nologin "$APP_USER"
fi

step "3. Code in $PREFIX (owned by root: the services cannot modify it)"
run install -d -m 0755 -o root -g root "$PREFIX"
if [ "$SRC" = "$PREFIX" ]; then
  note "running from $PREFIX itself; nothing to copy"
else
  run rsync -a --delete --chown=root:root --chmod=go-w \
    --exclude=/.git --exclude=/.venv --exclude=/venv --exclude=/.env --exclude=/staticfiles \
    --exclude=__pycache__ --exclude='*.pyc' --exclude='*.sqlite3*' --exclude=/tests/artifacts \
    "$SRC/" "$PREFIX/"
fi

step "4. Virtual environment $VENV"
if [ -x "$VENV/bin/python" ]; then
  note "exists; upgrading its packages"
else
  run "$PYTHON" -m venv "$VENV"
fi
# The locked releases (pip and setuptools among them), each file checked against its hash;
# then the project alone, built by the locked setuptools: nothing else is fetched.
# An upgrade with the same lock skips the first step (checking every hash takes a while
# on a busy host); the stamp names the lock's hash.
stamp="$VENV/.tds-locked-$({ sha256sum <"$PREFIX/requirements.txt" || true; } 2>/dev/null | cut -c1-16)"
if [ "$DRY_RUN" = 0 ] && [ -f "$stamp" ]; then
  note "the locked releases are installed already (requirements.txt unchanged)"
else
  run "$VENV/bin/pip" install --quiet --require-hashes -r "$PREFIX/requirements.txt"
  if [ "$DRY_RUN" = 0 ]; then rm -f "$VENV"/.tds-locked-* && touch "$stamp"; fi
fi
run "$VENV/bin/pip" install --quiet --no-deps --no-build-isolation "$PREFIX"
# The services may not write under $PREFIX, so compile the bytecode now.
run "$VENV/bin/python" -m compileall -q -x '/(venv|tests)/' "$PREFIX"

step "5. Configuration $ENV_FILE"
if [ -f "$ENV_FILE" ]; then
  note "exists; kept as it is"
  missing="$(comm -23 <(sed -n 's/^\([A-Z_][A-Z0-9_]*\)=.*/\1/p' "$SRC/deploy/env.example" | sort -u) \
    <(sed -n 's/^\([A-Z_][A-Z0-9_]*\)=.*/\1/p' "$ENV_FILE" | sort -u) | tr '\n' ' ')"
  [ -z "$missing" ] || note "not set in .env (defaults apply): $missing"
  if [ -n "$DATABASE_SETTINGS" ]; then
    note "database settings from $DATABASE_SETTINGS"
    replace_database_settings
  fi
elif [ -n "$ENV_FROM" ]; then
  put "$ENV_FILE" 0640 "root:$APP_USER" <"$ENV_FROM"
  note "copied from $ENV_FROM (another host's: the same secrets and database)"
else
  DATABASE_SETTINGS="${DATABASE_SETTINGS:-$DATABASE_ENV}"
  if [ -z "${DATABASE_URL:-}" ] && [ -r "$DATABASE_SETTINGS" ]; then
    # The database host's settings: left on this host by install.sh --database-host, or
    # copied from there.
    note "database settings from $DATABASE_SETTINGS"
    load_database_settings
    export DATABASE_URL DATABASE_PGBOUNCER
  fi
  # The secrets are made inside render_env.py and reach the file through a pipe: never a
  # command line, which every user can read in ps.
  TDS_PREFIX="$PREFIX" TDS_SERVER_NAME="$SERVER_NAME" \
    "$PYTHON" "$SRC/deploy/render_env.py" "$SRC/deploy/env.example" |
    put "$ENV_FILE" 0640 "root:$APP_USER"
  note "generated SECRET_KEY (64 chars) and a webhook secret (40 chars); not shown here."
  note "Zoho needs the webhook secret: grep ZOHO_WEBHOOK_SECRETS $ENV_FILE"
fi
if [ "$DRY_RUN" = 0 ] && grep -q '=CHANGE_ME$' "$ENV_FILE"; then
  echo
  echo "Edit these lines of $ENV_FILE, then run deploy/install.sh again:"
  grep -n '=CHANGE_ME$' "$ENV_FILE" | sed 's/=CHANGE_ME$/=.../'
  exit 3
fi

step "6. Database and static files"
manage check --deploy --fail-level WARNING
manage migrate --no-input
# As root: the files belong to root and nginx only reads them.
run "$VENV/bin/python" "$PREFIX/manage.py" collectstatic --no-input --clear -v0

step "7. systemd units"
for unit in tds-core-api.socket tds-core-api.service tds-core-worker.service \
  tds-core-watchdog.service tds-core-watchdog.timer tds-core-backup.service \
  tds-core-backup.timer; do
  adapt "$SRC/deploy/$unit" | put "$SYSTEMD_DIR/$unit" 0644 root:root
done
if [ -n "$APP_HOST" ]; then
  # One of several API hosts: the balancer (nginx on another host) reaches it here too.
  note "API also on $APP_HOST:8001 for the balancer"
  adapt "$SRC/deploy/tds-core-api.socket" |
    sed "s|^ListenStream=127.0.0.1:8001$|&\nListenStream=$APP_HOST:8001|" |
    put "$SYSTEMD_DIR/tds-core-api.socket" 0644 root:root
fi
if [ -d /run/systemd/system ] || [ "$DRY_RUN" = 1 ]; then
  run systemctl daemon-reload
  run systemctl enable tds-core-api.socket tds-core-api.service tds-core-worker.service
  # A listening socket is kept: stopping it would refuse connections (an upgrade).
  if systemctl is-active --quiet tds-core-api.socket 2>/dev/null; then
    note "socket tds-core-api.socket is listening; kept (the API restarts below)"
  else
    run systemctl start tds-core-api.socket
  fi
  # worker_down from outside the worker: its own monitor cannot report its death.
  run systemctl enable --now tds-core-watchdog.timer
  # The nightly backup (tds-core-backup.service); `systemctl list-timers` shows the next run.
  run systemctl enable --now tds-core-backup.timer
  if [ "$ENV_CHANGED" = 1 ]; then
    # Only a new master reads .env; the socket holds connections meanwhile.
    run systemctl restart tds-core-api.service
  else
    # A running API reloads gracefully (new workers, new code); otherwise it starts.
    run systemctl reload-or-restart tds-core-api.service
  fi
  # SIGTERM: the worker finishes the tasks in hand, then the new code takes over.
  run systemctl restart tds-core-worker.service
else
  note "systemd is not running here; start the units yourself"
fi

step "8. nginx site"
if [ "$WITH_NGINX" = 1 ]; then
  cert="/etc/letsencrypt/live/$SERVER_NAME/fullchain.pem"
  key="/etc/letsencrypt/live/$SERVER_NAME/privkey.pem"
  if [ ! -f "$cert" ]; then
    # nginx will not start without a certificate; a self-signed one stands in until
    # certbot has run (then run this script again).
    cert=/etc/ssl/tds-core/selfsigned.pem
    key=/etc/ssl/tds-core/selfsigned.key
    note "no Let's Encrypt certificate yet: using $cert; afterwards run"
    note "  certbot certonly --webroot -w /var/www/html -d $SERVER_NAME && deploy/install.sh"
    if [ ! -f "$cert" ]; then
      run install -d -m 0755 /etc/ssl/tds-core
      run openssl req -x509 -newkey rsa:2048 -nodes -days 90 -subj "/CN=$SERVER_NAME" \
        -keyout "$key" -out "$cert"
    fi
  fi
  site_before="$(md5sum "$NGINX_SITE" 2>/dev/null || true)"
  upstreams="server 127.0.0.1:8001;"
  if [ -n "$BALANCE" ]; then
    # Several API hosts: a host that does not answer is left out for 10 s, and a request it
    # could not be sent to goes to the next one (a POST only if it never reached the first).
    upstreams=""
    for backend in ${BALANCE//,/ }; do
      upstreams="${upstreams}server $backend max_fails=1 fail_timeout=10s;\n    "
    done
    note "balancing over: $BALANCE"
  fi
  adapt "$SRC/deploy/nginx/tds-core.conf" |
    sed -e "s|^\(\s*ssl_certificate \).*|\1$cert;|" -e "s|^\(\s*ssl_certificate_key \).*|\1$key;|" \
      -e "s|^    server 127.0.0.1:8001;$|    ${upstreams%\\n    }|" |
    put "$NGINX_SITE" 0644 root:root
  run ln -sfn "$NGINX_SITE" /etc/nginx/sites-enabled/tds-core
  run nginx -t
  if [ -d /run/systemd/system ] || [ "$DRY_RUN" = 1 ]; then
    run systemctl enable nginx
    if [ "$DRY_RUN" = 0 ] && [ "$(md5sum "$NGINX_SITE")" = "$site_before" ] &&
      systemctl is-active --quiet nginx; then
      # A reload closes the clients' idle keep-alive connections: a sender that had just
      # written a webhook on one sees it cut. An upgrade that changes nothing here skips it.
      note "site unchanged; nginx keeps running as it is"
    else
      run systemctl reload-or-restart nginx
    fi
  fi
else
  note "skipped (--no-nginx)"
fi

step "9. Nightly backup (tds-core-backup.timer, installed in step 7)"
run install -d -m 0750 -o "$APP_USER" -g "$APP_USER" "$BACKUP_DIR"
if [ -f /etc/cron.d/tds-core ]; then
  note "the timer replaces the cron job of earlier releases"
  run rm -f /etc/cron.d/tds-core
fi

step "10. Options kept for the next run: $SAVED"
{
  printf 'PREFIX=%s\nSERVER_NAME=%s\nAPP_USER=%s\nWITH_NGINX=%s\n' \
    "$PREFIX" "$SERVER_NAME" "$APP_USER" "$WITH_NGINX"
  printf 'APP_HOST=%s\nBALANCE=%s\n' "$APP_HOST" "$BALANCE"
} | { run install -d -m 0755 "$(dirname "$SAVED")" && put "$SAVED" 0644 root:root; }

step "11. Check"
if [ "$DRY_RUN" = 0 ] && [ -d /run/systemd/system ]; then
  for _ in $(seq 30); do
    if curl -fsS http://127.0.0.1:8001/health >/dev/null 2>&1; then break; fi
    sleep 1
  done
fi
if [ -d /run/systemd/system ] || [ "$DRY_RUN" = 1 ]; then
  run curl -fsS http://127.0.0.1:8001/health
  echo
fi
echo "Done. Logs: journalctl -u tds-core-api -u tds-core-worker -f"
