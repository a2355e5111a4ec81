"""Shell syntax in a custom job's command is refused, never handed to the program as arguments.

Jobs run their command without a shell: `python scripts/backup.py && touch DONE_MARKER` would
run the script with `&&`, `touch`, `DONE_MARKER` as its arguments and end Completed while the
second step never ran. `tasks add` and `config --validate` refuse it in one line that says how
to run it: a script, or an explicit `sh -c` the user writes.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import ROOT, run_cli

from deployments.catalog.fields import shell_syntax_in_argv, shell_syntax_in_line
from deployments.catalog.read import read_catalog
from deployments.cli import main

#: The case's command, as its user typed it.
CASE = "python scripts/backup.py && touch DONE_MARKER"


@pytest.fixture
def catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, automation_env: Path) -> Path:
    (tmp_path / "flows").symlink_to(ROOT / "flows", target_is_directory=True)
    path = tmp_path / "prefect.yaml"
    path.write_text((ROOT / "prefect.yaml").read_text())
    monkeypatch.setenv("AUTOMATION_CATALOG", str(path))
    return path


def cli(*args: str) -> int:
    try:
        return main(list(args))
    except SystemExit as exc:  # argparse's own errors
        return int(exc.code or 0)


@pytest.mark.parametrize(("command", "found"), [
    (CASE, "'&&'"),
    ("python scripts/export.py | gzip", "'|'"),
    ("python report.py > out.txt", "'>'"),
    ("make clean; make", "';'"),
    ("echo `date`", "'`...`'"),
    ("tar czf backup-$(date +%F).tgz data", "'$(...)'"),
    ("python a.py||true", "'||'"),
    ("python a.py 2>/dev/null", "'>'"),
    ("sleep 10 &", "'&'"),
])
def test_tasks_add_refuses_shell_syntax_in_one_line(
        catalog: Path, capsys: pytest.CaptureFixture[str], command: str, found: str) -> None:
    before = catalog.read_bytes()
    assert cli("tasks", "add", "nightly-backup", "--command", command,
               "--schedule", "daily at 03:00") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert f"holds shell syntax ({found})" in err
    assert "put the steps in a script" in err and "sh -c " in err
    assert catalog.read_bytes() == before


def test_the_case_line_names_the_way_to_run_it(catalog: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert cli("tasks", "add", "nightly-backup", "--command", CASE) == 2
    assert capsys.readouterr().err.strip() == (
        "automation: error: --command: command 'python scripts/backup.py && touch DONE_MARKER' "
        "holds shell syntax ('&&') but jobs run without a shell, so it would reach the program "
        "as an argument: put the steps in a script and run that, or ask for a shell yourself: "
        "--command \"sh -c 'python scripts/backup.py && touch DONE_MARKER'\"")


@pytest.mark.parametrize(("command", "argv"), [
    (f"sh -c '{CASE}'", ["sh", "-c", CASE]),
    ("bash -euc 'make clean; make'", ["bash", "-euc", "make clean; make"]),
    ("python -c 'print(1 | 2 > 0)'", ["python", "-c", "print(1 | 2 > 0)"]),
    ("grep -e 'a|b' \"notes; todo\"", ["grep", "-e", "a|b", "notes; todo"]),
    ("echo a\\;b", ["echo", "a;b"]),
])
def test_an_explicit_shell_and_quoted_text_are_accepted(
        catalog: Path, capsys: pytest.CaptureFixture[str], command: str,
        argv: list[str]) -> None:
    assert cli("tasks", "add", "job", "--command", command) == 0, capsys.readouterr().err
    assert read_catalog(catalog).get("job").parameters["command"] == argv


def test_config_validate_refuses_a_catalog_written_by_hand(catalog: Path,
                                                         cli_env: dict[str, str]) -> None:
    assert cli("tasks", "add", "nightly-backup", "--command", "python scripts/backup.py") == 0
    text = catalog.read_text()
    edited = text.replace("command: [python, scripts/backup.py]",
                          "command: [python, scripts/backup.py, '&&', touch, DONE_MARKER]")
    assert edited != text
    catalog.write_text(edited)
    proc = run_cli("config", "--validate", env={**cli_env, "AUTOMATION_CATALOG": str(catalog)})
    assert proc.returncode == 2, proc.stdout + proc.stderr
    errors = [line for line in proc.stdout.splitlines() if "shell syntax" in line]
    assert len(errors) == 1, proc.stdout
    assert "deployment 'nightly-backup': parameters.command" in errors[0]
    assert "('&&')" in errors[0] and "sh -c " in errors[0]


def test_a_stored_command_is_read_without_its_quoting() -> None:
    assert shell_syntax_in_argv(["python", "a.py;", "touch", "x"]) == "a.py;"
    assert shell_syntax_in_argv(["python", "a.py", ">out"]) == ">out"
    assert shell_syntax_in_argv(["python", "-c", "print(1|2)"]) is None
    assert shell_syntax_in_argv(["sh", "-c", "a && b"]) is None
    assert shell_syntax_in_line("echo '&& | ; > `x` $(y)'") is None
    assert shell_syntax_in_line('echo "$(y)"') == "$(...)"


def test_the_explicit_shell_runs_both_steps(prefect_server: str, catalog: Path,
                                            tmp_path: Path) -> None:
    """The way the refusal names runs the case's two steps, through the real run-command flow."""
    from flows.run_command import run_command

    target = tmp_path / "target"
    (target / "scripts").mkdir(parents=True)
    (target / "scripts" / "backup.py").write_text(
        'import sys\nprint("backup written; argv seen by the script:", sys.argv[1:])\n')
    line = f"sh -c 'python3 scripts/backup.py && touch {target / 'DONE_MARKER'}'"
    assert cli("tasks", "add", "nightly-backup", "--command", line) == 0
    command = read_catalog(catalog).get("nightly-backup").parameters["command"]
    state = run_command(command=command, cwd=str(target), retries=0, return_state=True)
    assert state.is_completed(), state.message
    assert (target / "DONE_MARKER").exists()
