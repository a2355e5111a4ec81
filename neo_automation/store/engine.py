"""Opening the metrics database: the engine, its tables, write transactions, masked errors.

SQLite gets WAL, a busy timeout and `BEGIN IMMEDIATE` (SQLAlchemy's documented pysqlite
recipe), so that concurrent writers queue instead of failing; the busy timeout is what is left
of the retry budget (`neo_automation.store.retry`), so a held lock and the write's retries
share one deadline. PostgreSQL gets pre-ping, a 10 s connect timeout and a `do_connect` hook
that retries a refused or cut connection with backoff until the budget is spent (SQLAlchemy's
documented way to take over `connect()`), so every connection of the engine (reads included)
outlives a database restart. Every database error a user can meet becomes one `StoreError`
line with the password masked; `StoreUnavailableError` when it was transient and outlasted
the budget.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError

from neo_automation.errors import StoreError
from neo_automation.store.retry import (
    RetryBudget,
    StoreDamagedError,
    StoreFaultError,
    StoreUnavailableError,
    is_damage,
    is_storage_fault,
    is_transient,
)
from neo_automation.store.schema import metadata, rollups_table, samples_table

#: The unique (series, time) index that makes sample writes idempotent.
SAMPLES_KEY = "ux_samples_series_ts"
#: The plain indexes it replaces in databases made before it.
_OLD_SAMPLES_INDEXES = ("ix_samples_series_ts", "ix_samples_ts")
#: The rollups' index for reads of a period across series.
ROLLUPS_INDEX = "ix_rollups_period_start"


def _index(table: sa.Table, name: str) -> sa.Index:
    return next(ix for ix in table.indexes if ix.name == name)

#: Seconds a PostgreSQL connection attempt may take (libpq waits for the OS otherwise).
CONNECT_TIMEOUT = 10


def mask_password(url: str) -> str:
    """A database URL with its password replaced by ***: safe to print, log and store.

    Args:
        url: A SQLAlchemy database URL, or text that is not one.

    Returns:
        The URL as SQLAlchemy renders it with the password hidden; for text SQLAlchemy cannot
        parse (a bad port, a mistyped scheme), the text with everything between the user's
        name and the last `@` replaced. Never raises.
    """
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        head, at, host = url.rpartition("@")
        start = head.find("//") + 2 if "//" in head else 0
        user, colon, _ = head[start:].partition(":")
        return f"{head[:start]}{user}:***@{host}" if at and colon else url


def _one_line(reason: object) -> str:
    """A driver's message on one line (psycopg's span several, with tabs)."""
    return " ".join(str(reason).split())


def store_error(action: str, url: str, exc: BaseException, budget: RetryBudget) -> StoreError:
    """One line for a failed `action` ("open", "write"), password masked.

    A `StoreUnavailableError` when `exc` is transient (it outlasted `budget`), a
    `StoreFaultError` when the database cannot store anything for a while (a full disk, a
    read-only file: `is_storage_fault`), else a `StoreError`.
    """
    reason = _one_line(getattr(exc, "orig", None) or exc)
    message = f"cannot {action} the metrics database {mask_password(url)!r}: {reason}"
    if is_transient(exc):
        return StoreUnavailableError(
            f"{message} (still unavailable after {budget.total:g} s of retries: "
            "AUTOMATION_STORE_RETRY_SECONDS)")
    if is_storage_fault(exc):
        return StoreFaultError(message)
    return StoreError(message)


#: What to do about a damaged database, appended to its one line.
RECOVER = ("restore it from its backup, or move it away to start a fresh store "
           "(README: \"Recovering a damaged store\")")


def damaged(url: str, exc: BaseException) -> StoreDamagedError:
    """The one-line error of a damaged database `url` (password masked), with what to do."""
    reason = _one_line(getattr(exc, "orig", None) or exc)
    return StoreDamagedError(f"the metrics database {mask_password(url)!r} is damaged ({reason}): "
                             f"{RECOVER}")


def _report_damage(engine: Engine, url: str) -> None:
    """Every statement of `engine` that meets a damaged database raises `StoreDamagedError`.

    SQLAlchemy's `handle_error` hook, so that each reader and writer of the store (reports,
    alerts, health, the outbox) says so in one line instead of a driver traceback.
    """

    @event.listens_for(engine, "handle_error")
    def _on_error(context: Any) -> None:
        if is_damage(context.original_exception):
            raise damaged(url, context.original_exception)


def _sqlite_setup(engine: Engine, budget: RetryBudget) -> None:
    """WAL, a busy timeout and `BEGIN IMMEDIATE` on every connection of `engine`."""

    def busy_ms() -> int:
        return max(50, int(budget.remaining() * 1000))

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, record: Any) -> None:
        dbapi_conn.isolation_level = None  # let the "begin" hook below emit BEGIN itself
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        record.info["busy_ms"] = ms = busy_ms()
        cur.execute(f"PRAGMA busy_timeout={ms}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # The lock wait counts against the operation's budget: set only when it changed.
        ms, info = busy_ms(), conn.connection.info
        if abs(info.get("busy_ms", 0) - ms) > 500 or ms < 1000:
            conn.exec_driver_sql(f"PRAGMA busy_timeout={ms}")
            info["busy_ms"] = ms
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def limit_sqlite_cache(engine: Engine, kib: int) -> None:
    """Cap the SQLite page cache of every connection of `engine` at `kib` KiB.

    SQLite's default is 2,000 KiB per connection, which a long-running process fills as the
    database grows: the 1 Hz `metrics monitor` agent, whose once-a-minute host check reads a
    week of hourly rollups, peaked at 49.8 MiB on a store holding a week of 30 hosts, 48.1 MiB
    with 256 KiB (48.0 on a new store), at the same CPU time (the pages come from the OS's
    file cache). Set at checkout, so that connections already in the pool get it too. Nothing
    for PostgreSQL.
    """
    if engine.dialect.name != "sqlite":
        return
    pragma = f"PRAGMA cache_size=-{int(kib)}"

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        if record.info.get("cache_kib") != kib:
            cur = dbapi_conn.cursor()
            cur.execute(pragma)
            cur.close()
            record.info["cache_kib"] = kib


def _postgres_setup(engine: Engine, budget: RetryBudget) -> None:
    """Retry a refused or cut PostgreSQL connection with backoff, within the budget."""

    @event.listens_for(engine, "do_connect")
    def _connect(dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
        return budget.attempt(lambda: dialect.connect(*cargs, **cparams))


def _upgrade_indexes(engine: Engine) -> None:
    """Give a database made by an older version the indexes of this one.

    The unique (series, time) key of samples: duplicate rows (one series, one time, written
    twice by an older version) are deleted first, keeping the first, and the plain indexes the
    key replaces are dropped. The rollups' (period, start) index.
    """
    inspector = sa.inspect(engine)
    if ROLLUPS_INDEX not in {ix["name"] for ix in inspector.get_indexes("rollups")}:
        with engine.begin() as conn:
            _index(rollups_table, ROLLUPS_INDEX).create(conn, checkfirst=True)
    names = {ix["name"] for ix in inspector.get_indexes("samples")}
    old = [name for name in _OLD_SAMPLES_INDEXES if name in names]
    if SAMPLES_KEY in names and not old:
        return
    if engine.dialect.name == "sqlite":
        dedupe = ("DELETE FROM samples WHERE rowid NOT IN "
                  "(SELECT min(rowid) FROM samples GROUP BY series_id, ts)")
    else:
        dedupe = ("DELETE FROM samples a USING samples b WHERE a.series_id = b.series_id "
                  "AND a.ts = b.ts AND a.ctid > b.ctid")
    with engine.begin() as conn:
        if SAMPLES_KEY not in names:
            conn.exec_driver_sql(dedupe)
        _index(samples_table, SAMPLES_KEY).create(conn, checkfirst=True)
        for name in old:
            conn.exec_driver_sql(f"DROP INDEX IF EXISTS {name}")


def create_tables(engine: Engine) -> None:
    """Create every table of `neo_automation.store.schema` that the database lacks.

    A read-only look first: when every table exists (the usual case) no write lock is taken.
    Two processes opening a new database at once may both try a CREATE; the loser checks
    again instead of failing.

    Raises:
        SQLAlchemyError: a table is still missing after a second try.
    """
    inspector = sa.inspect(engine)
    views = set(inspector.get_view_names())
    if not set(metadata.tables) <= {*inspector.get_table_names(), *views}:
        try:
            metadata.create_all(engine)
        except SQLAlchemyError:
            metadata.create_all(engine)  # checkfirst again: another process created it meanwhile
    if not {"samples", "rollups"} & views:
        try:
            _upgrade_indexes(engine)
        except SQLAlchemyError:
            _upgrade_indexes(engine)  # looks again: another process added them meanwhile


def open_engine(url: str, budget: RetryBudget | None = None) -> Engine:
    """An engine on `url` with every table of the schema created.

    Args:
        url: `sqlite:///PATH` (its directory is created) or a PostgreSQL URL.
        budget: how long to wait for a database that is away (default: a single attempt).

    Raises:
        StoreUnavailableError: the database stayed unreachable for the whole budget.
        StoreError: not a database URL, a missing driver, bad credentials, or a database that
            cannot be opened or its tables created.
    """
    budget = budget or RetryBudget(0)
    try:
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
            engine = sa.create_engine(url)
            _sqlite_setup(engine, budget)
        else:
            make = sa.engine.make_url(url)
            args = {} if "connect_timeout" in make.query else {"connect_timeout": CONNECT_TIMEOUT}
            engine = sa.create_engine(url, pool_pre_ping=True, connect_args=args)
            _postgres_setup(engine, budget)
        _report_damage(engine, url)
        budget.attempt(lambda: create_tables(engine))
    except ArgumentError:
        raise StoreError(
            f"AUTOMATION_DATABASE_URL={mask_password(url)!r} is not a database URL: expected "
            "sqlite:///PATH or postgresql+psycopg://USER:PASSWORD@HOST/DB"
        ) from None
    except ModuleNotFoundError as exc:
        raise StoreError(
            f"AUTOMATION_DATABASE_URL={mask_password(url)!r} needs the driver {exc.name!r}, "
            "which is not installed"
        ) from None
    except StoreDamagedError:
        raise
    except (OSError, SQLAlchemyError) as exc:
        raise store_error("open", url, exc, budget) from None
    return engine


class WriteTransaction:
    """A write transaction on `engine`, as a context manager yielding the connection.

    Commits when the block ends, rolls back when it raises; a database that cannot be written
    (locked past the busy timeout, read-only, gone) is one `StoreError` line
    (`StoreUnavailableError` when transient: connecting has already waited out the budget).
    """

    def __init__(self, engine: Engine, url: str, budget: RetryBudget | None = None) -> None:
        self.engine = engine
        self.url = url
        self.budget = budget or RetryBudget(0)
        self.conn: sa.Connection | None = None
        self.tx: Any = None

    def _error(self, exc: OperationalError) -> StoreError:
        return store_error("write", self.url, exc, self.budget)

    def __enter__(self) -> sa.Connection:
        try:
            self.conn = self.engine.connect()
            self.tx = self.conn.begin()
        except OperationalError as exc:
            if self.conn is not None:
                self.conn.close()
            raise self._error(exc) from None
        return self.conn

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        assert self.conn is not None
        try:
            if exc_type is None:
                self.tx.commit()
            else:
                self.tx.rollback()
        except OperationalError as err:
            raise self._error(err) from None
        finally:
            self.conn.close()
        if isinstance(exc, OperationalError):
            raise self._error(exc) from None
