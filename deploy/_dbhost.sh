# shellcheck shell=bash
# Sourced by install.sh for --database-host: PostgreSQL (and with --pgbouncer, PgBouncer in
# transaction mode) for TDS Core on this host. Uses install.sh's run/put/step/note/packages
# and its options (DRY_RUN, WITH_PACKAGES, ALLOW, WITH_PGBOUNCER, DATABASE_ENV).
# Idempotent: run again to add networks to --allow or to add PgBouncer; the role's password
# is kept (it is in $DATABASE_ENV, which every app host's .env copies).

DB_NAME=tsh_erp
DB_ROLE=tds
PG_PORT=5432
PGBOUNCER_PORT=6432
HBA_BEGIN="# tds-core: the app hosts, from install.sh --database-host --allow"
HBA_END="# tds-core: end"

# psql as the postgres superuser over the local socket; SQL holding a password comes on
# stdin, never on a command line (every user sees those in ps).
pg_superuser() { runuser -u postgres -- psql -XAtq -v ON_ERROR_STOP=1 -d postgres "$@"; }

database_host() {
  local cluster conf_dir hba before after password address port url allow_list
  step "1. System packages (database host)"
  local wanted=(postgresql procps)
  if [ "$WITH_PGBOUNCER" = 1 ]; then wanted+=(pgbouncer); fi
  if [ "$WITH_PACKAGES" = 1 ]; then packages "${wanted[@]}"; else note "skipped (--skip-packages)"; fi

  if [ -n "$ALLOW" ]; then
    step "2. PostgreSQL: listen on the network, for the app hosts in $ALLOW"
  else
    step "2. PostgreSQL: listen on localhost only"
  fi
  cluster="$(pg_lsclusters --no-header 2>/dev/null | awk 'NR == 1 {print $1 "/" $2}')"
  if [ -z "$cluster" ]; then
    # The package made no cluster (it was installed with no way to run initdb): make it.
    cluster="$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' 2>/dev/null |
      sort -V | tail -n1)"
    cluster="${cluster:-15}/main"
    run pg_createcluster "${cluster%/*}" main
  fi
  conf_dir="/etc/postgresql/$cluster"
  hba="$conf_dir/pg_hba.conf"
  allow_list="${ALLOW//,/ }"
  before="$(cat "$conf_dir/conf.d/tds-core.conf" "$hba" 2>/dev/null | md5sum || true)"
  # Each app host keeps API_WORKERS pooled connections per API process plus its workers'.
  # The port too: a cluster made while another PostgreSQL ran nearby may have taken 5433.
  printf "# deploy/install.sh --database-host\nport = %s\nlisten_addresses = '%s'\nmax_connections = 300\n" \
    "$PG_PORT" "$([ -n "$ALLOW" ] && echo '*' || echo localhost)" |
    put "$conf_dir/conf.d/tds-core.conf" 0644 postgres:postgres
  if [ "$DRY_RUN" = 0 ]; then
    # The app hosts' lines, replaced as one block on every run (compared as plain text:
    # no pattern to get wrong).
    local line inside=0 kept
    kept="$(mktemp)"
    while IFS= read -r line || [ -n "$line" ]; do
      if [ "$line" = "$HBA_BEGIN" ]; then inside=1; fi
      if [ "$inside" = 0 ]; then printf '%s\n' "$line"; fi
      if [ "$line" = "$HBA_END" ]; then inside=0; fi
    done <"$hba" >"$kept"
    {
      echo "$HBA_BEGIN"
      for net in $allow_list; do
        printf 'host %s %s %s scram-sha-256\n' "$DB_NAME" "$DB_ROLE" "$net"
      done
      echo "$HBA_END"
    } >>"$kept"
    install -m 0640 -o postgres -g postgres "$kept" "$hba"
    rm -f "$kept"
  fi
  note "pg_hba.conf: $DB_ROLE may reach $DB_NAME from ${ALLOW:-this host only}"
  after="$(cat "$conf_dir/conf.d/tds-core.conf" "$hba" 2>/dev/null | md5sum || true)"
  run systemctl enable postgresql
  if [ "$before" != "$after" ]; then
    run systemctl restart postgresql  # listen_addresses takes a restart
  else
    run systemctl start postgresql
  fi
  if [ "$DRY_RUN" = 0 ]; then
    # postgresql.service only fronts the clusters: it reports success even when one fails.
    for _ in $(seq 30); do runuser -u postgres -- pg_isready -q && break; sleep 1; done
    runuser -u postgres -- pg_isready -q || {
      echo "install.sh: PostgreSQL did not start; see journalctl -u postgresql@${cluster/\//-}" >&2
      exit 1
    }
  fi

  step "3. Role $DB_ROLE and database $DB_NAME"
  password=""
  if [ -r "$DATABASE_ENV" ]; then
    password="$(sed -n "s|^DATABASE_URL=postgres://$DB_ROLE:\([^@]*\)@.*|\1|p" "$DATABASE_ENV")"
  fi
  if [ -z "$password" ]; then
    password="$(python3 -c 'import secrets; print(secrets.token_hex(24))')"
    note "generated the password of $DB_ROLE (48 hex digits); it goes to $DATABASE_ENV only"
  fi
  if [ "$DRY_RUN" = 0 ]; then
    if [ -z "$(pg_superuser -c "SELECT 1 FROM pg_roles WHERE rolname = '$DB_ROLE'")" ]; then
      printf "CREATE ROLE %s LOGIN CREATEDB PASSWORD '%s';\n" "$DB_ROLE" "$password" | pg_superuser
    else
      printf "ALTER ROLE %s LOGIN CREATEDB PASSWORD '%s';\n" "$DB_ROLE" "$password" | pg_superuser
    fi
    if [ -z "$(pg_superuser -c "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'")" ]; then
      run runuser -u postgres -- createdb --owner="$DB_ROLE" "$DB_NAME"
    fi
  else
    printf '+ create role %s, database %s (owner %s)\n' "$DB_ROLE" "$DB_NAME" "$DB_ROLE"
  fi

  port="$PG_PORT"
  if [ "$WITH_PGBOUNCER" = 1 ]; then
    step "4. PgBouncer on port $PGBOUNCER_PORT (transaction mode)"
    port="$PGBOUNCER_PORT"
    pgbouncer_config
  fi

  step "5. Settings for the app hosts: $DATABASE_ENV"
  address=127.0.0.1
  if [ -n "$ALLOW" ]; then
    # The address the app hosts reach: this host's first one on the allowed networks' side.
    address="$(hostname -I | awk '{print $1}')"
  fi
  url="postgres://$DB_ROLE:$password@$address:$port/$DB_NAME"
  run install -d -m 0700 "$(dirname "$DATABASE_ENV")"
  printf 'DATABASE_URL=%s\nDATABASE_PGBOUNCER=%s\n' "$url" \
    "$([ "$WITH_PGBOUNCER" = 1 ] && echo true || echo false)" | put "$DATABASE_ENV" 0600 root:root
  note "app hosts: DATABASE_URL=postgres://$DB_ROLE:…@$address:$port/$DB_NAME (the password"
  note "is in $DATABASE_ENV); on this host, deploy/install.sh finds it there by itself"
}

# PgBouncer in front of the local PostgreSQL: the app hosts connect to it with the same role
# and password (its SCRAM secret, copied from pg_authid, so the password is stored nowhere
# new), and it connects on with that secret.
pgbouncer_config() {
  local secret
  secret="$( [ "$DRY_RUN" = 1 ] || pg_superuser -c "SELECT rolpassword FROM pg_authid WHERE rolname = '$DB_ROLE'")"
  printf '"%s" "%s"\n' "$DB_ROLE" "$secret" | put /etc/pgbouncer/userlist.txt 0640 postgres:postgres
  put /etc/pgbouncer/pgbouncer.ini 0640 postgres:postgres <<INI
; deploy/install.sh --database-host --pgbouncer
[databases]
$DB_NAME = host=127.0.0.1 port=$PG_PORT dbname=$DB_NAME

[pgbouncer]
listen_addr = $([ -n "$ALLOW" ] && echo '*' || echo 127.0.0.1)
listen_port = $PGBOUNCER_PORT
unix_socket_dir = /var/run/postgresql
auth_type = scram-sha-256
auth_file = /etc/pgbouncer/userlist.txt
pool_mode = transaction
; API_WORKERS x API hosts + WORKER_CONCURRENCY x worker hosts + a few (docs/operations.md)
default_pool_size = 40
max_client_conn = 2000
server_reset_query =
ignore_startup_parameters = extra_float_digits
logfile = /var/log/postgresql/pgbouncer.log
pidfile = /var/run/postgresql/pgbouncer.pid
INI
  run systemctl enable pgbouncer
  run systemctl restart pgbouncer
}
