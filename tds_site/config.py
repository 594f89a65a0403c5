"""Read and validate TDS Core's environment in one place.

Every variable of the contract is read here, checked, and turned into a typed value.
A bad value raises ``ConfigError`` naming the variable, so start-up can stop with one line.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

import environ

ENVIRONMENTS = ("development", "test", "staging", "production")


class ConfigError(Exception):
    """A configuration variable holds a value TDS Core cannot use."""


def read_dotenv(base_dir: Path) -> None:
    """Load ``.env`` from the working directory; real environment variables win."""
    path = Path.cwd() / ".env"
    if not path.is_file():
        path = base_dir / ".env"
    if path.is_file():
        environ.Env.read_env(str(path), overwrite=False)


class Reader:
    """Typed accessors over ``os.environ`` that name the variable in every error."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        self.env = os.environ if env is None else env

    def raw(self, name: str, default: str | None = None) -> str | None:
        value = self.env.get(name)
        if value is None or value.strip() == "":
            return default
        return value.strip()

    def str(self, name: str, default: str = "") -> str:
        return self.raw(name, default) or default

    def bool(self, name: str, default: bool) -> bool:
        value = self.raw(name)
        if value is None:
            return default
        lowered = value.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{name}: {value!r} is not a boolean (use true or false)")

    def int(self, name: str, default: int, minimum: int = 0) -> int:
        value = self.raw(name)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            raise ConfigError(f"{name}: {value!r} is not a whole number") from None
        if number < minimum:
            raise ConfigError(f"{name}: {number} is below the minimum of {minimum}")
        return number

    def decimal(self, name: str, default: str, maximum: str | None = None) -> Decimal:
        value = self.raw(name, default) or default
        try:
            number = Decimal(value)
        except InvalidOperation:
            raise ConfigError(f"{name}: {value!r} is not a number") from None
        if not number.is_finite() or number <= 0:
            raise ConfigError(f"{name}: {value!r} must be a positive number")
        if maximum is not None and number > Decimal(maximum):
            raise ConfigError(f"{name}: {value!r} must be at most {maximum}")
        return number

    def int_list(self, name: str, default: str) -> list[int]:
        value = self.raw(name, default) or default
        try:
            numbers = [int(part) for part in value.split(",") if part.strip()]
        except ValueError:
            raise ConfigError(
                f"{name}: {value!r} is not a comma list of whole seconds (e.g. 60,300,900)"
            ) from None
        if not numbers or any(n < 0 for n in numbers):
            raise ConfigError(f"{name}: {value!r} needs at least one non-negative number")
        return numbers

    def str_list(self, name: str, default: str = "") -> list[str]:
        value = self.raw(name, default) or ""
        return [part.strip() for part in value.split(",") if part.strip()]

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        value = (self.raw(name, default) or default).lower()
        if value not in choices:
            raise ConfigError(f"{name}: {value!r} is not one of {', '.join(choices)}")
        return value

    def url(self, name: str) -> str | None:
        value = self.raw(name)
        if value is not None and "://" not in value:
            raise ConfigError(f"{name}: {value!r} is not a URL")
        return value

    def rate(self, name: str, default: str) -> str:
        value = self.raw(name, default) or default
        count, _, period = value.partition("/")
        if not count.isdigit() or int(count) < 1 or not period or period[0] not in "smhd":
            raise ConfigError(f"{name}: {value!r} is not a rate like 100/s, 600/m or 1000/h")
        return value


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int
    delays: tuple[int, ...]

    def delay_after(self, attempt: int) -> int:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        index = min(attempt - 1, len(self.delays) - 1)
        return self.delays[max(index, 0)]


def pool_limits(read: Reader) -> dict[str, int]:
    """An API process's connection pool: POOL_SIZE kept open, MAX_OVERFLOW more on demand,
    a request waiting at most POOL_TIMEOUT seconds for one (then 503)."""
    pool_size = read.int("DATABASE_POOL_SIZE", 10, minimum=1)
    return {
        "min_size": pool_size,
        "max_size": pool_size + read.int("DATABASE_MAX_OVERFLOW", 20),
        "timeout": read.int("DATABASE_POOL_TIMEOUT", 30, minimum=1),
    }


def database_settings(read: Reader, base_dir: Path, use_pool: bool) -> dict:
    """Build ``DATABASES['default']`` from DATABASE_URL or the DATABASE_* set."""
    url = read.raw("DATABASE_URL")
    if url:
        scheme = url.split("://", 1)[0].lower() if "://" in url else ""
        if scheme not in ("postgres", "postgresql", "pgsql", "sqlite"):
            raise ConfigError("DATABASE_URL: use postgres://user@host:port/name or sqlite:///path")
        try:
            config = environ.Env.db_url_config(url)
        except Exception as exc:  # django-environ raises several types for bad URLs
            raise ConfigError(f"DATABASE_URL: cannot parse it ({type(exc).__name__})") from None
    elif read.raw("DATABASE_HOST"):
        config = {
            "ENGINE": "django.db.backends.postgresql",
            "HOST": read.str("DATABASE_HOST"),
            "PORT": str(read.int("DATABASE_PORT", 5432, minimum=1)),
            "NAME": read.str("DATABASE_NAME", "tds_core"),
            "USER": read.str("DATABASE_USER", "postgres"),
            "PASSWORD": read.str("DATABASE_PASSWORD"),
        }
    else:
        config = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(base_dir / "db.sqlite3")}

    engine = config["ENGINE"]
    if "sqlite" in engine:
        # WAL lets the API read while the worker writes; IMMEDIATE takes the write lock at
        # BEGIN so two processes never deadlock upgrading a read lock; the busy timeout
        # makes a writer wait for the other instead of failing at once.
        config["OPTIONS"] = {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
        test_name = read.raw("SQLITE_TEST_NAME") or str(base_dir / "test_db.sqlite3")
        config["TEST"] = {"NAME": test_name}
    elif "postgresql" in engine:
        options = config.setdefault("OPTIONS", {})
        options.setdefault("connect_timeout", 5)
        # Parameters travel separately from the SQL: psycopg does not escape a 2 KB webhook
        # body into the query text on every request (it was ~8% of the API's CPU).
        options.setdefault("server_side_binding", True)
        # Django turns psycopg's prepared statements off by default. The hot statements
        # (ingest's insert, the worker's apply) are planned once per connection instead of
        # on every call: planning was over a third of the database's CPU per event.
        options.setdefault("prepare_threshold", 5)
        if read.bool("DATABASE_PGBOUNCER", False):
            # PgBouncer in transaction mode hands each transaction to any server connection:
            # no named cursors and no prepared statements may outlive one, and PgBouncer
            # is the pool, so no pool and no persistent connection in this process.
            config["DISABLE_SERVER_SIDE_CURSORS"] = True
            options["prepare_threshold"] = None
            config["CONN_MAX_AGE"] = 0
        elif use_pool:
            # psycopg 3's pool, per process: POOL_SIZE kept open, OVERFLOW more on demand.
            options["pool"] = pool_limits(read)
            # Django's backend, with a pool that never lends a connection the server closed.
            config["ENGINE"] = "tds_site.postgresql"
        else:
            config["CONN_MAX_AGE"] = 300
            config["CONN_HEALTH_CHECKS"] = True
    config.setdefault("ATOMIC_REQUESTS", False)
    return config
