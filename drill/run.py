"""The drill's order of events and its report (`python -m drill`, `make drill`).

`--short` skips the parts that only add coverage (every catalog job, the four monitors, the
health timing) and keeps the faults; `--keep` leaves the work dir (logs, clones) behind.
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from drill import scenarios
from drill.infra import Infra
from drill.prefect_view import View

HOSTS = ("drill-host-a", "drill-host-b")


def table(rows: list[scenarios.Row]) -> str:
    """The report: one line per check, expected against observed."""
    head = ["#", "check", "expected", "observed", "result"]
    lines = [[str(i), r.name, r.expected, _cut(r.observed), "pass" if r.ok else "FAIL"]
             for i, r in enumerate(rows, start=1)]
    widths = [max(len(x[i]) for x in [head, *lines]) for i in range(len(head))]
    fmt = "  ".join(f"{{:{w}}}" for w in widths)
    return "\n".join(fmt.format(*x).rstrip() for x in [head, ["-" * w for w in widths], *lines])


def _cut(text: str, width: int = 80) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def _on_sigterm(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt  # the same cleanup as Ctrl-C


def drill(infra: Infra, short: bool) -> list[scenarios.Row]:
    """Build the fleet, run the scenarios, return the checks (see the package docstring)."""
    started = time.monotonic()
    print(f"drill: work dir {infra.work} ({scenarios.environment_note()})", flush=True)
    infra.start_cluster()
    api = infra.start_server()
    print(f"drill: PostgreSQL on 127.0.0.1:{infra.cluster.port if infra.cluster else '?'}, "
          f"Prefect server {api} ({time.monotonic() - started:.0f} s)", flush=True)
    hosts = {name: infra.clone(name) for name in HOSTS}
    view = View(api)
    d = scenarios.Drill(infra, view, hosts)
    try:
        scenarios.pool_setup(d)
        scenarios.cli_on_checkout(d)
        scenarios.deploy(d)
        scenarios.workers_up(d)
        if not short:
            scenarios.every_job(d)
        long_run = scenarios.long_run_start(d)
        scenarios.time_limit(d)
        if not short:
            scenarios.monitors(d)
        scenarios.long_run_check(d, long_run)
        # the claim's 120 s grace passes while host_dies waits for its dead host's run
        claim = scenarios.claimed_not_started_start(d)
        scenarios.host_dies(d)
        scenarios.claimed_not_started_check(d, claim)
        scenarios.db_outage(d)
        if not short:
            scenarios.health_on_pool(d)
        scenarios.nothing_left(d)
    finally:
        view.close()
    print(f"drill: done in {time.monotonic() - started:.0f} s", flush=True)
    return d.rows


def main(argv: list[str] | None = None) -> int:
    """Run the drill; 0 only when every check passed."""
    parser = argparse.ArgumentParser(prog="drill", description=__doc__)
    parser.add_argument("--short", action="store_true", help="the faults only (a few minutes)")
    parser.add_argument("--keep", action="store_true", help="keep logs and clones")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _on_sigterm)
    infra = Infra(Path(tempfile.mkdtemp(prefix="neo-drill-")), keep=args.keep)
    rows: list[scenarios.Row] = []
    try:
        rows = drill(infra, args.short)
    except KeyboardInterrupt:
        print("drill: interrupted; stopping everything it started", file=sys.stderr)
        return 130
    except (RuntimeError, OSError) as exc:
        print(f"drill: could not build the fleet: {exc}", file=sys.stderr)
        rows.append(scenarios.Row("fleet built", "server, clones, workers", str(exc), False))
    finally:
        infra.close()
    print()
    print(table(rows))
    passed = sum(r.ok for r in rows)
    print(f"drill: {len(rows)} checks, {passed} passed")
    return 0 if rows and passed == len(rows) else 1
