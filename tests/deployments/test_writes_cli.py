"""The CLI's writes keep what they write to: devices, missing folders, the catalog's mode."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from helpers import ROOT, run_cli


def test_report_output_to_a_full_device_is_one_line(cli_env: dict[str, str],
                                                    tmp_path: Path) -> None:
    # as root a private /dev/full (code that replaces devices must not damage the machine's)
    full = Path("/dev/full")
    if os.geteuid() == 0:
        full = tmp_path / "full"
        os.mknod(full, stat.S_IFCHR | 0o666, os.makedev(1, 7))
    proc = run_cli("metrics", "report", "--output", str(full), env=cli_env)
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        f"automation: error: cannot write {full}: No space left on device")
    assert stat.S_ISCHR(full.stat().st_mode)


def test_report_output_in_a_missing_folder_makes_no_folder(cli_env: dict[str, str],
                                                           tmp_path: Path) -> None:
    out = tmp_path / "nowhere" / "sub" / "report.md"
    proc = run_cli("metrics", "report", "--output", str(out), env=cli_env)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert "does not exist" in proc.stderr
    assert not (tmp_path / "nowhere").exists()


def test_tasks_add_keeps_the_catalogs_mode(cli_env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "flows").symlink_to(ROOT / "flows", target_is_directory=True)
    catalog = tmp_path / "prefect.yaml"
    catalog.write_text((ROOT / "prefect.yaml").read_text())
    catalog.chmod(0o644)
    env = {**cli_env, "AUTOMATION_CATALOG": str(catalog)}
    proc = run_cli("tasks", "add", "nightly-echo", "--command", "echo hi", "--schedule",
                   "daily at 03:00", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "nightly-echo" in catalog.read_text()
    assert stat.S_IMODE(catalog.stat().st_mode) == 0o644
