"""`serve` imports every flow of the catalog at start, and none of the jobs' heavy libraries.

The serve process lives as long as the stack and only registers the flows: each run executes
in a process of its own, which imports what the job needs. A flow or task module that imports
JAX, matplotlib, radon, bandit, numpy, SQLAlchemy or the Slack client at its top would keep
them resident in serve for good (tens of MB each). This is a guard on what is imported, not a
timing: `bench/cli.py` measures serve's memory.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

#: Libraries that only the runs of some jobs use.
HEAVY = ("jax", "matplotlib", "radon", "bandit", "numpy", "sqlalchemy", "prefect_slack",
         "slack_sdk", "aiohttp", "jinja2")

#: What serve does before it serves: import its module and load every flow of the catalog.
PROBE = """
import json, sys
from deployments.catalog.read import read_catalog
from deployments.stack.serve import prepare_catalog
prepared = prepare_catalog(read_catalog(sys.argv[1], skip_broken=True), "UTC")
print(json.dumps({"served": [job.entry.name for job in prepared.jobs],
                  "not_served": prepared.not_served,
                  "modules": sorted({name.split(".")[0] for name in sys.modules})}))
"""


def test_serve_loads_every_flow_without_the_jobs_heavy_libraries(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "AUTOMATION_"))}
    env.update(AUTOMATION_DATA_DIR=str(tmp_path / "data"), PREFECT_HOME=str(tmp_path / "ph"),
               PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", PROBE, str(ROOT / "prefect.yaml")], cwd=ROOT,  # noqa: S603
                          env=env, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    # The probe means something only if every job's flow (and so its tasks) was imported.
    assert out["not_served"] == []
    assert len(out["served"]) >= 10
    assert "flows" in out["modules"] and "tasks" in out["modules"]
    assert sorted(set(HEAVY) & set(out["modules"])) == []
