"""The CLI acts on the checkout it runs in, or AUTOMATION_ROOT, named first.

A second "checkout" is made in a temp dir (the catalog copied, the packages linked); the CLI
runs as a subprocess from inside it, from outside any checkout, and with AUTOMATION_ROOT. The
repository's own `prefect.yaml` must never change.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from helpers import ROOT, run_cli


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """Another checkout: its own prefect.yaml beside flows/ and deployments/."""
    clone = tmp_path / "other-checkout"
    clone.mkdir()
    (clone / "prefect.yaml").write_text((ROOT / "prefect.yaml").read_text())
    for package in ("flows", "deployments"):
        (clone / package).symlink_to(ROOT / package, target_is_directory=True)
    (clone / "sub" / "dir").mkdir(parents=True)
    return clone


@pytest.fixture
def env(cli_env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in cli_env.items() if k not in ("AUTOMATION_CATALOG", "AUTOMATION_ROOT")}


def test_add_in_another_checkout_changes_that_one_and_says_so_first(
    checkout: Path, env: dict[str, str]
) -> None:
    installed = _sha(ROOT / "prefect.yaml")
    proc = run_cli("tasks", "add", "here-job", "--command", "true", env=env,
                   cwd=checkout / "sub" / "dir")
    assert proc.returncode == 0, proc.stderr
    first = proc.stdout.splitlines()[0]
    assert first == (f"adding here-job in {checkout / 'prefect.yaml'} "
                     "(the checkout you are in)")
    assert "name: here-job" in (checkout / "prefect.yaml").read_text()
    assert _sha(ROOT / "prefect.yaml") == installed

    proc = run_cli("tasks", "remove", "here-job", env=env, cwd=checkout)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0].startswith(f"removing here-job in {checkout}")
    assert (checkout / "prefect.yaml").read_text() == (ROOT / "prefect.yaml").read_text()


def test_automation_root_names_the_checkout_from_anywhere(
    checkout: Path, env: dict[str, str], tmp_path: Path
) -> None:
    proc = run_cli("tasks", "add", "rooted", "--command", "true",
                   env={**env, "AUTOMATION_ROOT": str(checkout)}, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == (
        f"adding rooted in {checkout / 'prefect.yaml'} (AUTOMATION_ROOT)")
    assert "name: rooted" in (checkout / "prefect.yaml").read_text()


def test_outside_any_checkout_the_installed_one_is_named_before_anything(
    env: dict[str, str], tmp_path: Path
) -> None:
    installed = _sha(ROOT / "prefect.yaml")
    proc = run_cli("tasks", "remove", "no-such-job", env=env, cwd=tmp_path)
    assert proc.returncode == 2
    first = proc.stdout.splitlines()[0]
    assert first.startswith(f"removing no-such-job in {ROOT / 'prefect.yaml'} "
                            "(the installed checkout")
    assert "set AUTOMATION_ROOT" in first
    assert "no job named 'no-such-job'" in proc.stderr
    assert _sha(ROOT / "prefect.yaml") == installed
