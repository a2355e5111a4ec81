"""Scan selection equals each reference tool's (issue 10, kind 1).

The files radon analyses and the files ``bandit -r .`` analyses, run at the project root with
the configuration each tool finds for itself, are the files the scan analyses. Each case is
compared with the tool's own command line on the same tree.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import make_tree

from neo_automation.errors import ConfigError
from neo_automation.scans.engine import scan_tree
from neo_automation.scans.quality import RAW_KEYS
from neo_automation.scans.radon_config import load_radon_settings
from neo_automation.scans.security import TOTAL_KEYS

DEPLOY_SCRIPT = """\
#!/usr/bin/env python3
import subprocess

def main(target):
    if target == "prod":
        subprocess.call("rsync -a build/ " + target, shell=True)
    elif target == "stage":
        return 1
    return 0
"""
SHELL_CALL = """\
import subprocess

def deploy(host):
    subprocess.call("ssh " + host, shell=True)
"""
OK_MODULE = "def ok():\n    return 1\n"


def tool_env(home: Path) -> dict[str, str]:
    """The tools' environment: no RADONCFG, and a HOME without ~/.radon.cfg."""
    env = {k: v for k, v in os.environ.items() if k != "RADONCFG"}
    return env | {"HOME": str(home)}


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty HOME for this process and the tools (radon reads ~/.radon.cfg)."""
    path = tmp_path / "home"
    path.mkdir()
    monkeypatch.setenv("HOME", str(path))
    monkeypatch.delenv("RADONCFG", raising=False)
    return path


def radon_cli(kind: str, root: Path, home: Path) -> dict[str, object]:
    """``radon KIND -j .`` at the root: the reference for quality."""
    args = [sys.executable, "-m", "radon", kind, "-j", "."]
    proc = subprocess.run(args, cwd=root, env=tool_env(home), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return {Path(k).as_posix(): v for k, v in json.loads(proc.stdout).items()}


def bandit_cli(root: Path, home: Path, *config: str) -> dict:
    """``bandit [-c FILE] -r .`` at the root: the reference for security."""
    args = [sys.executable, "-P", "-m", "bandit", *config, "-r", ".", "-f", "json", "-q"]
    proc = subprocess.run(args, cwd=root, env=tool_env(home), capture_output=True, text=True)
    assert proc.returncode in (0, 1), proc.stderr
    return json.loads(proc.stdout)


def quality_files(scan: dict) -> set[str]:
    return {e["path"] for e in scan["files"] if "quality" in e}


def security_files(scan: dict) -> set[str]:
    return {e["path"] for e in scan["files"] if "security" in e}


def assert_quality_equals_radon(scan: dict, root: Path, home: Path) -> None:
    raw = radon_cli("raw", root, home)
    assert quality_files(scan) == set(raw)
    totals = scan["totals"]["quality"]
    for key in RAW_KEYS:
        assert totals[key] == sum(v[key] for v in raw.values()), key
    cc = radon_cli("cc", root, home)
    blocks = [b for listed in cc.values() for b in listed]
    assert (totals["cc_blocks"], totals["cc_sum"]) == (
        len(blocks),
        sum(b["complexity"] for b in blocks),
    )
    ours = {e["path"]: e["quality"]["cc"] for e in scan["files"] if "quality" in e}
    assert {path: listed for path, listed in ours.items() if listed} == cc
    mi = radon_cli("mi", root, home)
    listed_mi = {e["path"]: e["quality"]["mi"] for e in scan["files"] if "quality" in e}
    assert {path: value for path, value in listed_mi.items() if value} == mi


def assert_security_equals_bandit(scan: dict, root: Path, home: Path, *config: str) -> None:
    reference = bandit_cli(root, home, *config)
    per_file = {k.removeprefix("./") for k in reference["metrics"] if k != "_totals"}
    assert security_files(scan) == per_file
    totals = scan["totals"]["security"]
    assert {key: totals[key] for key in TOTAL_KEYS} == reference["metrics"]["_totals"]


# --- quality: the files radon analyses -------------------------------------------------


def test_case_shebang_script_is_radons(tmp_path: Path, home: Path) -> None:
    # cases/scan-shebang-script: bin/deploy has a python shebang and no .py suffix.
    root = make_tree(tmp_path / "p", {"lib.py": "def h():\n    return 1\n",
                                      "bin/deploy": DEPLOY_SCRIPT})
    scan = scan_tree(root, kinds={"quality"}, workers=1)
    totals = scan["totals"]["quality"]
    assert quality_files(scan) == {"lib.py", "bin/deploy"}
    assert {k: totals[k] for k in ("files", "loc", "sloc", "lloc", "cc_blocks", "cc_sum")} == {
        "files": 2, "loc": 11, "sloc": 9, "lloc": 9, "cc_blocks": 2, "cc_sum": 4,
    }  # fmt: skip
    assert_quality_equals_radon(scan, root, home)


def test_scripts_and_radon_config_select_like_radon(tmp_path: Path, home: Path) -> None:
    root = make_tree(
        tmp_path / "p",
        {
            "tools/run": "#!/usr/bin/python3.11 -u\ndef go(x):\n    return x or 1\n",
            "tools/backup.sh": "#!/bin/sh\necho python\n",  # a shebang, but not python
            "tools/notes.txt": "python is mentioned here\n",
            "tools/.hidden_script": "#!/usr/bin/env python\nx = 1\n",  # hidden: radon skips
            ".ci/check.py": "def c(a):\n    return a and 1\n",  # hidden folder: radon skips
            "gen/out.py": "def g(a):\n    return a if a else 2\n",  # excluded by radon config
            "vendor/lib.py": "def v():\n    return 3\n",  # ignored folder (radon config)
            "app/core.py": "def f(a):\n    assert a\n    if a:\n        return 1\n    return 2\n",
            "pyproject.toml": """
                [tool.radon]
                exclude = "gen/*"
                ignore = "vendor"
                no_assert = true
            """,
        },
    )
    settings = load_radon_settings(root)
    assert settings.exclude == ("gen/*",) and settings.ignore == (".*", "vendor")
    assert settings.options.no_assert is True
    scan = scan_tree(root, kinds={"quality"}, workers=1)
    assert quality_files(scan) == {"tools/run", "app/core.py"}
    core = next(e for e in scan["files"] if e["path"] == "app/core.py")
    assert core["quality"]["cc"][0]["complexity"] == 2  # the assert is not counted
    assert_quality_equals_radon(scan, root, home)
    assert scan["config"]["radon"]["files"] == [str(root / "pyproject.toml")]


def test_radon_config_files_are_read_like_radon_reads_them(tmp_path: Path, home: Path) -> None:
    # setup.cfg overrides radon.cfg; cc_min/cc_max filter the listed blocks, show_closures
    # lists closures, mi_max leaves files out of `radon mi -j`.
    root = make_tree(
        tmp_path / "p",
        {
            "radon.cfg": "[radon]\ncc_min = A\nshow_closures = true\n",
            "setup.cfg": "[radon]\ncc_min = B\nmi_max = B\n[flake8]\nformat = %(path)s\n",
            "a.py": "def outer(a, b, c, d, e):\n"
            "    def inner(x):\n        return x or 1\n"
            + "".join(f"    if a == {i}:\n        return {i}\n" for i in range(6))
            + "    return 0\n",
            "b.py": "def simple():\n    return 1\n",
        },
    )
    probe = (
        "import json; from radon.cli import _cfg as c; print(json.dumps([c.get_value('cc_min',"
        " str, 'A'), c.get_value('show_closures', bool, False), c.get_value('mi_max', str,"
        " 'C')]))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe], cwd=root, env=tool_env(home), capture_output=True,
        text=True, check=True,
    )  # fmt: skip
    options = load_radon_settings(root).options
    assert json.loads(proc.stdout) == [options.cc_min, options.show_closures, options.mi_max]
    assert (options.cc_min, options.show_closures, options.mi_max) == ("B", True, "B")
    scan = scan_tree(root, kinds={"quality"}, workers=1)
    assert_quality_equals_radon(scan, root, home)


def test_broken_radon_config_is_one_line(tmp_path: Path, home: Path) -> None:
    make_tree(tmp_path / "p", {"a.py": "x = 1\n", "radon.cfg": "[radon]\nno_assert = maybe\n"})
    with pytest.raises(ConfigError, match="no_assert"):
        scan_tree(tmp_path / "p", kinds={"quality"}, workers=1)
    make_tree(tmp_path / "q", {"a.py": "x = 1\n", "setup.cfg": "[radon\n"})
    with pytest.raises(ConfigError, match="radon config"):
        scan_tree(tmp_path / "q", kinds={"quality"}, workers=1)


# --- security: the files bandit -r . analyses -------------------------------------------


def test_case_hidden_folder_is_bandits(tmp_path: Path, home: Path) -> None:
    # cases/scan-hidden-folder-and-pyw/hidden-folder
    root = make_tree(tmp_path / "p", {"app/mod.py": OK_MODULE, ".ci/deploy.py": SHELL_CALL})
    scan = scan_tree(root, kinds={"security"}, workers=1)
    totals = scan["totals"]["security"]
    assert (totals["SEVERITY.HIGH"], totals["SEVERITY.LOW"], totals["loc"]) == (1, 1, 5)
    assert {i["test_id"] for e in scan["files"] for i in e["security"]["issues"]} == {
        "B602", "B404",
    }  # fmt: skip
    assert_security_equals_bandit(scan, root, home)


def test_case_pyw_is_bandits(tmp_path: Path, home: Path) -> None:
    # cases/scan-hidden-folder-and-pyw/pyw
    launcher = SHELL_CALL.replace("deploy(host)", "launch(arg)").replace(
        'subprocess.call("ssh " + host', 'subprocess.Popen("notepad " + arg'
    )
    root = make_tree(tmp_path / "p", {"gui_launcher.pyw": launcher, "mod.py": OK_MODULE})
    scan = scan_tree(root, kinds={"security"}, workers=1)
    totals = scan["totals"]["security"]
    assert (totals["SEVERITY.HIGH"], totals["SEVERITY.LOW"], totals["loc"]) == (1, 1, 5)
    assert security_files(scan) == {"gui_launcher.pyw", "mod.py"}
    assert_security_equals_bandit(scan, root, home)
    # radon's rules are not bandit's: the .pyw is not radon's.
    assert quality_files(scan_tree(root, workers=1)) == {"mod.py"}


def generated_module(lines: int, tail: list[str]) -> str:
    """A generated module: ``lines`` constants (about 45 bytes each), then ``tail``."""
    body = ["import subprocess", ""]
    body += [f'FIELD_{i:06d} = "{"x" * 16}"  # generated' for i in range(lines)]
    return "\n".join([*body, "", "", *tail, ""])


@pytest.mark.slow
def test_case_huge_generated_file_is_analysed_by_both_tools(tmp_path: Path, home: Path) -> None:
    # cases/huge-generated-file: a 1.4 MB _pb2 module with a HIGH finding at its end.
    tail = ["def call(cmd):", "    if cmd:", "        return subprocess.call(cmd, shell=True)",
            "    return None"]  # fmt: skip
    root = make_tree(tmp_path / "p", {"generated_pb2.py": generated_module(30000, tail)})
    assert (root / "generated_pb2.py").stat().st_size > 1024 * 1024
    scan = scan_tree(root, workers=1)
    assert scan["errors"] == []
    security = scan["totals"]["security"]
    assert (security["SEVERITY.HIGH"], security["SEVERITY.LOW"], security["loc"]) == (1, 1, 30005)
    issues = [(i["test_id"], i["line"]) for e in scan["files"] for i in e["security"]["issues"]]
    assert ("B602", 30007) in issues
    quality = scan["totals"]["quality"]
    assert (quality["loc"], quality["cc_blocks"], quality["cc_sum"]) == (30008, 1, 2)
    assert_security_equals_bandit(scan, root, home)
    assert_quality_equals_radon(scan, root, home)


@pytest.mark.slow
def test_large_script_and_pyw_are_counted_with_and_without_the_cache(
    tmp_path: Path, home: Path
) -> None:
    # Two files over 1 MiB that only one tool each selects, scanned twice through the cache.
    # (the shebang script is radon's only, the .pyw bandit's only.)
    script = "#!/usr/bin/env python3\n" + generated_module(
        24000, ["def run(expr):", "    return eval(expr)"]
    )
    pyw = generated_module(24000, ["def go(host):", '    subprocess.Popen("ping " + host, '
                                   "shell=True)"])  # fmt: skip
    root = make_tree(tmp_path / "p", {"bin/gen": script, "gui.pyw": pyw, "ok.py": OK_MODULE})
    cache = tmp_path / "cache"
    first = scan_tree(root, cache_dir=cache, workers=1)
    second = scan_tree(root, cache_dir=cache, workers=1)
    assert second["totals"] == first["totals"]
    assert [e["cached"] for e in second["files"]] == [True, True, True]
    for scan in (first, second):
        assert scan["errors"] == []
        assert quality_files(scan) == {"bin/gen", "ok.py"}
        assert security_files(scan) == {"gui.pyw", "ok.py"}  # radon's and bandit's rules
        assert scan["totals"]["security"]["SEVERITY.HIGH"] == 1
        assert_security_equals_bandit(scan, root, home)
        assert_quality_equals_radon(scan, root, home)


def test_dot_bandit_below_the_root_and_bandit_path_rules(tmp_path: Path, home: Path) -> None:
    root = make_tree(
        tmp_path / "p",
        {
            "app/mod.py": SHELL_CALL,
            "app/.bandit": "[bandit]\nskips = B404\n",  # bandit finds it below the root
            ".github/hooks/pre.py": SHELL_CALL,  # ".git" is a substring: bandit excludes it
            ".tools/gen.pyw": SHELL_CALL,
            "CVSROOT/x.py": SHELL_CALL,  # "CVS" is a substring too
        },
    )
    scan = scan_tree(root, kinds={"security"}, workers=1, default_excludes=False)
    assert security_files(scan) == {"app/mod.py", ".tools/gen.pyw"}
    ids = {i["test_id"] for e in scan["files"] for i in e["security"]["issues"]}
    assert ids == {"B602"}
    assert scan["config"]["bandit"]["ini_file"] == "app/.bandit"
    assert_security_equals_bandit(scan, root, home)


def test_pyproject_include_and_exclude_dirs(tmp_path: Path, home: Path) -> None:
    root = make_tree(
        tmp_path / "p",
        {
            "pyproject.toml": '[tool.bandit]\ninclude = ["*.py"]\nexclude_dirs = ["legacy"]\n',
            "app/mod.py": SHELL_CALL,
            "app/gui.pyw": SHELL_CALL,  # a config file's include replaces *.py, *.pyw
            "legacy/old.py": SHELL_CALL,
        },
    )
    scan = scan_tree(root, kinds={"security"}, workers=1)
    assert security_files(scan) == {"app/mod.py"}
    assert_security_equals_bandit(scan, root, home, "-c", "pyproject.toml")


def test_two_dot_bandit_files_stop_the_scan_as_they_stop_bandit(tmp_path: Path) -> None:
    make_tree(tmp_path / "p", {"a.py": "x = 1\n", ".bandit": "[bandit]\n",
                               "sub/.bandit": "[bandit]\n"})
    with pytest.raises(ConfigError, match=r"several \.bandit files.*\.bandit, sub/\.bandit"):
        scan_tree(tmp_path / "p", kinds={"security"}, workers=1)


# --- the product's own excludes --------------------------------------------------------


def test_default_excludes_are_listed_with_their_counts(tmp_path: Path, home: Path) -> None:
    root = make_tree(
        tmp_path / "p",
        {
            "src/app.py": OK_MODULE,
            ".venv/lib/site.py": SHELL_CALL,
            ".venv/bin/tool": "#!/usr/bin/env python\nx = 1\n",
            "node_modules/pkg/build.py": OK_MODULE,
            "build/lib/app.py": OK_MODULE,
        },
    )
    scan = scan_tree(root, workers=1)
    assert {e["path"] for e in scan["files"]} == {"src/app.py"}
    assert {e["path"]: e["files"] for e in scan["excluded"]} == {
        ".venv": {"quality": 0, "security": 1},
        "build": {"quality": 1, "security": 1},
        "node_modules": {"quality": 1, "security": 1},
    }
    everything = scan_tree(root, workers=1, default_excludes=False)
    assert everything["excluded"] == []
    assert_security_equals_bandit(everything, root, home)
    assert_quality_equals_radon(everything, root, home)
