"""The Prometheus exporter, scraped over HTTP (and its collector through prometheus_client)."""

from __future__ import annotations

import base64
import logging
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from helpers import ROOT, free_port
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from deployments.exporter.server import StoreCollector
from neo_automation.metrics import Sample
from neo_automation.metrics.system import METRICS
from neo_automation.store.metric_store import MetricStore


def scrape(url: str, auth: str | None = None) -> str:
    request = urllib.request.Request(url)
    if auth:
        request.add_header("Authorization", "Basic " + base64.b64encode(auth.encode()).decode())
    with urllib.request.urlopen(request, timeout=5) as resp:  # nosec B310 - loopback http URL
        return resp.read().decode()


@pytest.fixture
def exporter(cli_env: dict[str, str]):  # noqa: ANN201
    data = Path(cli_env["AUTOMATION_DATA_DIR"])
    now = time.time()
    with MetricStore(f"sqlite:///{data / 'metrics.db'}") as store:
        store.declare(METRICS)
        store.write([
            Sample("system.cpu.percent", 12.5, {"host": "web-1"}, now - 60, "system"),
            Sample("system.cpu.percent", 42.0, {"host": "web-1"}, now, "system"),
            Sample("system.cpu.percent", 7.0, {"host": "web-2"}, now, "system"),
            Sample("system.disk.percent", 71.0,
                   {"host": "web-1", "mountpoint": "/", "device": "/dev/a"}, now, "system"),
            # Stored before hosts were labelled: exported with an empty (absent) host.
            Sample("system.load.avg_1m", 0.5, {}, now - 60, "system"),
            Sample("system.load.avg_1m", 1.5, {"host": "web-2"}, now, "system"),
        ])
    port = free_port()
    env = {**cli_env, "AUTOMATION_EXPORTER_PORT": str(port),
           "AUTOMATION_EXPORTER_AUTH": "prom:scrape-secret"}
    proc = subprocess.Popen([sys.executable, "-m", "deployments.exporter"], env=env, cwd=ROOT,  # noqa: S603
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}/metrics"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            scrape(url, "prom:scrape-secret")
            break
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.2)
    yield url
    proc.terminate()
    proc.wait(10)


def test_latest_values_with_labels(exporter: str) -> None:
    text = scrape(exporter, "prom:scrape-secret")
    families = {f.name: f for f in text_string_to_metric_families(text)}
    cpu = families["automation_system_cpu_percent"]
    assert {s.labels["host"]: s.value for s in cpu.samples} == {"web-1": 42.0, "web-2": 7.0}
    assert "CPU busy" in cpu.documentation
    (disk,) = families["automation_system_disk_percent"].samples
    assert disk.labels == {"host": "web-1", "mountpoint": "/", "device": "/dev/a",
                           "source": "system"}
    assert disk.value == 71.0
    load = families["automation_system_load_avg_1m"].samples
    assert sorted((s.labels["host"], s.value) for s in load) == [("", 0.5), ("web-2", 1.5)]
    assert 'automation_system_load_avg_1m{host="",source="system"} 0.5' in text


def test_basic_auth_is_required(exporter: str) -> None:
    with pytest.raises(urllib.error.HTTPError) as err:
        scrape(exporter)
    assert err.value.code == 401
    with pytest.raises(urllib.error.HTTPError):
        scrape(exporter, "prom:wrong")


def test_non_loopback_without_auth_is_refused(cli_env: dict[str, str]) -> None:
    env = {**cli_env, "AUTOMATION_EXPORTER_PORT": str(free_port()),
           "AUTOMATION_EXPORTER_HOST": "0.0.0.0"}  # nosec B104 - the refusal is the test
    proc = subprocess.run([sys.executable, "-m", "deployments.exporter"], env=env, cwd=ROOT,  # noqa: S603
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "AUTOMATION_EXPORTER_AUTH" in proc.stderr


def test_a_bad_database_url_is_one_line(cli_env: dict[str, str]) -> None:
    env = {**cli_env, "AUTOMATION_EXPORTER_PORT": str(free_port()),
           "AUTOMATION_DATABASE_URL": "postgresql+psycopg://u:hunter2@127.0.0.1:1/x",
           "AUTOMATION_STORE_RETRY_SECONDS": "0"}  # refused is transient: no 30 s of retries
    proc = subprocess.run([sys.executable, "-m", "deployments.exporter"], env=env, cwd=ROOT,  # noqa: S603
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.startswith("exporter: error: cannot open the metrics database")
    assert len(proc.stderr.strip().splitlines()) == 1 and "hunter2" not in proc.stderr


def test_a_store_holding_names_that_meet_exports_each_family_once(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with MetricStore(f"sqlite:///{tmp_path / 'm.db'}", retry_seconds=0,
                     spool_dir=tmp_path / "spool") as store:
        store.write([Sample("queue.depth", 3.0, {"queue": "high"}, 1.0e9, "odd"),
                     Sample("queue_depth", 7.0, {"queue": "high"}, 1.0e9, "odd"),
                     Sample("disk.label_values", 1.0, {"path": 'C:\\data\\"x"\nnext'}, 1.0e9,
                            "odd")])
        registry = CollectorRegistry()
        registry.register(StoreCollector(store))  # type: ignore[arg-type]
        with caplog.at_level(logging.WARNING):
            text = generate_latest(registry).decode()
            generate_latest(registry)  # the pair is named once, not at every scrape
    families = [f.name for f in text_string_to_metric_families(text)]
    assert len(families) == len(set(families))
    samples = {(s.name, s.value) for f in text_string_to_metric_families(text)
               for s in f.samples}
    assert ("automation_queue_depth", 3.0) in samples
    assert ("automation_queue_depth", 7.0) not in samples
    assert caplog.text.count("'queue.depth' and 'queue_depth' both export") == 1
    path = next(s.labels["path"] for f in text_string_to_metric_families(text)
                for s in f.samples if s.name == "automation_disk_label_values")
    assert path == 'C:\\data\\"x"\nnext'
