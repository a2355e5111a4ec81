"""The integration manager's supervisor: starts the stack's services and keeps them running.

`automation start` runs this module as a detached process (`python -m
deployments.stack.supervisor`). It stores one system sample of this host at once (`metrics
monitor --count 1`, no Prefect needed), starts each service without waiting for the one before
(the Prefect server unless one already answers, the exporter, and the `serve` process of the
catalog, which imports its flows while the server starts and then waits for the API), registers
the blocks and automations in a background process that waits for the API too, starts one run of
`system-sampling` as soon as serve has created its deployments (fresh artifacts within seconds,
not at the next 5-minute tick), restarts a service that dies with exponential backoff, counts
and logs every restart, and on SIGTERM or SIGINT stops its children gracefully (SIGTERM, wait,
SIGKILL) and removes its pid and state files. Its state (pids, start times, restarts) is written
to `<data dir>/run/state.json` for `automation status`.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deployments.prefect_setup.rest_api import ApiError, create_run, deployment_id
from deployments.stack.logging_setup import setup_logging
from deployments.stack.runtime import stack_process_env
from deployments.stack.state import (
    pid_file,
    read_serve_report,
    run_dir,
    serve_report_file,
    state_file,
    write_pid_file,
)
from neo_automation.prefect_api import server_healthy
from neo_automation.processes import stop
from neo_automation.settings import Settings, load_settings

log = logging.getLogger("automation.manager")

STOP_GRACE_SECONDS = 15.0
MAX_BACKOFF_SECONDS = 60.0
#: The job run once as soon as serve is up, so that `automation health` does not wait for the
#: clock (up to 5 minutes) to see fresh metrics: flow name and deployment name.
FIRST_COLLECTION = ("metrics-collection", "system-sampling")
#: How long after serve started the supervisor keeps trying to start that first run.
FIRST_COLLECTION_GIVE_UP_SECONDS = 180.0
#: The longest a helper process (registration, the first sample) may run; the registration
#: waits up to 90 s for the API (deployments.stack.register).
HELPER_TIMEOUT_SECONDS = 180.0


@dataclass
class Service:
    """One supervised child process."""

    name: str
    argv: list[str]
    log_file: Path
    proc: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    restarts: int = 0
    next_start: float = 0.0
    backoff: float = 1.0
    url: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def alive(self) -> bool:
        """True while the service's process runs."""
        return self.proc is not None and self.proc.poll() is None


def services(settings: Settings, start_server: bool) -> list[Service]:
    """The services this stack runs, in start order."""
    logs = settings.log_path
    out = []
    if start_server:
        out.append(
            Service(
                "server",
                # Prefect's server app behind a Host and Origin check (host and port come
                # from PREFECT_SERVER_API_HOST/_PORT, see deployments.stack.runtime)
                [sys.executable, "-m", "deployments.stack.server_app"],
                logs / "prefect_server.log",
                url=settings.ui_url,
            )
        )
    if settings.exporter_port is not None:
        out.append(
            Service(
                "exporter",
                [sys.executable, "-m", "deployments.exporter"],
                logs / "exporter.log",
                url=f"http://{settings.exporter_host}:{settings.exporter_port}/metrics",
            )
        )
    if (settings.root / "prefect.yaml").is_file() and os.environ.get(
        "AUTOMATION_SERVE", "true"
    ).lower() not in ("0", "false", "no"):
        out.append(
            Service(
                "serve",
                [sys.executable, "-m", "deployments.stack.serve"],
                logs / "serve.log",
            )
        )
    return out


class Supervisor:
    """Start, watch and stop the services."""

    def __init__(self, settings: Settings, start_server: bool) -> None:
        self.settings = settings
        self.services = services(settings, start_server)
        self.stopping = False
        self.reload_requested = False
        self.started = time.time()
        self.env = stack_process_env(settings)
        #: monotonic time until which the first collection run is still to be started
        self.first_run_until: float | None = None
        self.next_first_try = 0.0
        #: short-lived helper processes by name: (process, what it does, monotonic deadline)
        self.helpers: dict[str, tuple[subprocess.Popen[bytes], str, float]] = {}

    def start(self, svc: Service) -> None:
        """Start `svc`, its output appended to its log file."""
        svc.log_file.parent.mkdir(parents=True, exist_ok=True)
        out = svc.log_file.open("ab")
        try:
            svc.proc = subprocess.Popen(  # noqa: S603 - fixed argument list, no shell
                svc.argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
                cwd=self.settings.root,
            )
        finally:
            out.close()
        svc.started = time.time()
        log.info("started %s (pid %d): %s", svc.name, svc.proc.pid, " ".join(svc.argv[1:4]))

    def wait_healthy(self, timeout: float = 90.0) -> bool:
        """Wait until the API answers (the serve process needs it)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.stopping:
            if server_healthy(self.settings.api_url, timeout=1.0):
                return True
            time.sleep(0.3)
        return False

    def run(self) -> int:
        """Start every service, restart those that die, stop them all on a signal."""
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGHUP, self._on_reload)
        # Nothing waits for the server here: each step that needs the API waits for it itself
        # (serve after importing the flows, registration in its own process), so the server's
        # start, serve's imports and the first sample overlap instead of adding up.
        self.sample_now()
        for svc in self.services:
            if self.stopping:
                break
            self.start(svc)
            if svc.name == "serve":
                self.first_run_until = time.monotonic() + FIRST_COLLECTION_GIVE_UP_SECONDS
            self.write_state()
        self.write_state()
        if not self.stopping:
            self.register()
        while not self.stopping:
            self.reap_helpers()
            self.start_first_collection()
            if self.reload_requested:
                self.reload_requested = False
                self.reload_catalog()
            now = time.time()
            for svc in self.services:
                if self.stopping:
                    break
                if svc.alive():
                    if now - svc.started > 60:
                        svc.backoff = 1.0  # it ran for a while: the next failure starts afresh
                    continue
                if svc.next_start == 0.0:
                    code = svc.proc.returncode if svc.proc else None
                    svc.next_start = now + svc.backoff
                    log.warning(
                        "%s exited with code %s; restarting in %.0f s",
                        svc.name, code, svc.backoff,
                    )
                    svc.backoff = min(svc.backoff * 2, MAX_BACKOFF_SECONDS)
                elif now >= svc.next_start:
                    svc.next_start = 0.0
                    svc.restarts += 1
                    if svc.name == "serve":
                        self.wait_healthy(timeout=30)
                    self.start(svc)
                    log.info("restarted %s (restart #%d)", svc.name, svc.restarts)
                    self.write_state()
            time.sleep(0.5)
        self.shutdown()
        return 0

    def start_first_collection(self) -> None:
        """Once serve has created its deployments, start one run of FIRST_COLLECTION.

        Called from the main loop (it never blocks it for more than one API call); gives up,
        with a log line, when the job is not served or serve is not up in time.
        """
        if self.first_run_until is None or time.monotonic() < self.next_first_try:
            return
        self.next_first_try = time.monotonic() + 1.0
        serve = next((svc for svc in self.services if svc.name == "serve"), None)
        report = read_serve_report(self.settings)
        if time.monotonic() > self.first_run_until or serve is None:
            log.warning("first collection not started: serve did not report in time")
            self.first_run_until = None
            return
        if report.get("time", 0) < serve.started:
            return  # serve has not created its deployments yet
        flow_name, job = FIRST_COLLECTION
        if job not in report.get("served", []):
            log.info("no %s job served: the first collection waits for the schedules", job)
            self.first_run_until = None
            return
        try:
            deployment = deployment_id(self.settings.api_url, flow_name, job)
            if deployment is None:
                return  # not created yet: try again in a second
            run = create_run(self.settings.api_url, deployment, tags=["on-start"])
        except ApiError as exc:  # a busy server (503) or a restart: try again in a second
            log.info("first collection not started yet: %s", exc)
            return
        self.first_run_until = None
        log.info("started %s once now (flow run %s) so that fresh metrics exist",
                 job, run["name"])

    def register(self) -> None:
        """Register the blocks and automations (idempotent) in a short-lived subprocess.

        Not waited for: the subprocess waits for the API itself
        (`deployments.stack.register`), and `reap_helpers` logs how it ended.
        """
        self._helper("register", [sys.executable, "-m", "deployments.stack.register"],
                     "registering blocks and automations")

    def sample_now(self) -> None:
        """Store one system sample of this host at once, without Prefect or the server.

        `automation metrics monitor --count 1` (the per-host agent's own path: the `host`
        label, the store's retries, the alert rules) in a short-lived subprocess, so that
        `automation health` finds fresh metrics seconds after `start`, while the Prefect server
        is still starting; the first `system-sampling` run follows once serve is up.
        """
        self._helper("first-sample", [sys.executable, "-m", "deployments.cli", "metrics",
                                      "monitor", "--count", "1", "--quiet"],
                     "the first system sample")

    def _helper(self, name: str, argv: list[str], what: str) -> None:
        with (self.settings.log_path / "integration_manager.log").open("ab") as out:
            proc = subprocess.Popen(  # noqa: S603 - fixed argument list
                argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=self.env, cwd=self.settings.root,
            )
        self.helpers[name] = (proc, what, time.monotonic() + HELPER_TIMEOUT_SECONDS)

    def reap_helpers(self) -> None:
        """Log how each finished helper process ended; stop one that runs past its time."""
        for name, (proc, what, deadline) in list(self.helpers.items()):
            code = proc.poll()
            if code is None and time.monotonic() > deadline:
                stop(proc, 0)
                code = proc.wait()
                log.error("%s took over %.0f s and was stopped", what, HELPER_TIMEOUT_SECONDS)
            if code is None:
                continue
            del self.helpers[name]
            if code != 0:
                log.error("%s failed (exit %d); see this log", what, code)

    def _on_reload(self, _signum: int, _frame: Any) -> None:
        self.reload_requested = True

    def reload_catalog(self) -> None:
        """Restart serve so that it serves the catalog as it is now (SIGHUP, `tasks add`)."""
        for svc in self.services:
            if svc.name != "serve" or not svc.alive():
                continue
            assert svc.proc is not None
            log.info("reloading the catalog: restarting serve (pid %d)", svc.proc.pid)
            stop(svc.proc, STOP_GRACE_SECONDS)
            self.start(svc)
            svc.extra["reloads"] = svc.extra.get("reloads", 0) + 1
            self.write_state()

    def _on_signal(self, signum: int, _frame: Any) -> None:
        log.info("received %s: stopping", signal.Signals(signum).name)
        self.stopping = True

    def shutdown(self) -> None:
        """Stop the helpers, then the services in reverse order: SIGTERM, wait, then SIGKILL."""
        for proc, _what, _deadline in self.helpers.values():
            stop(proc, 0)
        self.helpers.clear()
        for svc in reversed(self.services):
            if not svc.alive():
                continue
            assert svc.proc is not None
            if stop(svc.proc, STOP_GRACE_SECONDS):
                log.warning("%s did not stop in %.0f s: killed it", svc.name, STOP_GRACE_SECONDS)
            log.info("stopped %s", svc.name)
        for path in (state_file(self.settings), pid_file(self.settings),
                     serve_report_file(self.settings)):
            path.unlink(missing_ok=True)

    def write_state(self) -> None:
        """Write pids, start times and restarts to the state file (atomically)."""
        state = {
            "supervisor": {"pid": os.getpid(), "started": self.started},
            "api_url": self.settings.api_url,
            "ui_url": self.settings.ui_url,
            "services": {
                svc.name: {
                    "pid": svc.proc.pid if svc.proc else None,
                    "started": svc.started,
                    "restarts": svc.restarts,
                    "url": svc.url,
                    "log": str(svc.log_file),
                    "reloads": svc.extra.get("reloads", 0),
                }
                for svc in self.services
            },
        }
        path = state_file(self.settings)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2))
        tmp.replace(path)


def main() -> int:
    """Run the supervisor (`python -m deployments.stack.supervisor`) until SIGTERM or SIGINT."""
    settings = load_settings()
    setup_logging(settings, "integration_manager")
    run_dir(settings).mkdir(parents=True, exist_ok=True)
    write_pid_file(settings)  # pid, start time and command line: see stack_state
    start_server = os.environ.get("AUTOMATION_EXTERNAL_SERVER") != "1"
    return Supervisor(settings, start_server).run()


if __name__ == "__main__":
    sys.exit(main())
