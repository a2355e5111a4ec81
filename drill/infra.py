"""What the drill starts: PostgreSQL, a Prefect server on it, clones, workers; and stopping it all.

Every process runs in its own session with its output in `<work>/logs/NAME.log`, and is
registered with `Infra`, whose `close()` stops them (SIGTERM, then SIGKILL of the whole
process tree) in reverse order, stops the cluster and removes the work directory. The cluster
is the tests' own throwaway PostgreSQL (`tests/pg.py`: `initdb` + `pg_ctl` on a free port,
run as the `postgres` user when the drill runs as root).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
import psycopg

from neo_automation.prefect_api import server_healthy

# The cluster, the package index and free ports are the tests' own (`tests` is a namespace
# package: `python -m drill` runs from the checkout's root).
from tests.helpers import free_port
from tests.loopback_index import serve_index, write_sample_project  # noqa: F401 - re-exported
from tests.pg import FAST, PASSWORD, USER, PostgresCluster, postgres_bin

ROOT = Path(__file__).resolve().parents[1]

PREFECT = [sys.executable, "-m", "prefect"]
AUTOMATION = [sys.executable, "-m", "deployments.cli"]


def ensure_postgres() -> Path:
    """The PostgreSQL server's bin dir, installing Debian's `postgresql` package when missing.

    Raises:
        RuntimeError: no binaries and the package cannot be installed (not root, no apt).
    """
    found = postgres_bin()
    if found is not None:
        return found
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        raise RuntimeError("PostgreSQL is not installed and cannot be installed here "
                           "(needs root and apt-get): apt-get install -y postgresql")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    print("drill: installing PostgreSQL (apt-get install -y postgresql) ...", flush=True)
    subprocess.run([apt, "update", "-qq"], check=True, env=env, timeout=600)  # noqa: S603
    subprocess.run([apt, "install", "-y", "-qq", "postgresql"], check=True, env=env,  # noqa: S603
                   timeout=1200)
    found = postgres_bin()
    if found is None:
        raise RuntimeError("apt-get installed postgresql but no initdb was found")
    return found


class Infra:
    """The drill's processes and cluster, and their cleanup.

    Args:
        work: an empty work directory (removed by `close` unless `keep`).
        keep: leave the work directory (logs, clones) in place for a look afterwards.
    """

    def __init__(self, work: Path, keep: bool = False) -> None:
        self.work = work
        self.keep = keep
        self.logs = work / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.cluster: PostgresCluster | None = None
        self.api_url = ""

    # -- processes ---------------------------------------------------------------------------

    def spawn(self, name: str, argv: list[str], env: dict[str, str], cwd: Path) -> Any:
        """Start a process in its own session, output to `logs/NAME.log`; register it."""
        with (self.logs / f"{name}.log").open("ab") as log:
            proc = subprocess.Popen(  # noqa: S603 - fixed argument lists
                argv, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )
        self.procs[name] = proc
        return proc

    def stop(self, name: str, grace: float = 20.0) -> None:
        """SIGTERM a registered process, then SIGKILL its whole tree after `grace` seconds."""
        proc = self.procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            kill_tree(proc.pid)
            proc.wait(timeout=10)

    def log_tail(self, name: str, chars: int = 1500) -> str:
        """The end of a process's log (for a failed check's detail)."""
        try:
            return (self.logs / f"{name}.log").read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def close(self) -> None:
        """Stop every process (newest first), the cluster, and remove the work dir."""
        for name in reversed(list(self.procs)):
            try:
                self.stop(name, grace=15.0)
            except (OSError, subprocess.SubprocessError) as exc:
                print(f"drill: could not stop {name}: {exc}", file=sys.stderr)
        if self.cluster is not None and self.cluster.data.exists():
            try:
                if self.cluster.running():
                    self.cluster.stop("immediate")
            except subprocess.SubprocessError as exc:
                print(f"drill: could not stop PostgreSQL: {exc}", file=sys.stderr)
            shutil.rmtree(self.cluster.root, ignore_errors=True)
        if self.keep:
            print(f"drill: logs and clones kept in {self.work}")
        else:
            shutil.rmtree(self.work, ignore_errors=True)

    # -- the shared services -----------------------------------------------------------------

    def start_cluster(self) -> PostgresCluster:
        """A PostgreSQL cluster on a free port with the databases `metrics` and `prefect`."""
        # its own temp dir: the postgres user must own it, and cannot enter the work dir
        root = Path(tempfile.mkdtemp(prefix="neo-drill-pg-"))
        self.cluster = PostgresCluster(ensure_postgres(), root, dict(FAST))
        self.cluster.init()
        with psycopg.connect(self.dsn("metrics"), autocommit=True) as conn:
            conn.execute("CREATE DATABASE prefect")
        return self.cluster

    def dsn(self, db: str) -> str:
        """A libpq connection string for `db` in the cluster."""
        assert self.cluster is not None
        return (f"host=127.0.0.1 port={self.cluster.port} user={USER} password={PASSWORD} "
                f"dbname={db}")

    def url(self, db: str, driver: str = "psycopg") -> str:
        """A SQLAlchemy URL for `db` in the cluster."""
        assert self.cluster is not None
        return f"postgresql+{driver}://{USER}:{PASSWORD}@127.0.0.1:{self.cluster.port}/{db}"

    def start_server(self, timeout: float = 180.0) -> str:
        """A Prefect server on the cluster's `prefect` database; its API URL once healthy."""
        port = free_port()
        self.api_url = f"http://127.0.0.1:{port}/api"
        env = clean_env()
        env.update({
            "PREFECT_HOME": str(self.work / "server-home"),
            "PREFECT_SERVER_DATABASE_CONNECTION_URL": self.url("prefect", "asyncpg"),
            "PREFECT_SERVER_API_HOST": "127.0.0.1", "PREFECT_SERVER_API_PORT": str(port),
            "PREFECT_UI_ENABLED": "false", "PREFECT_LOGGING_LEVEL": "WARNING",
        })
        proc = self.spawn("server", [*PREFECT, "server", "start", "--host", "127.0.0.1",
                                     "--port", str(port)], env, self.work)
        deadline = time.monotonic() + timeout
        while not server_healthy(self.api_url, timeout=1.0):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the Prefect server did not start:\n" + self.log_tail("server"))
            time.sleep(0.5)
        return self.api_url

    def clone(self, name: str) -> Path:
        """`git clone` of this repository into the work dir (a host's own checkout)."""
        dest = self.work / name
        subprocess.run(["git", "clone", "-q", str(ROOT), str(dest)], check=True,  # noqa: S607
                       timeout=120)
        return dest

    def host_env(self, host: str, checkout: Path) -> dict[str, str]:
        """The environment of a host's processes: shared server and store, its own checkout.

        Workers are started with Prefect's default settings (no heartbeat or retry variables):
        the pool's base job template must give their flow runs what crash detection needs.
        """
        env = clean_env()
        env.update({
            "PREFECT_API_URL": self.api_url,
            "PREFECT_HOME": str(self.work / f"{host}-prefect-home"),
            "PREFECT_LOGGING_LEVEL": "INFO",
            "PREFECT_WORKER_QUERY_SECONDS": "2",
            "PYTHONPATH": str(checkout),
            "AUTOMATION_ROOT": str(checkout),
            "AUTOMATION_DATA_DIR": str(self.work / f"{host}-data"),
            "AUTOMATION_DATABASE_URL": self.url("metrics"),
            "AUTOMATION_HOST": host,
            "AUTOMATION_TARGET_DIR": str(checkout / "tests" / "samples" / "tests_project"),
            "AUTOMATION_JAX_BENCHMARK": "false",
        })
        return env

    def start_worker(self, host: str, checkout: Path) -> Any:
        """`prefect worker start --pool automation` as host `host` (its own name and checkout)."""
        return self.spawn(f"worker-{host}", [*PREFECT, "worker", "start", "--pool", "automation",
                                             "--name", host, "--limit", "3"],
                          self.host_env(host, checkout), checkout)


def clean_env() -> dict[str, str]:
    """This environment without Prefect's and the product's own settings."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PREFECT_", "AUTOMATION_")) and k != "PYTHONPATH"}
    env.update({"DO_NOT_TRACK": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false"})
    return env


def kill_tree(pid: int) -> list[int]:
    """SIGKILL a process and all its descendants at once (a host that dies); their pids."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []
    for proc in procs:
        try:
            proc.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(procs, timeout=10)
    return [p.pid for p in procs]


def run_pids(pid: int) -> dict[str, int]:
    """Flow-run processes below `pid`: flow run id -> process id (from their environment)."""
    out: dict[str, int] = {}
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return out
    for child in children:
        try:
            run_id = child.environ().get("PREFECT__FLOW_RUN_ID")
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        if run_id:
            out.setdefault(run_id, child.pid)
    return out
