"""Application metrics: a machine without JAX still collects, and says why JAX is missing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from helpers import ROOT


def test_jax_missing_is_reported_not_fatal(tmp_path: Path) -> None:
    # A directory shadowing `jax` with a module that fails to import, as when JAX is absent.
    shadow = tmp_path / "shadow"
    (shadow / "jax").mkdir(parents=True)
    (shadow / "jax" / "__init__.py").write_text("raise ImportError('No module named jax')\n")
    code = ("from neo_automation.metrics.application import read_jax, jax_samples; r = read_jax(); "
            "print(r.available, r.reason, jax_samples(r))")
    out = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": f"{shadow}:{ROOT}"}, timeout=60)
    assert out.stdout.startswith("False JAX is not installed"), out.stderr
    assert out.stdout.strip().endswith("[]")
