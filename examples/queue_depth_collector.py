"""A custom metric collector: the README's example, run as written by the test suite.

Point `AUTOMATION_COLLECTORS=examples/queue_depth_collector.py:QueueDepth` at it and every
metrics collection stores its samples like the built-in ones.
"""

from pathlib import Path

from neo_automation.metrics import MetricSpec


class QueueDepth:
    """How many training jobs wait in a spool directory, per priority."""

    name = "training-queue"
    metrics = [
        MetricSpec("queue.depth", "jobs", "Training jobs waiting", better="lower",
                   labels=("priority",)),
    ]
    timeout = 10  # seconds; a collector that hangs longer is reported and skipped

    def __init__(self, spool: str = ".automation/spool") -> None:
        self.spool = Path(spool)

    def collect(self):
        for priority in ("high", "low"):
            jobs = list((self.spool / priority).glob("*.job"))
            yield "queue.depth", len(jobs), {"priority": priority}
