#!/usr/bin/env bash
# Install or upgrade TDS Core on Debian/Ubuntu, from the checkout this script lives in.
# Idempotent: run it again after pulling new code to upgrade (migrate, reload, restart).
# Prints every step; --dry-run prints them and changes nothing.
set -euo pipefail

usage() {
  cat <<'TXT'
usage: deploy/install.sh [--dry-run] [--prefix DIR] [--server-name NAME] [--user NAME]
                         [--skip-packages] [--no-nginx]
  --dry-run        print the steps, change nothing
  --prefix DIR     install directory (default /opt/tds_core)
  --server-name    public host name for nginx and ALLOWED_HOSTS (default api.tsh.sale)
  --user NAME      system user the services run as (default tds)
  --skip-packages  do not apt-get install anything
  --no-nginx       do not install the nginx site
On a first install, set DATABASE_URL in the environment to have it written into .env;
otherwise edit the DATABASE_* lines of the new .env and run the script again.
TXT
}

DRY_RUN=0
PREFIX=/opt/tds_core
SERVER_NAME=api.tsh.sale
APP_USER=tds
WITH_PACKAGES=1
WITH_NGINX=1
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY_RUN=1 ;;
    --prefix) PREFIX="${2:?--prefix needs a directory}"; shift ;;
    --server-name) SERVER_NAME="${2:?--server-name needs a name}"; shift ;;
    --user) APP_USER="${2:?--user needs a name}"; shift ;;
    --skip-packages) WITH_PACKAGES=0 ;;
    --no-nginx) WITH_NGINX=0 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "install.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done
PREFIX="${PREFIX%/}"
SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SYSTEMD_DIR=/etc/systemd/system
NGINX_SITE=/etc/nginx/sites-available/tds-core
BACKUP_DIR=/var/backups/tds_core
VENV="$PREFIX/venv"
ENV_FILE="$PREFIX/.env"

step() { printf '\n== %s\n' "$*"; }
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

step "1. System packages"
if [ "$WITH_PACKAGES" = 1 ]; then
  run apt-get update -q
  run env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    python3 python3-venv python3-pip rsync openssl ca-certificates postgresql-client nginx cron curl
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
run "$VENV/bin/pip" install --quiet --require-hashes -r "$PREFIX/requirements.txt"
run "$VENV/bin/pip" install --quiet --no-deps --no-build-isolation "$PREFIX"
# The services may not write under $PREFIX, so compile the bytecode now.
run "$VENV/bin/python" -m compileall -q -x '/(venv|tests)/' "$PREFIX"

step "5. Configuration $ENV_FILE"
if [ -f "$ENV_FILE" ]; then
  note "exists; kept as it is"
  missing="$(comm -23 <(sed -n 's/^\([A-Z_][A-Z0-9_]*\)=.*/\1/p' "$SRC/deploy/env.example" | sort -u) \
    <(sed -n 's/^\([A-Z_][A-Z0-9_]*\)=.*/\1/p' "$ENV_FILE" | sort -u) | tr '\n' ' ')"
  [ -z "$missing" ] || note "not set in .env (defaults apply): $missing"
else
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
  tds-core-watchdog.service tds-core-watchdog.timer; do
  adapt "$SRC/deploy/$unit" | put "$SYSTEMD_DIR/$unit" 0644 root:root
done
if [ -d /run/systemd/system ] || [ "$DRY_RUN" = 1 ]; then
  run systemctl daemon-reload
  run systemctl enable tds-core-api.socket tds-core-api.service tds-core-worker.service
  run systemctl start tds-core-api.socket
  # worker_down from outside the worker: its own monitor cannot report its death.
  run systemctl enable --now tds-core-watchdog.timer
  # A running API reloads gracefully (new workers, new code); otherwise it starts.
  run systemctl reload-or-restart tds-core-api.service
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
  adapt "$SRC/deploy/nginx/tds-core.conf" |
    sed -e "s|^\(\s*ssl_certificate \).*|\1$cert;|" -e "s|^\(\s*ssl_certificate_key \).*|\1$key;|" |
    put "$NGINX_SITE" 0644 root:root
  run ln -sfn "$NGINX_SITE" /etc/nginx/sites-enabled/tds-core
  run nginx -t
  if [ -d /run/systemd/system ] || [ "$DRY_RUN" = 1 ]; then
    run systemctl reload-or-restart nginx
  fi
else
  note "skipped (--no-nginx)"
fi

step "9. Nightly backup"
run install -d -m 0750 -o "$APP_USER" -g "$APP_USER" "$BACKUP_DIR"
adapt "$SRC/deploy/cron.d/tds-core" | sed "s| tds | $APP_USER |" | put /etc/cron.d/tds-core 0644 root:root

step "10. Check"
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
