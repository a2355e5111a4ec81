"""Each core package says its public surface in `__init__` and imports none of it up front.

The names in `__all__` resolve to the objects their modules define; importing a package alone
loads none of its modules (the CLI's start-up and a serving process pay only for what they
use), and a submodule is still importable by name.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import pytest

LAZY = ["alerts", "delivery", "dependencies", "fleet", "gate", "insight", "jobs", "reports",
        "scans", "store"]


@pytest.mark.parametrize("name", LAZY)
def test_every_public_name_resolves_to_its_module(name: str) -> None:
    package = importlib.import_module(f"neo_automation.{name}")
    assert package.__all__ == sorted(set(package.__all__)), "one sorted entry per name"
    for public in package.__all__:
        value = getattr(package, public)
        module = getattr(value, "__module__", None)
        if module is not None and module.startswith(f"neo_automation.{name}."):
            assert getattr(sys.modules[module], public) is value
        assert getattr(package, public) is value
    with pytest.raises(AttributeError, match="no attribute 'not_a_public_name'"):
        package.not_a_public_name  # noqa: B018


def test_importing_a_package_imports_none_of_its_modules() -> None:
    code = (
        "import importlib, json, sys\n"
        f"for name in {LAZY!r}:\n"
        "    importlib.import_module('neo_automation.' + name)\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('neo_automation.'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    loaded = json.loads(out)
    assert loaded == sorted(["neo_automation.lazy"] + [f"neo_automation.{n}" for n in LAZY])


def test_a_submodule_is_still_imported_by_name() -> None:
    from neo_automation.jobs import collection

    assert collection.__name__ == "neo_automation.jobs.collection"
