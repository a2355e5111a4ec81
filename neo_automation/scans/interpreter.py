"""Which interpreter runs a target's test suite, and whether it has pytest and coverage.

The suite runs under the target's own interpreter, so that its dependencies, its pytest and its
plugins are the ones its developers use. In this order:

1. the ``python`` argument of :func:`choose_interpreter` (the gate's and tests' override),
2. ``AUTOMATION_TARGET_PYTHON`` (an explicit setting wins over what is found),
3. the target's virtualenv: ``.venv/`` then ``venv/`` (a folder with ``pyvenv.cfg`` and
   ``bin/python``, ``Scripts/python.exe`` on Windows),
4. the automation's own interpreter (and its pytest plugins), only when the target has none.

Nothing is ever installed into the target: :func:`probe_interpreter` says what is missing and
the caller reports it in one line. The suite's environment names the chosen virtualenv
(``VIRTUAL_ENV``, its ``bin`` first on ``PATH``), so that a test that starts ``python`` gets the
target's, not the automation's.
"""

from __future__ import annotations

import json
import os
import subprocess  # nosec B404 - runs the chosen interpreter with an argument list, no shell
import sys
from dataclasses import dataclass
from pathlib import Path

from neo_automation.errors import ConfigError
from neo_automation.settings import load_settings

VENV_DIRS = (".venv", "venv")
#: Run with ``python -c`` in the project directory: which modules the suite needs are there.
_PROBE = (
    "import importlib.util, json, sys; print(json.dumps({'version': sys.version.split()[0], "
    "'missing': [m for m in ('pytest', 'coverage') if importlib.util.find_spec(m) is None]}))"
)


@dataclass(frozen=True)
class Interpreter:
    """The interpreter of a suite: its path, where the choice came from, its virtualenv."""

    path: str
    source: str
    venv: str | None

    def describe(self) -> dict[str, str | None]:
        """``{"path", "source", "venv"}`` for the result."""
        return {"path": self.path, "source": self.source, "venv": self.venv}


def choose_interpreter(root: Path, python: str | None = None) -> Interpreter:
    """The interpreter a target's suite runs under (see the module docstring for the order).

    Args:
        root: The target project.
        python: An interpreter chosen by the caller.

    Returns:
        The interpreter.

    Raises:
        ConfigError: The interpreter given by the caller or ``AUTOMATION_TARGET_PYTHON`` does
            not exist or is not executable.
    """
    if python:
        return _given(python, "the caller's python argument")
    configured = load_settings().target_python
    if configured is not None:
        return _given(str(configured), "AUTOMATION_TARGET_PYTHON")
    for name in VENV_DIRS:
        venv = root / name
        executable = _venv_python(venv)
        if (venv / "pyvenv.cfg").is_file() and executable is not None:
            return Interpreter(str(executable), f"the target's {name}/", str(venv))
    own = "the automation's own (the target has no .venv/ or venv/)"
    return Interpreter(sys.executable, own, None)


def _given(python: str, source: str) -> Interpreter:
    path = Path(python).expanduser()
    if not path.is_file() or not os.access(path, os.X_OK):
        raise ConfigError(f"{source}: {python} is not an executable interpreter")
    venv = path.parent.parent
    return Interpreter(str(path), source, str(venv) if (venv / "pyvenv.cfg").is_file() else None)


def _venv_python(venv: Path) -> Path | None:
    for candidate in (venv / "bin" / "python", venv / "Scripts" / "python.exe"):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def suite_environment(env: dict[str, str], interpreter: Interpreter) -> dict[str, str]:
    """The suite's environment with the interpreter's virtualenv in force.

    Args:
        env: The environment so far (changed in place and returned).
        interpreter: The chosen interpreter.

    Returns:
        ``env``: ``VIRTUAL_ENV`` names the interpreter's virtualenv (removed when it has none
        and is not this process's), and its ``bin`` folder comes first on ``PATH``.
    """
    if interpreter.path == sys.executable:
        return env
    env.pop("VIRTUAL_ENV", None)
    if interpreter.venv is not None:
        env["VIRTUAL_ENV"] = interpreter.venv
    folder = str(Path(interpreter.path).parent)
    rest = [p for p in env.get("PATH", "").split(os.pathsep) if p]
    env["PATH"] = os.pathsep.join([folder, *rest])
    return env


def probe_interpreter(
    interpreter: Interpreter, cwd: str, env: dict[str, str]
) -> tuple[str | None, list[str], str | None]:
    """Whether the interpreter starts and has pytest and coverage, seen from the project.

    Args:
        interpreter: The chosen interpreter.
        cwd: The project directory (a local module shadows an installed one, as for ``-m``).
        env: The suite's environment.

    Returns:
        ``(version, missing modules, problem)``: ``problem`` is a one-line reason when the
        interpreter could not even answer.
    """
    try:
        proc = subprocess.run(  # nosec B603 - argument list, no shell
            [interpreter.path, "-c", _PROBE], cwd=cwd, env=env, stdin=subprocess.DEVNULL,
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, [], f"{interpreter.path} cannot run: {exc}"
    try:
        answer = json.loads(proc.stdout.strip().splitlines()[-1])
        return str(answer["version"]), list(answer["missing"]), None
    except (ValueError, IndexError, KeyError, TypeError):
        lines = [line for line in (proc.stderr or proc.stdout).splitlines() if line.strip()]
        last = lines[-1] if lines else f"exit status {proc.returncode}"
        return None, [], f"{interpreter.path} cannot run: {last}"


def missing_reason(interpreter: Interpreter, missing: list[str]) -> str:
    """One line: what is missing from the target's interpreter and how to install it there."""
    what = " and ".join(missing)
    verb = "is" if len(missing) == 1 else "are"
    return (
        f"{what} {verb} not installed for {interpreter.path} ({interpreter.source}): install "
        f"{'it' if len(missing) == 1 else 'them'} there, e.g. `{interpreter.path} -m pip install "
        f"{' '.join(missing)}` (the automation installs nothing into the target)"
    )
