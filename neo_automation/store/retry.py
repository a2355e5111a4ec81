"""Which database errors are transient, and the retry budget that waits them out.

A transient error is one that the same statement can outlive: the server is down, restarting
or refusing connections for now, a pooled connection was cut (SQLAlchemy's
`connection_invalidated`), a serialization failure or deadlock, or SQLite's lock held past
the busy timeout. A bad URL, bad credentials, a missing database or a constraint are not:
they fail at once.

`RetryBudget` runs an attempt again with exponential backoff and full jitter until a total
time (`AUTOMATION_STORE_RETRY_SECONDS`, default 30 s) is spent. One budget is shared by every
wait of one operation: connecting (the engine's `do_connect` hook), SQLite's busy timeout and
the write's own retries all count against the same deadline, so a write never waits much
longer than the budget in all.
"""

from __future__ import annotations

import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from sqlalchemy.exc import DBAPIError

from neo_automation.errors import StoreError

T = TypeVar("T")

#: SQLSTATE classes and codes that a retry can outlive: connection exceptions (08),
#: admin/crash shutdown and "cannot connect now" (57P01-57P03), too many connections,
#: serialization failure and deadlock (the whole transaction is retried).
_TRANSIENT_STATES = ("08", "57P01", "57P02", "57P03", "53300", "40001", "40P01")

#: libpq connection failures without a SQLSTATE that a retry cannot fix (psycopg reports
#: every connection failure with `sqlstate` None, so the message is all there is).
_PERMANENT_MESSAGES = (
    "password authentication failed",
    "does not exist",
    "no pg_hba.conf entry",
    "not permitted to log in",
    "permission denied",
    "name or service not known",
    "nodename nor servname",
    "invalid connection option",
    "invalid sslmode",
    "certificate",
)

#: The first wait and the longest single wait between attempts (seconds).
FIRST_DELAY = 0.2
MAX_DELAY = 5.0


class StoreUnavailableError(StoreError):
    """The database stayed unreachable for the whole retry budget; it may come back later."""


class StoreFaultError(StoreError):
    """The database cannot store anything now (a full disk, an I/O error, a read-only or
    immutable file, damage) and a retry within seconds will not change that; writes keep
    their samples in the spool until the operator fixes it."""


class StoreDamagedError(StoreFaultError):
    """The database file or its pages are damaged: it must be restored or replaced.

    The message is one line naming the database (password masked), the driver's reason and
    what to do: restore the store's backup, or move the file away to start a fresh store.
    """


def is_transient(exc: BaseException) -> bool:
    """Whether `exc` (a SQLAlchemy or DB-API error) is one that a later attempt can outlive."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    if isinstance(orig, sqlite3.Error):
        # The write lock held past the busy timeout (SQLITE_BUSY); nothing else is transient.
        return getattr(orig, "sqlite_errorname", None) in ("SQLITE_BUSY", "SQLITE_LOCKED") or (
            "database is locked" in str(orig))
    state = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)  # psycopg 3, 2
    if state:
        return str(state).startswith(_TRANSIENT_STATES)
    if type(orig).__name__ != "OperationalError":
        return False
    # A PostgreSQL driver's connection failure: psycopg gives it no SQLSTATE.
    message = str(orig).lower()
    return not any(marker in message for marker in _PERMANENT_MESSAGES)


#: SQLite's result codes of a database that cannot take writes now (the disk is full, an I/O
#: error, the file or its folder is read-only or immutable) or that is damaged: no retry
#: within seconds fixes them, but their samples must not be lost (`is_storage_fault`).
_SQLITE_FAULTS = ("SQLITE_FULL", "SQLITE_IOERR", "SQLITE_READONLY", "SQLITE_CANTOPEN",
                  "SQLITE_CORRUPT", "SQLITE_NOTADB")
#: SQLSTATE classes and codes of the same faults on PostgreSQL: insufficient resources
#: (53: disk full, out of memory), system I/O error (58030), read-only transaction (25006),
#: data or index corrupted (XX001, XX002).
_FAULT_STATES = ("53", "58030", "25006", "XX001", "XX002")
#: The SQLite result codes and SQLSTATEs of a damaged database (`is_damage`).
_DAMAGE = ("SQLITE_CORRUPT", "SQLITE_NOTADB", "XX001", "XX002")


def _code(exc: BaseException) -> str:
    """The SQLite result code name (`SQLITE_FULL`) or SQLSTATE of a driver error, or ''."""
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    if isinstance(orig, sqlite3.Error):
        # Extended codes (SQLITE_IOERR_WRITE, SQLITE_CORRUPT_INDEX) by their primary code.
        return "_".join(str(getattr(orig, "sqlite_errorname", "") or "").split("_")[:2])
    return str(getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None) or "")


def is_storage_fault(exc: BaseException) -> bool:
    """Whether `exc` says that the database cannot store anything now, for a while.

    A full disk, an I/O error, a read-only or immutable file, a damaged database: a retry
    within seconds does not help (so no budget is spent waiting), but the operator can fix
    it, so the samples of a write that met it are kept in the spool rather than lost.
    """
    code = _code(exc)
    if code.startswith("SQLITE_"):
        return code in _SQLITE_FAULTS
    return code.startswith(_FAULT_STATES)


def is_damage(exc: BaseException) -> bool:
    """Whether `exc` says that the database file or its pages are damaged (not a transient
    or a configuration error): SQLite's SQLITE_CORRUPT ("database disk image is malformed")
    and SQLITE_NOTADB ("file is not a database"), PostgreSQL's XX001 and XX002."""
    return _code(exc) in _DAMAGE


def delays(first: float = FIRST_DELAY, cap: float = MAX_DELAY) -> Iterator[float]:
    """Exponential backoff with jitter: about `first`, then twice as long, up to `cap`.

    Each wait is drawn between half and all of its step, so that writers that lost the
    database at the same moment do not all come back at the same moment.
    """
    step = first
    while True:
        yield random.uniform(step / 2, step)  # noqa: S311 - jitter, not a secret
        step = min(step * 2, cap)


class RetryBudget:
    """How long one operation on the store may wait for the database, in all.

    Args:
        total: seconds (`AUTOMATION_STORE_RETRY_SECONDS`); 0 makes a single attempt.

    The deadline is per thread: `limited(0)` makes the calls inside it a single attempt
    (the store does so while samples already wait in the spool), and nested waits (connect,
    lock, retry) share the deadline of the outermost `attempt`.
    """

    def __init__(self, total: float) -> None:
        self.total = max(0.0, float(total))
        self._local = threading.local()

    def deadline(self) -> float:
        """The monotonic time by which the current operation gives up."""
        current: float | None = getattr(self._local, "deadline", None)
        return current if current is not None else time.monotonic() + self.total

    def remaining(self) -> float:
        """Seconds left to the current operation (the full budget outside one)."""
        return max(0.0, self.deadline() - time.monotonic())

    @contextmanager
    def limited(self, seconds: float | None = None) -> Iterator[None]:
        """Everything inside shares one deadline: `seconds` from now (default: the budget).

        An enclosing deadline that comes sooner is kept.
        """
        outer = getattr(self._local, "deadline", None)
        wanted = time.monotonic() + (self.total if seconds is None else min(seconds, self.total))
        self._local.deadline = wanted if outer is None else min(outer, wanted)
        try:
            yield
        finally:
            self._local.deadline = outer

    def attempt(self, action: Callable[[], T]) -> T:
        """`action()`, called again after a transient error until the deadline passes.

        Raises:
            Whatever `action` raised last: at once when it is not transient, and when it is
            but the next wait would end after the deadline.
        """
        with self.limited():
            deadline = self.deadline()
            waits = delays()
            while True:
                try:
                    return action()
                except Exception as exc:
                    if not is_transient(exc):
                        raise
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise
                    time.sleep(min(next(waits), left))  # the last attempt at the deadline
