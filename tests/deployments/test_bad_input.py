"""Bad input never ends in a traceback: one line on stderr naming the value, and exit 2.

Each case is a command a user can type with a value that is out of range, unreadable or
wrong; the numbers are checked where they enter (CLI, catalog, settings), so `config
--validate` and `health` agree with what `serve` accepts.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import ROOT, free_port, run_cli

BAD_URL = "postgresql+psycopg://user:s3cret-pw@localhost:abc/metrics"

EXITS_AT_IMPORT = "raise SystemExit(3)\n"
EXITS_WHEN_MADE = """\
from neo_automation.metrics import MetricSpec


class Quits:
    name = "quits"
    metrics = [MetricSpec("quits.value", "count", "a collector that exits", better="lower")]

    def __init__(self):
        raise SystemExit(3)

    def collect(self):
        return []
"""

# (id, argv, extra environment, what the one line must say)
CASES = [
    ("timeout-inf", ["tasks", "add", "forever", "--command", "true", "--timeout", "inf"], {},
     "--timeout inf is out of range"),
    ("timeout-1e300", ["tasks", "add", "forever", "--command", "true", "--timeout", "1e300"],
     {}, "--timeout 1e+300 is out of range"),
    ("scan-timeout-nan", ["scan", "tests", "--timeout", "nan"], {},
     "--timeout nan is out of range"),
    ("monitor-interval-inf", ["metrics", "monitor", "--interval", "inf", "--count", "1"], {},
     "--interval inf is out of range"),
    ("report-hours-1e300", ["metrics", "report", "--hours", "1e300"], {},
     "--hours 1e+300 is out of range"),
    ("silence-forever", ["alerts", "silence", "cpu-high", "--for", "99999999999d"], {},
     "'99999999999d' is too long: at most 366d"),
    ("history-forever", ["alerts", "history", "--since", "99999999999d"], {},
     "is too long"),
    ("period-absurd", ["reports", "run", "--period", "0001-01-01..9999-12-31"], {},
     "both ends must be between 1970-01-01 and 2100-01-01"),
    ("period-too-long", ["reports", "run", "--period", "2020-01-01..2026-01-01"], {},
     "is too long"),
    ("retention-inf", ["metrics", "report"], {"AUTOMATION_RAW_RETENTION_DAYS": "inf"},
     "AUTOMATION_RAW_RETENTION_DAYS='inf' is not accepted"),
    ("prefect-retention-1e300", ["config", "--validate"],
     {"AUTOMATION_PREFECT_RETENTION_DAYS": "1e300"}, "AUTOMATION_PREFECT_RETENTION_DAYS"),
    *[(f"non-utf8-catalog-{args[0]}-{args[1] if len(args) > 1 else ''}", args,
       {"AUTOMATION_CATALOG": "@latin1"}, "not UTF-8 text")
      for args in (["tasks", "list"],
                   ["tasks", "add", "x", "--command", "true", "--schedule", "hourly"],
                   ["start"])],
    *[(f"database-port-{'-'.join(args)}", args, {"AUTOMATION_DATABASE_URL": BAD_URL},
       "Port could not be cast to integer value as 'abc'")
      for args in (["metrics", "collect", "--category", "system"], ["metrics", "report"],
                   ["alerts", "list"], ["health"], ["status"], ["config", "--validate"],
                   ["metrics", "monitor", "--count", "1"])],
    ("collector-exits-at-import", ["metrics", "collectors"],
     {"AUTOMATION_COLLECTORS": "@exits.py:Quits"}, "SystemExit(3): a collector must not exit"),
    ("collector-exits-when-made", ["metrics", "collectors"],
     {"AUTOMATION_COLLECTORS": "@quits.py:Quits"}, "SystemExit(3): a collector must not exit"),
]


@pytest.mark.parametrize(("argv", "extra", "says"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_and_exit_2(argv: list[str], extra: dict[str, str], says: str,
                                          cli_env: dict[str, str], tmp_path: Path) -> None:
    # a copy of the catalog: code that accepts a bad job must not write the repository's
    (tmp_path / "flows").symlink_to(ROOT / "flows", target_is_directory=True)
    copy = tmp_path / "prefect.yaml"
    copy.write_text((ROOT / "prefect.yaml").read_text())
    env = {**cli_env, "DASHBOARD_PORT": str(free_port()), "AUTOMATION_CATALOG": str(copy)}
    env.pop("PREFECT_API_URL", None)  # no session server: each command as a user runs it
    for key, value in extra.items():
        if value == "@latin1":  # the catalog with one Latin-1 byte in a comment
            copy.write_bytes((ROOT / "prefect.yaml").read_bytes() + b"\n# caf\xe9\n")
            value = str(copy)
        elif value.startswith("@"):
            file, _, obj = value[1:].partition(":")
            source = EXITS_AT_IMPORT if file == "exits.py" else EXITS_WHEN_MADE
            (tmp_path / file).write_text(source)
            value = f"{tmp_path / file}:{obj}"
        env[key] = value
    started = time.monotonic()
    proc = run_cli(*argv, env=env, timeout=60)
    took = time.monotonic() - started
    output = proc.stdout + proc.stderr
    assert "Traceback" not in output, output[-2000:]
    assert proc.returncode == 2, output[-2000:]
    if argv[0] == "config":  # --validate reports on stdout: "1 problem:", one line
        problems = proc.stdout.split("1 problem:", 1)[1].strip().splitlines()
        assert len(problems) == 1 and says in problems[0], proc.stdout[-2000:]
    else:
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and says in lines[0], proc.stderr
    assert "s3cret-pw" not in output  # the database password is never printed
    assert took < 30  # refused at once, not after scanning ten thousand years


def test_a_catalog_time_limit_of_inf_is_invalid_everywhere(cli_env: dict[str, str],
                                                           tmp_path: Path) -> None:
    (tmp_path / "flows").symlink_to(ROOT / "flows", target_is_directory=True)
    catalog = tmp_path / "prefect.yaml"
    text = (ROOT / "prefect.yaml").read_text()
    catalog.write_text(text.replace("timeout_seconds: 1800", "timeout_seconds: .inf", 1))
    env = {**cli_env, "AUTOMATION_CATALOG": str(catalog)}
    validate = run_cli("config", "--validate", env=env)
    assert validate.returncode == 2
    assert "timeout_seconds inf is out of range" in validate.stdout + validate.stderr
    health = run_cli("health", env=env)
    assert "timeout_seconds inf is out of range" in health.stdout


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """The stack's server with basic auth, on a free loopback port: (data dir, port)."""
    data = tmp_path_factory.mktemp("auth") / "data"
    port = str(free_port())
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update({"AUTOMATION_DATA_DIR": str(data), "DASHBOARD_PORT": port,
                "PREFECT_SERVER_API_AUTH_STRING": "admin:s3cret-pw", "PYTHONPATH": str(ROOT)})
    log = (data.parent / "server.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "deployments.stack.server_app"], cwd=ROOT,
                            env=env, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(  # nosec B310 - loopback
                        f"http://127.0.0.1:{port}/api/health", timeout=2) as resp:
                    if resp.read() == b"true":
                        break
            except OSError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.5)
        yield str(data), port
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()


@pytest.mark.parametrize("argv", [["status"], ["tasks", "status"], ["alerts", "list"]])
def test_a_server_with_auth_and_a_client_without(argv: list[str], auth_server: tuple[str, str],
                                                 cli_env: dict[str, str]) -> None:
    data, port = auth_server
    env = {**cli_env, "AUTOMATION_DATA_DIR": data, "DASHBOARD_PORT": port}
    for name in ("PREFECT_API_AUTH_STRING", "PREFECT_API_URL"):  # the auth server's, only
        env.pop(name, None)
    proc = run_cli(*argv, env=env, timeout=60)
    assert "Traceback" not in proc.stdout + proc.stderr
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        f"automation: error: http://127.0.0.1:{port}/api needs credentials (HTTP 401): set "
        "PREFECT_API_AUTH_STRING to the server's user:password")


def test_block_documents_need_the_auth_string(auth_server: tuple[str, str]) -> None:
    _, port = auth_server
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/block_documents/{uuid.uuid4()}?include_secrets=true")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)  # nosec B310 - loopback
    assert refused.value.code == 401
