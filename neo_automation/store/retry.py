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
