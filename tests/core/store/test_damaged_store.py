"""A damaged, read-only or full store: one line, samples kept (spool, then memory), never lost.

The damaged stores are made as a disk error or a torn copy makes them: a file of random bytes
("file is not a database"), a real store with the root page of `samples` overwritten
("database disk image is malformed"), and a real store cut in half. The full disk is a real
256 KiB tmpfs and the immutable store a real `chattr +i` file (both need root: skipped
otherwise).
"""

from __future__ import annotations

import logging
import os
import random
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from neo_automation.metrics import Sample
from neo_automation.settings import load_settings
from neo_automation.stack_health import OK, check_database
from neo_automation.store.engine import RECOVER
from neo_automation.store.metric_store import MetricStore
from neo_automation.store.outage import Keeper, through_outage, write_or_spool
from neo_automation.store.retry import StoreDamagedError, StoreFaultError
from neo_automation.store.spool import Spool

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def batch(first: int, count: int) -> list[Sample]:
    """`count` samples one second apart from T0 + `first`, on one series."""
    return [Sample("fault.value", float(i), {"host": "h"}, T0 + i, "test")
            for i in range(first, first + count)]


def random_bytes(db: Path) -> Path:
    """8 KiB of random bytes where the store should be."""
    db.write_bytes(random.Random(0).randbytes(8192))
    return db


def real_store(db: Path, spool: Path) -> Path:
    """A store with 40 samples, made by the product itself."""
    with MetricStore(f"sqlite:///{db}", retry_seconds=0, spool_dir=spool) as store:
        store.write(batch(0, 40))
    return db


def page_overwritten(db: Path, spool: Path) -> Path:
    """A real store whose `samples` root page is overwritten with random bytes."""
    real_store(db, spool)
    with sqlite3.connect(db) as con:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        root = con.execute("select rootpage from sqlite_master where name='samples'").fetchone()[0]
        size = con.execute("pragma page_size").fetchone()[0]
    con.close()
    with db.open("r+b") as f:
        f.seek((root - 1) * size)
        f.write(random.Random(1).randbytes(size))
    return db


def cut_in_half(db: Path, spool: Path) -> Path:
    """A real store truncated to half its pages, as an interrupted copy leaves it."""
    real_store(db, spool)
    with sqlite3.connect(db) as con:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    os.truncate(db, db.stat().st_size // 2)
    return db


DAMAGE = {"random-bytes": lambda db, spool: random_bytes(db), "page-overwritten":
          page_overwritten, "cut-in-half": cut_in_half}


@pytest.fixture(params=sorted(DAMAGE))
def damaged(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    return DAMAGE[request.param](tmp_path / "m.db", tmp_path / "spool")


def test_reading_a_damaged_store_is_one_line_saying_how_to_recover(damaged: Path,
                                                                    tmp_path: Path) -> None:
    with pytest.raises(StoreDamagedError) as err:
        with MetricStore(f"sqlite:///{damaged}", retry_seconds=0,
                         spool_dir=tmp_path / "spool") as store:
            store.latest()
            store.series_points("fault.value", 0, T0 + 100)
    message = str(err.value)
    assert "\n" not in message and str(damaged) in message and RECOVER in message
    assert "is damaged (" in message


def test_a_write_to_a_damaged_store_is_spooled_and_reaches_a_fresh_store(
        damaged: Path, tmp_path: Path) -> None:
    spool_dir = tmp_path / "spool"
    url = f"sqlite:///{damaged}"
    keeper = Keeper(url, spool_dir=spool_dir)
    assert keeper.write(batch(100, 5)) is False
    assert keeper.problem and ("is damaged" in keeper.problem or "spool" in keeper.problem)
    keeper.close()
    spool = Spool.for_database(spool_dir, url)
    assert spool.count() == 5
    # The operator moves the damaged file away: the next write starts a fresh store and
    # stores what waited first, each sample once.
    for path in tmp_path.glob("m.db*"):
        path.rename(path.with_name("damaged-" + path.name))
    keeper = Keeper(url, spool_dir=spool_dir)
    assert keeper.write(batch(105, 2)) is True
    keeper.close()
    with MetricStore(url, retry_seconds=0, spool_dir=spool_dir) as store:
        assert store.count_samples() == 7
    assert spool.pending() == []


def test_health_calls_a_damaged_store_down(damaged: Path, automation_env: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOMATION_DATABASE_URL", f"sqlite:///{damaged}")
    with pytest.raises(StoreDamagedError, match="is damaged"):
        check_database(load_settings())


def test_health_writes_and_an_intact_store_is_ok(automation_env: Path) -> None:
    settings = load_settings()
    assert check_database(settings) == (OK, "metrics database writable and intact")
    with sqlite3.connect(settings.metrics_url.removeprefix("sqlite:///")) as con:
        assert con.execute("select checker from write_checks").fetchall() == [("health",)]
    con.close()


@pytest.fixture
def immutable(tmp_path: Path) -> Iterator[Path]:
    """A real store made immutable (`chattr +i`); needs root on a filesystem that has it."""
    db = real_store(tmp_path / "m.db", tmp_path / "spool")
    with sqlite3.connect(db) as con:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    if os.geteuid() != 0 or not shutil.which("chattr") or subprocess.run(
            ["chattr", "+i", str(db)], capture_output=True).returncode:
        pytest.skip("needs root and chattr on this filesystem")
    yield db
    subprocess.run(["chattr", "-i", str(db)], check=True)


def test_an_immutable_store_is_not_called_writable(
        immutable: Path, automation_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from neo_automation import stack_health

    url = f"sqlite:///{immutable}"
    monkeypatch.setenv("AUTOMATION_DATABASE_URL", url)
    try:
        with pytest.raises(StoreFaultError, match="readonly"):
            check_database(load_settings())
    finally:
        stack_health._opened.pop(url).close()
    # ... and the monitor's samples wait in the spool instead of being lost.
    keeper = Keeper(url, spool_dir=automation_env / "spool")
    assert keeper.write(batch(200, 3)) is False
    keeper.close()
    assert Spool.for_database(automation_env / "spool", url).count() == 3


def test_the_spool_is_bounded_dropping_the_oldest_with_a_warning(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    spool = Spool(tmp_path / "spool", "sqlite:///x", max_bytes=3000)
    points = [("test", "fault.value", {"host": "h"}, T0 + i, float(i)) for i in range(20)]
    first = spool.put(points)
    size = first.stat().st_size
    assert 1000 < size < 1500
    with caplog.at_level(logging.WARNING):
        spool.put(points)
        spool.put(points)  # a third would pass the bound: the first goes
    assert first not in spool.pending() and len(spool.pending()) == 2
    assert "20 samples lost" in caplog.text and first.name in caplog.text


def test_memory_keeps_what_neither_store_nor_spool_can_take_within_its_bound(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # The spool root is under a regular file: nothing can be written there.
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    url = f"sqlite:///{random_bytes(tmp_path / 'm.db')}"
    keeper = Keeper(url, spool_dir=blocker / "spool", max_held=8)
    with caplog.at_level(logging.WARNING):
        assert keeper.write(batch(0, 5)) is False
        assert [s.ts for s in keeper.held] == [T0 + i for i in range(5)]
        assert keeper.write(batch(5, 5)) is False
    assert [s.ts for s in keeper.held] == [T0 + i for i in range(2, 10)]
    assert keeper.dropped == 2 and "dropped the 2 oldest" in caplog.text
    keeper.close()
    (tmp_path / "m.db").unlink()
    keeper.spool_dir = tmp_path / "spool"
    assert keeper.write(batch(10, 1)) is True
    assert keeper.held == []
    with keeper.store or MetricStore(url, retry_seconds=0) as store:
        assert store.count_samples() == 9
    keeper.close()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 512 KiB tmpfs (root only)."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    if os.geteuid() != 0 or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mnt)],
            capture_output=True).returncode:
        pytest.skip("needs root to mount a small tmpfs")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=True)


def test_a_full_disk_keeps_the_samples_and_writes_them_when_space_returns(
        small_disk: Path) -> None:
    url = f"sqlite:///{small_disk / 'm.db'}"
    keeper = Keeper(url, spool_dir=small_disk / "spool")
    assert keeper.write(batch(0, 10)) is True
    keeper.close()
    filler = small_disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:  # the disk fills up
        while os.write(fd, b"\0" * 4096):
            pass
    except OSError:
        pass
    finally:
        os.close(fd)
    kept = 0
    for i in range(10, 2010, 200):
        stored = keeper.write(batch(i, 200))
        kept = 0 if stored else kept + 200
    assert kept > 0, "the disk never filled up"
    assert len(keeper.held) + Spool.for_database(small_disk / "spool", url).count() > 0
    filler.unlink()  # space returns
    assert keeper.write(batch(3000, 1)) is True
    assert keeper.held == []
    keeper.close()
    with MetricStore(url, retry_seconds=0, spool_dir=small_disk / "spool") as store:
        assert store.count_samples() == 10 + 2000 + 1


def test_a_collection_job_on_a_damaged_store_spools_and_skips_with_one_line(
        damaged: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{damaged}"
    spool_dir = tmp_path / "spool"
    kept = write_or_spool(url, batch(300, 4), spool_dir=spool_dir)
    assert kept.count == 4 and kept.outage is not None and RECOVER in kept.outage
    assert Spool.for_database(spool_dir, url).count() == 4
    with through_outage(url, "alerts") as outage:
        with MetricStore(url, retry_seconds=0, spool_dir=spool_dir) as store:
            store.series_points("fault.value", 0, T0 + 1000)
    assert outage.line is not None and outage.line.startswith("alerts: skipped: ")
    assert "is damaged" in outage.line
