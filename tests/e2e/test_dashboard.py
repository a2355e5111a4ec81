"""End to end: the integration manager and its dashboard (the Prefect UI), driven as a user would.

One test, in the order a user meets the stack:

1. `automation start` on loopback on a free port, and at once a job through it
   (`tasks run --task code-quality --wait`: start returns once every job is deployed);
   `automation status --json` shows the server and the serve process alive, with their pids.
2. A metrics collection and the daily health report, each from the CLI.
3. Headless Chromium (Playwright, Debian's /usr/bin/chromium) opens the UI: the collection's
   flow run is found on the Runs page by its name and shows Completed with its task runs; the
   `system-metrics-latest` table artifact of that run shows figures of the collection's JSON;
   the `report-daily-health-check` artifact shows the report's title, every headline figure of
   the archived JSON and its chart (a base64 PNG that the browser decoded); the `fleet`
   artifact of the collection's run shows a row per host, the sparklines of the host with
   history (seeded half an hour back) and words for the host with a single sample, and fits
   the UI's content column at a 1400 px window (no element of it scrolls sideways).
4. The serve process is SIGKILLed: the supervisor brings it back (new pid, one restart counted)
   within 30 s, and a job run through it completes.
5. `automation stop`: every pid seen is gone and no pid file is left.

Screenshots of each step go to `e2e-artifacts/` at the repository root (git-ignored); on a
failure the page at that moment and the stack's logs are saved there too.

Part of `make test` (and so of `.ci/run`, which installs Debian's chromium); `make e2e` runs it
alone. Skipped, with the reason, where /usr/bin/chromium is missing (`apt-get install
chromium`). About 2 minutes on two cores.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from helpers import ROOT, free_port, run_cli, wait_until

from deployments.prefect_setup import rest_api
from neo_automation.fleet.render import NO_TREND_YET

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
SHOTS = ROOT / "e2e-artifacts"
SHOT_PREFIX = "dashboard-"

#: The deployments this check runs (names in prefect.yaml).
QUALITY_TASK = "code-quality"
RESTART_CHECK_TASK = "system-sampling"

#: Bounds (seconds unless stated): generous for a loaded two-core machine, never unbounded.
START_TIMEOUT = 150
SERVICES_UP_TIMEOUT = 120
RESTART_TIMEOUT = 30
JOB_TIMEOUT = 300
STOP_TIMEOUT = 90
UI_TIMEOUT_MS = 30_000

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.timeout(600),
    pytest.mark.skipif(
        not CHROMIUM.is_file(),
        reason=f"end-to-end dashboard check needs Debian's chromium at {CHROMIUM} "
               "(apt-get install chromium); Playwright cannot download its own browser here",
    ),
]


# -- small helpers -----------------------------------------------------------------------------


def _status(env: dict[str, str]) -> dict[str, Any]:
    proc = run_cli("status", "--json", env=env, timeout=60)
    try:
        return json.loads(proc.stdout)
    except ValueError:
        return {}


def _services_alive(env: dict[str, str]) -> dict[str, Any] | None:
    """The status when the server and serve are both alive with pids, else None."""
    status = _status(env)
    services = status.get("services", {})
    if status.get("running") and status.get("api_healthy") and all(
        services.get(name, {}).get("pid") and services[name].get("alive")
        for name in ("server", "serve")
    ):
        return status
    return None


def _cli(env: dict[str, str], *args: str, timeout: float = JOB_TIMEOUT) -> str:
    """Run `automation ARGS`; assert exit 0 and return its standard output."""
    proc = run_cli(*args, env=env, timeout=timeout)
    assert proc.returncode == 0, (
        f"'automation {' '.join(args)}' exited {proc.returncode}\n"
        f"--- stdout\n{proc.stdout[-3000:]}\n--- stderr\n{proc.stderr[-3000:]}"
    )
    return proc.stdout


def _run_job(env: dict[str, str], name: str) -> str:
    """`automation tasks run --task NAME --wait`, asserting the run completed."""
    proc = run_cli("tasks", "run", "--task", name, "--wait", env=env, timeout=JOB_TIMEOUT)
    if proc.returncode != 0 and f"{name}: Cancelled" in proc.stdout:
        # A job with `collision_strategy: CANCEL_NEW` (system-sampling) cancels a run that
        # starts while its scheduled one is running: that is the catalog's intent, try again.
        time.sleep(5)
        proc = run_cli("tasks", "run", "--task", name, "--wait", env=env, timeout=JOB_TIMEOUT)
    assert proc.returncode == 0 and f"{name}: Completed" in proc.stdout, (
        f"job {name!r} did not complete (exit {proc.returncode})\n"
        f"--- stdout\n{proc.stdout[-3000:]}\n--- stderr\n{proc.stderr[-3000:]}"
    )
    return proc.stdout


def _api(api_url: str, path: str, body: dict[str, Any]) -> Any:
    # our REST client: the stack's API wants a CSRF token on every POST
    return rest_api.call(api_url, "POST", path, body, timeout=30)


def _gone(pid: int) -> bool:
    """True when `pid` no longer runs (a zombie waiting for its reaper counts as gone)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _processes_with_env(var: str, value: str) -> list[psutil.Process]:
    """Live processes whose environment has VAR=VALUE, except this one and its children
    (the browser inherits this test's environment)."""
    me = psutil.Process()
    ours = {me.pid, *(child.pid for child in me.children(recursive=True))}
    found = []
    for proc in psutil.process_iter(["pid"]):
        if proc.pid in ours:
            continue
        try:
            if proc.environ().get(var) == value and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


# -- the browser -------------------------------------------------------------------------------


@pytest.fixture
def browser_page() -> Iterator[Any]:
    """A Chromium page (Playwright's sync API), closed afterwards."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with sync_api.sync_playwright() as pw:
        # The browser does not get the stack's settings: that keeps it (and the crash
        # handler it leaves detached) out of the check for processes that outlive the stack.
        browser_env = {k: v for k, v in os.environ.items() if not k.startswith("AUTOMATION_")}
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True, env=browser_env
        )
        try:
            # 1400 px: the window the fleet artifact must fit without sideways scrolling
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(UI_TIMEOUT_MS)
            page.set_default_navigation_timeout(60_000)
            yield page
        finally:
            browser.close()


def _screenshot(page: Any, name: str, taken: list[Path]) -> None:
    """A full-page screenshot under e2e-artifacts/.

    The Prefect UI scrolls inside its own layout, not the document, so `full_page` alone
    would stop at the viewport: the viewport is stretched to the tallest scrolled content
    (at most 12000 px) for the shot.
    """
    size = page.viewport_size
    height = page.evaluate(
        """() => Math.max(document.documentElement.scrollHeight,
              ...Array.from(document.querySelectorAll('*'))
                .filter(e => e.scrollHeight > e.clientHeight + 1
                             && /(auto|scroll)/.test(getComputedStyle(e).overflowY))
                .map(e => e.scrollHeight + e.getBoundingClientRect().top))"""
    )
    page.set_viewport_size({"width": size["width"], "height": int(min(max(height, 600), 12000))})
    try:
        page.wait_for_timeout(400)  # let virtual scrollers render what is now visible
        path = SHOTS / f"{SHOT_PREFIX}{name}.png"
        page.screenshot(path=str(path), full_page=True)
        taken.append(path)
    finally:
        page.set_viewport_size(size)


def _table_rows(page: Any) -> list[list[str]]:
    """Every rendered table row as its cells' visible text."""
    return page.evaluate(
        """() => Array.from(document.querySelectorAll('tr')).map(
              tr => Array.from(tr.cells).map(c => c.innerText.trim()))"""
    )


def _open_version_of_run(page: Any, base: str, key: str, run_name: str) -> str:
    """On the artifact key's page, click the version made by flow run `run_name`."""
    from playwright.sync_api import expect

    page.goto(f"{base}/artifacts/key/{key}")
    card = page.locator(".artifact-timeline-item-content").filter(has_text=run_name)
    expect(card, f"no version of {key} from flow run {run_name}").to_have_count(
        1, timeout=UI_TIMEOUT_MS)
    card.locator("a[href^='/artifacts/artifact/']").first.click()
    page.wait_for_url("**/artifacts/artifact/**")
    expect(page.get_by_text(key).first).to_be_visible(timeout=UI_TIMEOUT_MS)
    return page.url


def _check_ui(page: Any, base: str, api_url: str, collection: dict[str, Any],
              report: dict[str, Any], taken: list[Path]) -> None:
    """Step 3: the runs, the metrics table artifact and the report artifact in the browser."""
    from playwright.sync_api import expect

    # The collection's run: the latest run of metrics-collection that no deployment made
    # (system-sampling serves the same flow every 5 minutes).
    runs = _api(api_url, "/flow_runs/filter", {
        "flows": {"name": {"any_": ["metrics-collection"]}},
        "flow_runs": {"deployment_id": {"is_null_": True},
                      "state": {"type": {"any_": ["COMPLETED"]}}},
        "sort": "START_TIME_DESC", "limit": 1,
    })
    assert runs, "the API has no completed ad-hoc run of metrics-collection"
    run = runs[0]
    task_runs = _api(api_url, "/task_runs/filter", {
        "flow_runs": {"id": {"any_": [run["id"]]}}, "limit": 200,
    })
    task_names = sorted(t["name"] for t in task_runs)
    assert any(n.startswith("collect-system-metrics") for n in task_names), task_names
    assert any(n.startswith("publish-metrics-artifacts") for n in task_names), task_names

    # Runs page: find the run by its name and click through, as a user would.
    page.goto(f"{base}/runs")
    link = page.get_by_role("link", name=run["name"], exact=True).first
    expect(link).to_be_visible(timeout=UI_TIMEOUT_MS)
    _screenshot(page, "01-runs", taken)
    link.click()
    page.wait_for_url(f"**/runs/flow-run/{run['id']}")
    expect(page.locator(".page-heading-flow-run__meta .state-badge")).to_have_text(
        "Completed", timeout=UI_TIMEOUT_MS)
    expect(page.get_by_text(f"{len(task_runs)} Task runs").first).to_be_visible()
    page.locator("li.p-tab", has_text="Task Runs").click()
    for name in task_names:
        expect(page.get_by_role("link", name=name, exact=True).first).to_be_visible(
            timeout=UI_TIMEOUT_MS)
    expect(page.get_by_text(f"({len(task_runs)} Completed)")).to_be_visible()
    _screenshot(page, "02-flow-run", taken)

    # The latest-system-metrics table of that run shows the collection's own figures.
    # Host-wide figures carry only the `host` label (per-disk ones add a mountpoint).
    values = {s["name"]: s["value"] for s in collection["system"]["samples"]
              if set(s["labels"]) <= {"host"}}
    expected = {
        "system.memory.total_bytes": f"{values['system.memory.total_bytes']:.0f}",
        "system.cpu.count": f"{values['system.cpu.count']:.0f}",
    }
    page.goto(f"{base}/artifacts/key/system-metrics-latest")
    expect(page.get_by_text(run["name"]).first).to_be_visible(timeout=UI_TIMEOUT_MS)
    _screenshot(page, "03-metrics-artifact-versions", taken)
    _open_version_of_run(page, base, "system-metrics-latest", run["name"])
    expect(page.locator("tr", has_text="system.memory.total_bytes").first).to_be_visible(
        timeout=UI_TIMEOUT_MS)
    rows = {r[0]: r for r in _table_rows(page) if r}
    for metric, shown in expected.items():
        assert metric in rows, f"{metric} is not in the rendered table: {sorted(rows)}"
        assert shown in rows[metric], f"{metric}: expected {shown} in the row {rows[metric]}"
    _screenshot(page, "04-metrics-table", taken)

    # The daily report: title, every headline figure and the chart, as rendered.
    report_runs = _api(api_url, "/flow_runs/filter", {
        "flows": {"name": {"any_": ["reports"]}},
        "flow_runs": {"deployment_id": {"is_null_": True},
                      "state": {"type": {"any_": ["COMPLETED"]}}},
        "sort": "START_TIME_DESC", "limit": 1,
    })
    assert report_runs, "the API has no completed ad-hoc run of the reports flow"
    page.goto(f"{base}/artifacts/key/report-daily-health-check")
    expect(page.get_by_text(report_runs[0]["name"]).first).to_be_visible(timeout=UI_TIMEOUT_MS)
    _screenshot(page, "05-report-versions", taken)
    _open_version_of_run(page, base, "report-daily-health-check", report_runs[0]["name"])
    expect(page.get_by_role("heading", name=report["title"]).first).to_be_visible(
        timeout=UI_TIMEOUT_MS)
    images = page.locator("img[src^='data:image/png;base64,']")
    expect(images.first).to_be_visible(timeout=UI_TIMEOUT_MS)
    page.wait_for_function(
        """() => Array.from(document.querySelectorAll("img[src^='data:image/png;base64,']"))
              .every(i => i.complete)""", timeout=UI_TIMEOUT_MS)
    sizes = images.evaluate_all("els => els.map(e => [e.naturalWidth, e.naturalHeight, e.alt])")
    assert sizes and all(w > 0 and h > 0 for w, h, _ in sizes), f"charts not decoded: {sizes}"
    rows_seen = _table_rows(page)
    for figure in report["headline"]:
        label, display = figure["label"], figure["display"]
        assert any(len(r) >= 2 and r[0] == label and r[1] == display for r in rows_seen), (
            f"headline {label!r} = {display!r} is not rendered; rows: "
            f"{[r for r in rows_seen if r and r[0] == label]}"
        )
    _screenshot(page, "06-report", taken)

    host = next(s["labels"]["host"] for s in collection["system"]["samples"]
                if s["name"] == "system.cpu.percent")
    _check_fleet(page, base, run["name"], host, taken)


#: A second host (the stack's own is AUTOMATION_HOST=e2e-stack-host), seen once just before
#: the collection: its sparklines have one point.
FRESH_HOST = "e2e-fresh-host"


def _seed_fleet(data: Path, host: str) -> None:
    """Samples as other monitors would store them: half an hour of history for this host
    (so its trends have two 10-minute points and are drawn) and one first reading of
    FRESH_HOST (one point: said in words, not drawn)."""
    from neo_automation.metrics.spec import Sample
    from neo_automation.store.metric_store import MetricStore

    now = time.time()
    with MetricStore(f"sqlite:///{data / 'metrics.db'}") as store:
        store.write([Sample(name, value, {"host": name_host}, ts, "system")
                     for name_host, ts in ((host, now - 1800), (FRESH_HOST, now - 5))
                     for name, value in (("system.cpu.percent", 20.0),
                                         ("system.memory.percent", 30.0))])


def _check_fleet(page: Any, base: str, run_name: str, host: str, taken: list[Path]) -> None:
    """The fleet artifact of the collection's run: a row per host, the sparklines drawn where
    there is history and said in words where there is not, and the whole artifact inside the
    UI's content column at a 1400 px window (no sideways scroll)."""
    from playwright.sync_api import expect

    _open_version_of_run(page, base, "fleet", run_name)
    expect(page.get_by_role("heading", name="Fleet: 2 hosts, 2 reporting").first).to_be_visible(
        timeout=UI_TIMEOUT_MS)
    expect(page.get_by_role("heading", name="Last 24 hours").first).to_be_visible()
    rows = _table_rows(page)
    figures, trends = ([r for r in rows if r and r[0] == name] for name in (host, FRESH_HOST))
    assert len(figures) == 2 and len(trends) == 2, f"a row and a trend row per host: {rows}"
    assert figures[0][1].endswith("ago") and figures[0][2].endswith(" %"), figures
    assert trends[1] == [FRESH_HOST, NO_TREND_YET, NO_TREND_YET], trends
    page.wait_for_function(
        """() => Array.from(document.querySelectorAll("img[src^='data:image/png;base64,']"))
              .every(i => i.complete)""", timeout=UI_TIMEOUT_MS)
    sizes = page.locator("img[src^='data:image/png;base64,']").evaluate_all(
        "els => els.map(e => [e.naturalWidth, e.naturalHeight, e.alt])")
    assert [s[:2] for s in sizes] == [[160, 32], [160, 32]], f"{host}'s sparklines: {sizes}"
    assert all(alt.endswith(f"of {host}, last 24 hours") for *_, alt in sizes), sizes
    overflow = page.evaluate(
        """() => Array.from(document.querySelectorAll(
                '.artifact-data-markdown, .artifact-data-markdown .markdown-renderer__table'))
              .map(e => [e.className, e.scrollWidth, e.clientWidth])""")
    assert len(overflow) == 3, f"the artifact and its two tables: {overflow}"
    wider = [o for o in overflow if o[1] > o[2]]
    assert not wider, f"the fleet artifact scrolls sideways at 1400 px (scroll, client): {wider}"
    _screenshot(page, "07-fleet", taken)


# -- the test ----------------------------------------------------------------------------------


def _save_failure_evidence(page: Any, data: Path, taken: list[Path]) -> None:
    """The page at the moment of failure and the stack's logs, next to the screenshots."""
    try:
        if page is not None and not page.is_closed():
            _screenshot(page, "failure", taken)
    except Exception:  # noqa: BLE001 - evidence is best effort; the real failure is raised
        pass
    logs = data / "logs"
    if logs.is_dir():
        target = SHOTS / f"{SHOT_PREFIX}logs"
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(logs, target, dirs_exist_ok=True)


def _force_stop(pids: set[int]) -> None:
    """Last resort after a failed `automation stop`: kill what this test started."""
    for pid in pids:
        if not _gone(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_dashboard_end_to_end(cli_env: dict[str, str], browser_page: Any,
                              capsys: pytest.CaptureFixture[str]) -> None:
    began = time.monotonic()
    env = {**cli_env, "DASHBOARD_PORT": str(free_port()), "AUTOMATION_JAX_BENCHMARK": "false",
           "AUTOMATION_HOST": "e2e-stack-host"}
    env.pop("PREFECT_API_URL", None)  # the stack starts its own server
    data = Path(env["AUTOMATION_DATA_DIR"])
    SHOTS.mkdir(exist_ok=True)
    for old in SHOTS.glob(f"{SHOT_PREFIX}*.png"):
        old.unlink()
    shutil.rmtree(SHOTS / f"{SHOT_PREFIX}logs", ignore_errors=True)
    taken: list[Path] = []
    seen: set[int] = set()
    page = browser_page
    passed = False

    started = run_cli("start", env=env, timeout=START_TIMEOUT)
    assert started.returncode == 0, f"start failed:\n{started.stdout}\n{started.stderr}"
    try:
        # 1. A job runs at once (start returned with every job deployed); both services up.
        _run_job(env, QUALITY_TASK)
        status = wait_until(lambda: _services_alive(env), SERVICES_UP_TIMEOUT, interval=1.0)
        assert status, f"server and serve not both alive: {json.dumps(_status(env), indent=1)}"
        seen |= {status["supervisor_pid"], *(s["pid"] for s in status["services"].values())}
        base, api_url = status["ui_url"], status["api_url"]
        assert base == f"http://127.0.0.1:{env['DASHBOARD_PORT']}"

        # 2. A collection and the daily report, from the command line; before it, a little
        #    history of this host and a second host's first sample, for the fleet artifact.
        _seed_fleet(data, env["AUTOMATION_HOST"])
        collection = json.loads(_cli(
            env, "metrics", "collect", "--category", "system,application", "--json"))
        assert collection["stored"] > 0 and collection["system"]["samples"], collection
        results = json.loads(_cli(env, "reports", "run", "--report", "daily_health_check",
                                  "--json"))
        assert results[0]["artifact_key"] == "report-daily-health-check", results
        archived = [Path(f) for f in results[0]["files"] if str(f).endswith(".json")]
        assert archived, f"no JSON in the report archive: {results[0]['files']}"
        assert archived[0].resolve().is_relative_to((data / "reports").resolve()), archived[0]
        report = json.loads(archived[0].read_text())

        # 3. The dashboard in a browser.
        _check_ui(page, base, api_url, collection, report, taken)

        # 4. A killed serve process comes back, counted, and runs jobs again.
        serve_pid = _status(env)["services"]["serve"]["pid"]
        os.kill(serve_pid, signal.SIGKILL)

        def restarted() -> dict[str, Any] | None:
            svc = _status(env).get("services", {}).get("serve", {})
            back = svc.get("alive") and svc.get("pid") not in (None, serve_pid)
            return svc if back and svc.get("restarts") == 1 else None

        serve = wait_until(restarted, RESTART_TIMEOUT)
        assert serve, f"serve not back within {RESTART_TIMEOUT} s: {_status(env)}"
        seen.add(serve["pid"])
        _run_job(env, RESTART_CHECK_TASK)
        status = _services_alive(env)
        assert status and status["services"]["serve"]["pid"] == serve["pid"], status
        seen |= {status["supervisor_pid"], *(s["pid"] for s in status["services"].values())}
        passed = True
    except BaseException:
        _save_failure_evidence(page, data, taken)
        raise
    finally:
        # 5. Stop, whatever happened above; assert on it only when everything else passed.
        try:
            stopped = run_cli("stop", env=env, timeout=STOP_TIMEOUT)
        except Exception:
            _force_stop(seen)
            if passed:
                raise
        else:
            if not passed and stopped.returncode != 0:
                _force_stop(seen)

    assert stopped.returncode == 0 and "stopped" in stopped.stdout, (
        f"stop: exit {stopped.returncode}\n{stopped.stdout}\n{stopped.stderr}")
    lingering = [pid for pid in sorted(seen) if not wait_until(lambda p=pid: _gone(p), 10)]
    assert not lingering, f"processes still running after stop: {lingering}"
    pid_files = sorted(p.name for p in (data / "run").glob("*.pid"))
    assert not pid_files, f"pid files left in {data / 'run'}: {pid_files}"
    # Nothing else the stack started may outlive it either (server workers, flow-run
    # subprocesses of serve): every one of them carries this test's data directory.
    if not wait_until(lambda: not _processes_with_env("AUTOMATION_DATA_DIR", str(data)), 10):
        strays = _processes_with_env("AUTOMATION_DATA_DIR", str(data))
        assert not strays, "processes of the stack outlived stop: " + "; ".join(
            f"{p.pid} {' '.join(p.cmdline())[:120]}" for p in strays)
    assert run_cli("status", env=env).returncode == 1

    with capsys.disabled():
        print(f"\ndashboard e2e: {time.monotonic() - began:.0f} s; screenshots in {SHOTS}:")
        for path in taken:
            print(f"  {path.name}")
