"""The scanner's node visitor finds what bandit's own `BanditNodeVisitor` finds, doing less."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from helpers import ROOT

from neo_automation.scans.bandit_config import bandit_modules, load_bandit_settings
from neo_automation.scans.security import SecurityScanner

SAMPLES = ROOT / "tests" / "samples"

#: Sources that exercise every visitor path bandit has: imports and aliases, namespaces of
#: nested classes and functions, docstrings and other strings, bytes, nosec comments, the
#: file-level test, and nodes without tests that hold nodes with tests.
CASES = {
    "calls_in_expressions": (
        "import subprocess as sp, pickle\nfrom os import system as run\n"
        "x = [sp.call('ls', shell=True) for _ in range(2)]\n"
        "y = {k: pickle.loads(v) for k, v in {}.items()} or run('id')\n"
        "lambda: eval(input())\n"
    ),
    "namespaces": (
        "class A:\n    class B:\n        def f(self):\n            import telnetlib\n"
        "            return exec('1')\n"
        "    async def g(self):\n        assert self\n        return __import__('os')\n"
        "def outer():\n    def inner(password='hunter2'):\n        pass\n    return inner\n"
    ),
    "strings_and_bytes": (
        '"""Docstring /tmp/x."""\npath = "/tmp/data"\nkey = b"/tmp/bytes"\n'
        "sql = 'SELECT * FROM t WHERE a = %s' % path\nf'{path}'\n"
        "def f(password='secret'):\n    '''Doc /tmp/doc.'''\n    return 'bind' + '0.0.0.0'\n"
    ),
    "nosec": (
        "import subprocess  # nosec\nsubprocess.call('a', shell=True)  # nosec B602\n"
        "subprocess.call('b', shell=True)  # nosec B101\neval('1')  # nosec\n"
        "try:\n    pass\nexcept Exception:  # nosec B110\n    pass\n"
    ),
    "handlers_and_with": (
        "import requests, yaml, hashlib\n"
        "try:\n    x = 1\nexcept:\n    pass\n"
        "try:\n    y = 2\nexcept ValueError:\n    continue_ = 1\n"
        "with open('f') as fh:\n    yaml.load(fh)\nrequests.get('http://x', verify=False)\n"
        "hashlib.md5(b'1').hexdigest()\nmatch x:\n    case {'k': v}:\n        eval(v)\n"
    ),
}


@pytest.fixture(scope="module")
def scanners() -> tuple[SecurityScanner, SecurityScanner]:
    """This module's scanner, and one that runs bandit's own visitor class."""
    settings = load_bandit_settings(SAMPLES)
    reference = SecurityScanner(settings)
    reference._visitor_class = bandit_modules().node_visitor.BanditNodeVisitor
    return SecurityScanner(settings), reference


def scan(scanner: SecurityScanner, name: str, data: bytes) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return scanner.scan(name, data)


@pytest.mark.parametrize("name", sorted(CASES))
def test_equal_to_bandits_visitor_on_crafted_sources(scanners, name: str) -> None:
    ours, reference = scanners
    data = CASES[name].encode()
    found = scan(ours, f"{name}.py", data)
    assert found == scan(reference, f"{name}.py", data)
    assert found["issues"] and found["skipped"] is None  # a case that finds nothing proves little


def test_equal_to_bandits_visitor_on_the_samples_and_the_core(scanners) -> None:
    ours, reference = scanners
    files = sorted(SAMPLES.rglob("*.py")) + sorted((ROOT / "neo_automation").rglob("*.py"))
    assert len(files) > 100
    found = {p: scan(ours, p.name, p.read_bytes()) for p in files}
    assert [p for p in files if found[p] != scan(reference, p.name, p.read_bytes())] == []
    assert sum(len(result["issues"]) for result in found.values()) > 10


def test_nodes_without_tests_skip_bandits_per_node_steps(scanners,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    ours, reference = scanners
    calls = {"n": 0}
    base = bandit_modules().node_visitor.BanditNodeVisitor
    original = base.pre_visit

    def counting(self, node):
        calls["n"] += 1
        return original(self, node)

    monkeypatch.setattr(base, "pre_visit", counting)
    data = Path(ROOT / "neo_automation" / "scans" / "security.py").read_bytes()
    scan(reference, "security.py", data)
    every_node, calls["n"] = calls["n"], 0
    scan(ours, "security.py", data)
    assert 0 < calls["n"] < every_node / 2
