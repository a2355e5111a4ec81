"""Opening the metrics database: the engine, its tables, write transactions, masked errors.

SQLite gets WAL, a 60 s busy timeout and `BEGIN IMMEDIATE` (SQLAlchemy's documented pysqlite
recipe), so that concurrent writers queue instead of failing; PostgreSQL gets pre-ping. Every
database error a user can meet becomes one `StoreError` line with the password masked.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError

from neo_automation.errors import StoreError
from neo_automation.store.schema import metadata


def mask_url(url: str) -> str:
    """The URL with any password replaced by ***."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def _one_line(reason: object) -> str:
    """A driver's message on one line (psycopg's span several, with tabs)."""
    return " ".join(str(reason).split())


def _sqlite_setup(engine: Engine) -> None:
    """WAL, a busy timeout and `BEGIN IMMEDIATE` on every connection of `engine`."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # let the "begin" hook below emit BEGIN itself
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=60000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def create_tables(engine: Engine) -> None:
    """Create every table of `neo_automation.store.schema` that the database lacks.

    A read-only look first: when every table exists (the usual case) no write lock is taken.
    Two processes opening a new database at once may both try a CREATE; the loser checks
    again instead of failing.

    Raises:
        SQLAlchemyError: a table is still missing after a second try.
    """
    inspector = sa.inspect(engine)
    if set(metadata.tables) <= {*inspector.get_table_names(), *inspector.get_view_names()}:
        return
    try:
        metadata.create_all(engine)
    except SQLAlchemyError:
        metadata.create_all(engine)  # checkfirst again: another process created it meanwhile


def open_engine(url: str) -> Engine:
    """An engine on `url` with every table of the schema created.

    Args:
        url: `sqlite:///PATH` (its directory is created) or a PostgreSQL URL.

    Raises:
        StoreError: not a database URL, a missing driver, or a database that cannot be
            opened or its tables created.
    """
    try:
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
            engine = sa.create_engine(url, connect_args={"timeout": 60})
            _sqlite_setup(engine)
        else:
            engine = sa.create_engine(url, pool_pre_ping=True)
        create_tables(engine)
    except ArgumentError:
        raise StoreError(
            f"AUTOMATION_DATABASE_URL={mask_url(url)!r} is not a database URL: expected "
            "sqlite:///PATH or postgresql+psycopg://USER:PASSWORD@HOST/DB"
        ) from None
    except ModuleNotFoundError as exc:
        raise StoreError(
            f"AUTOMATION_DATABASE_URL={mask_url(url)!r} needs the driver {exc.name!r}, "
            "which is not installed"
        ) from None
    except (OSError, SQLAlchemyError) as exc:
        reason = _one_line(getattr(exc, "orig", None) or exc)
        raise StoreError(f"cannot open the metrics database {mask_url(url)!r}: {reason}") from None
    return engine


class WriteTransaction:
    """A write transaction on `engine`, as a context manager yielding the connection.

    Commits when the block ends, rolls back when it raises; a database that cannot be written
    (locked past the busy timeout, read-only, gone) is one `StoreError` line.
    """

    def __init__(self, engine: Engine, url: str) -> None:
        self.engine = engine
        self.url = url
        self.conn: sa.Connection | None = None
        self.tx: Any = None

    def _error(self, exc: OperationalError) -> StoreError:
        return StoreError(
            f"cannot write the metrics database {mask_url(self.url)!r}: {_one_line(exc.orig)}")

    def __enter__(self) -> sa.Connection:
        try:
            self.conn = self.engine.connect()
            self.tx = self.conn.begin()
        except OperationalError as exc:
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
