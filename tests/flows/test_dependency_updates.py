"""The `dependency-updates` flow on the session's Prefect server, against a loopback index.

It stores the outdated count, never an unknown vulnerable count, and publishes the report as
the `dependency-updates` artifact. The index and the sample project are `loopback_index`'s.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import free_port
from loopback_index import (
    UNAVAILABLE,
    no_internet,
    only_the_loopback_index,
    serve_index,
    write_sample_project,
)

from neo_automation.metrics.dependencies import OUTDATED_METRIC, VULNERABLE_METRIC
from neo_automation.store.metric_store import MetricStore
from tasks.dependencies import REPORT_KEY


@pytest.fixture(scope="module")
def index_url() -> Iterator[str]:
    with serve_index() as url:
        yield url


@pytest.fixture(autouse=True)
def loopback_pip(monkeypatch: pytest.MonkeyPatch) -> None:
    only_the_loopback_index(monkeypatch)


@pytest.fixture
def sample_project(tmp_path: Path) -> Path:
    return write_sample_project(tmp_path / "project")


@pytest.fixture
def no_vulnerability_service(monkeypatch: pytest.MonkeyPatch) -> None:
    no_internet(monkeypatch, free_port())


def test_flow_stores_outdated_but_not_an_unknown_vulnerable_count(
    prefect_server: str, automation_env: Path, sample_project: Path, index_url: str,
    monkeypatch: pytest.MonkeyPatch, no_vulnerability_service: None,
) -> None:
    from prefect.artifacts import Artifact

    from flows.dependency_updates import dependency_updates

    monkeypatch.setenv("AUTOMATION_TARGET_DIR", str(sample_project))
    report = dependency_updates(index_url=index_url)
    assert len(report["outdated"]) == 2 and report["stored"] == 1
    assert report["audit"]["available"] is False
    assert report["audit"]["reason"].startswith(UNAVAILABLE)
    with MetricStore(f"sqlite:///{automation_env / 'metrics.db'}") as store:
        latest = {name: value for _, name, _, _, value in store.latest("dependencies.")}
    assert latest == {OUTDATED_METRIC: 2.0}
    assert VULNERABLE_METRIC not in latest
    artifact = Artifact.get(REPORT_KEY)
    assert artifact is not None
    assert "Known vulnerabilities: unavailable: pip-audit" in artifact.data
    assert "| alpha-lib | 1.4.0 |" in artifact.data
