"""Jobs through a metrics-database outage: samples kept in the spool, store work skipped.

`MetricStore` waits for a database that is away up to `AUTOMATION_STORE_RETRY_SECONDS` when it
opens and at each write, and a write that outlasts the budget keeps its samples in the spool
(`neo_automation.store.spool`). A job touches the store several times (the last counters, the
write, forecasts, alert state); these helpers keep such a job from failing, from losing its
samples, and from waiting the whole budget at every step:

- `open_store(url)`: the store, waiting the whole budget to open only while nothing waits in
  its spool. Once samples wait there, the database stayed away a moment ago: one attempt, the
  policy of the store's own drain, so a job during a long outage does not wait at each step.
- `write_or_spool(url, samples, specs)`: declarations and samples stored, or kept in the
  spool when even opening the store outlasts the budget (`spool_samples`). The next write of
  any process on that database stores them first, each exactly once.
- `waiting(url)`: one line naming the masked URL while samples wait in the spool (the work
  that needs them stored, forecasts and alerts, is then skipped), else None.
- `through_outage(url, what)`: a block that ends quietly when the database is away, with one
  line saying what was skipped. Errors a retry cannot fix (bad credentials, a missing
  database) are not outages: they propagate, and the job fails with their one line.
- `Keeper`: the long-running monitor's writer. The store is opened when it can be (a
  damaged or unreachable one is tried again at each write), a batch the database cannot take
  goes to the spool, and one the spool cannot take either (a full disk) is held in memory,
  within a bound, and written first when space returns.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from neo_automation.errors import StoreError
from neo_automation.settings import load_settings
from neo_automation.store.engine import mask_url
from neo_automation.store.metric_store import MetricStore, SampleLike, SpecLike, spool_samples
from neo_automation.store.retry import StoreFaultError, StoreUnavailableError, is_transient
from neo_automation.store.spool import Spool, SpoolError

log = logging.getLogger(__name__)

#: The most samples `Keeper` holds in memory while neither the database nor the spool can
#: take them (about 25 MB of Python objects; 10 minutes of the monitor's readings at 1 Hz
#: with 150 series). Past it the oldest are dropped first, with a warning counting them.
MAX_HELD = 100_000


def _spool(url: str, spool_dir: Path | None) -> Spool:
    root = spool_dir if spool_dir is not None else load_settings().spool_path
    return Spool.for_database(root, mask_url(url))


def open_store(url: str, spool_dir: Path | None = None) -> MetricStore:
    """The store of `url`; one attempt to open it (no wait) while samples wait in its spool.

    Raises:
        StoreUnavailableError: the database is away (after the budget, or at once while
            samples wait in the spool).
        StoreError: as `MetricStore`: a bad URL, bad credentials, a missing database.
    """
    spooled = bool(_spool(url, spool_dir).pending())
    return MetricStore(url, retry_seconds=0 if spooled else None, spool_dir=spool_dir)


def outage_line(url: str, exc: BaseException) -> str | None:
    """The one line saying that the database `url` is away, when `exc` says so; else None.

    `exc` is a `StoreUnavailableError` (opening or a write outlasted the budget), a
    `StoreFaultError` (a full disk, a read-only or damaged database: its line says how to
    recover) or a transient driver error that escaped a read (reads are not wrapped). The
    URL's password is masked.
    """
    if isinstance(exc, (StoreUnavailableError, StoreFaultError)):
        return str(exc)  # away, or unable to store anything now (full, read-only, damaged)
    if isinstance(exc, SQLAlchemyError) and is_transient(exc):
        reason = " ".join(str(getattr(exc, "orig", None) or exc).split())
        return f"cannot read the metrics database {mask_url(url)!r}: {reason}"
    return None


def waiting(url: str, spool_dir: Path | None = None) -> str | None:
    """One line naming the database while samples wait in its spool; None when none wait.

    After a write, waiting samples mean that the database did not take them (a write drains
    the spool first).
    """
    spool = _spool(url, spool_dir)
    if not spool.pending():
        return None
    return (f"the metrics database {mask_url(url)!r} is unavailable: {spool.count()} samples "
            f"wait in the spool ({spool.directory}), written when it is back")


@dataclass(frozen=True)
class Kept:
    """What `write_or_spool` did with a batch.

    `count`: samples accepted (stored now or kept in the spool; non-finite values are left
    out). `outage`: None when the database took them, else the one line saying why they wait.
    """

    count: int
    outage: str | None = None


def write_or_spool(
    url: str, samples: Sequence[SampleLike], specs: Iterable[SpecLike] = (), *,
    before_write: Callable[[MetricStore], object] | None = None, spool_dir: Path | None = None,
) -> Kept:
    """Store declarations and samples, or keep them in the spool while the database is away
    (or cannot store anything: a full disk, a read-only or damaged database).

    Args:
        url: the metrics database.
        samples: what to store.
        specs: their declarations (recorded before them; kept with them when spooled).
        before_write: more work on the open store before the samples (e.g. recording
            benchmark names); skipped when the store cannot be opened.
        spool_dir: the spool root (default: `<data>/spool`).

    Raises:
        StoreError: a failure a retry cannot fix (bad credentials, a constraint), or the
            spool cannot be written either.
    """
    specs = list(specs)
    try:
        with open_store(url, spool_dir) as store:
            store.declare(specs)
            if before_write is not None:
                before_write(store)
            count = store.write(samples)
            fault = store.fault
    except (StoreUnavailableError, StoreFaultError) as exc:
        return Kept(spool_samples(url, samples, spool_dir, specs), str(exc))
    line = waiting(url, spool_dir)
    return Kept(count, fault if line and fault else line)


@dataclass
class Outage:
    """What `through_outage` saw: `line` says what was skipped (None: the database answered)."""

    url: str
    what: str
    line: str | None = None


@contextmanager
def through_outage(url: str, what: str) -> Iterator[Outage]:
    """Run a block that uses the store of `url`; a database that is away ends it quietly.

    Args:
        url: the metrics database.
        what: what the block does, for the line (`"fleet"`, `"alerts"`).

    Yields:
        An `Outage` whose `line` is set (`"<what>: skipped: <why>"`) when the database was
        away; the block's other errors propagate.
    """
    outage = Outage(url, what)
    try:
        yield outage
    except (StoreError, SQLAlchemyError) as exc:
        line = outage_line(url, exc)
        if line is None:
            raise
        outage.line = f"{what}: skipped: {line}"


class Keeper:
    """Writes batches of samples to the store of `url`, keeping what it cannot write yet.

    Args:
        url: the metrics database.
        specs: declarations recorded when the store opens (kept with spooled samples).
        on_open: called with the store once it is open (e.g. to tune its cache).
        spool_dir: the spool root (default: `<data>/spool`).
        max_held: the most samples held in memory when the spool cannot be written either.

    The first opening waits the store's retry budget; later ones (after a failure) make one
    attempt per write. A database that is away, damaged, read-only or on a full disk is no
    error here: the samples go to the spool, and when the spool cannot be written either
    they are held in memory (oldest dropped past `max_held`, with a warning) and offered
    again, first, at the next write. Other store errors (bad credentials, a bad URL)
    propagate.
    """

    def __init__(self, url: str, specs: Iterable[SpecLike] = (), *,
                 on_open: Callable[[MetricStore], object] | None = None,
                 spool_dir: Path | None = None, max_held: int = MAX_HELD) -> None:
        self.url = url
        self.specs = list(specs)
        self.on_open = on_open
        self.spool_dir = spool_dir
        self.max_held = max_held
        self.store: MetricStore | None = None
        #: Samples neither the database nor the spool could take, oldest first.
        self.held: list[SampleLike] = []
        #: Samples dropped from memory past `max_held`, in all.
        self.dropped = 0
        #: The one line saying why the last write did not reach the database (None: it did).
        self.problem: str | None = None
        self._tried = False

    def open(self) -> MetricStore | None:
        """The store, opened now if it was not; None (with `problem` set) when it cannot be.

        Raises:
            StoreError: a failure that neither waiting nor the operator's repair of the
                database fixes (a bad URL, bad credentials).
        """
        if self.store is None:
            retry = 0 if self._tried else None
            self._tried = True
            try:
                store = MetricStore(self.url, retry_seconds=retry, spool_dir=self.spool_dir)
            except (StoreUnavailableError, StoreFaultError) as exc:
                self.problem = str(exc)
                return None
            try:
                store.declare(self.specs)
                if self.on_open is not None:
                    self.on_open(store)
            except BaseException:
                store.close()
                raise
            self.store = store
        return self.store

    def write(self, samples: Sequence[SampleLike]) -> bool:
        """Store the held samples and `samples`, or keep them (spool, else memory).

        Returns:
            True when the database took them and nothing waits (no spool file, nothing
            held): work that reads the stored history (alert rules) can run.
        """
        batch = [*self.held, *samples]
        self.held = []
        store = self.open()
        try:
            if store is None:
                spool_samples(self.url, batch, self.spool_dir, self.specs)
            else:
                store.write(batch)
        except SpoolError as exc:
            self.problem = str(exc)
            self._hold(batch)
            return False
        if store is None:
            return False
        if store.spool.pending():
            self.problem = store.fault or waiting(self.url, self.spool_dir)
            return False
        self.problem = None
        return True

    def _hold(self, batch: list[SampleLike]) -> None:
        """Keep `batch` in memory, dropping the oldest past `max_held` (with a warning)."""
        excess = len(batch) - self.max_held
        if excess > 0:
            self.dropped += excess
            batch = batch[excess:]
            log.warning("metrics database and spool both unavailable: dropped the %d oldest "
                        "samples held in memory (bound %d; %d dropped in all)", excess,
                        self.max_held, self.dropped)
        self.held = batch
        log.warning("%s: %d samples held in memory, written when there is room", self.problem,
                    len(batch))

    def close(self) -> None:
        """Close the store (held samples not yet written are counted in `held`)."""
        if self.store is not None:
            self.store.close()
            self.store = None
