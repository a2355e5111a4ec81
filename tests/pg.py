"""A throwaway PostgreSQL cluster for tests and benchmarks, from Debian's server package.

`PostgresCluster` runs `initdb` and `pg_ctl start` in a temp dir on a free loopback port (the
Unix socket in the same dir, so nothing touches /var/run/postgresql) and can be stopped and
started again on the same port, which is how the tests take the database away. PostgreSQL
refuses to run as root: as root every command runs as the `postgres` user (`runuser`), in a
dir that user owns. Password authentication over TCP (scram-sha-256), as a real deployment
would use.

    with running_cluster() as pg:        # pytest.skip()s when no server binaries exist
        url = pg.url                     # postgresql+psycopg://automation:...@127.0.0.1:PORT/metrics

Install the binaries with `apt-get install -y postgresql` (Debian: /usr/lib/postgresql/*/bin).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.helpers import free_port

USER = "automation"
PASSWORD = "automation-test-pw"  # noqa: S105 - a throwaway cluster on loopback
DATABASE = "metrics"

#: Settings for a disposable cluster: no fsync (nothing here must survive a power cut). Commits
#: stay synchronous: a server stopped with `-m immediate` (a crash) keeps what it committed.
FAST = {"fsync": "off", "full_page_writes": "off"}


def postgres_bin() -> Path | None:
    """The newest installed server's bin dir (`initdb`, `pg_ctl`), or None."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                   key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0)
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


SKIP_REASON = ("no PostgreSQL server binaries (initdb, pg_ctl) found under /usr/lib/postgresql "
               "or on PATH: apt-get install -y postgresql")


class PostgresCluster:
    """One PostgreSQL cluster in `root`, listening on 127.0.0.1:`port`.

    Args:
        bin_dir: the server's bin dir (`postgres_bin()`).
        root: an empty dir for the data, the socket and the log.
        settings: extra server settings (`-c name=value`), e.g. `FAST`.
    """

    def __init__(self, bin_dir: Path, root: Path, settings: dict[str, str] | None = None) -> None:
        self.bin = bin_dir
        self.root = root
        self.data = root / "data"
        self.log = root / "server.log"
        self.port = free_port()
        self.settings = settings or {}
        self._as_postgres = os.geteuid() == 0

    @property
    def url(self) -> str:
        """The SQLAlchemy URL of the test database."""
        return f"postgresql+psycopg://{USER}:{PASSWORD}@127.0.0.1:{self.port}/{DATABASE}"

    def url_for(self, user: str = USER, password: str = PASSWORD, db: str = DATABASE) -> str:
        """A URL with other credentials or database (for the refusal tests)."""
        return f"postgresql+psycopg://{user}:{password}@127.0.0.1:{self.port}/{db}"

    def _run(self, *argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bin / argv[0]), *argv[1:]]
        if self._as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=True)  # noqa: S603

    def init(self) -> None:
        """`initdb` with a password for `USER`, then the test database."""
        if self._as_postgres:
            shutil.chown(self.root, "postgres")
        pwfile = self.root / "pw"
        pwfile.write_text(PASSWORD + "\n")
        if self._as_postgres:
            shutil.chown(pwfile, "postgres")
        self._run("initdb", "-D", str(self.data), "-U", USER, f"--pwfile={pwfile}",
                  "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--no-sync")
        pwfile.unlink()
        self.start()
        self._run("createdb", "-h", str(self.root), "-p", str(self.port), "-U", USER, DATABASE)

    def start(self) -> None:
        """Start the server (again) on the same port; returns once it accepts connections."""
        options = " ".join([f"-p {self.port}", f"-k {self.root}", "-c listen_addresses=127.0.0.1",
                            *(f"-c {k}={v}" for k, v in self.settings.items())])
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60",
                  "-o", options, "start")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (`fast`: cut the sessions; `immediate`: as if it crashed)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def running(self) -> bool:
        """Whether the server is up."""
        try:
            self._run("pg_ctl", "-D", str(self.data), "status")
        except subprocess.CalledProcessError:
            return False
        return True


@contextmanager
def running_cluster(settings: dict[str, str] | None = None) -> Iterator[PostgresCluster]:
    """A started cluster in a fresh temp dir, stopped and removed afterwards.

    Skips the calling test (pytest.skip) when no server binaries are installed.
    """
    bin_dir = postgres_bin()
    if bin_dir is None:
        import pytest  # only here: the benchmark imports this module without pytest

        pytest.skip(SKIP_REASON)
    root = Path(tempfile.mkdtemp(prefix="neo-pg-"))
    cluster = PostgresCluster(bin_dir, root, {**FAST, **(settings or {})})
    try:
        cluster.init()
        yield cluster
    finally:
        if cluster.data.exists() and cluster.running():
            cluster.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)
