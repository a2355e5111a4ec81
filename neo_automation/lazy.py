"""A package's public names, imported on first use (a PEP 562 module `__getattr__`).

Each core package says its public surface in its `__init__`: `__all__`, and for each name the
module that defines it. Importing the package imports none of those modules, so the CLI's
start-up and a serving process pay only for what a command or a job uses (matplotlib, NumPy,
SQLAlchemy and the scanners load where they are needed); `package.Name` and
`from package import Name` import the defining module the first time:

    __all__ = ["MetricStore", "SeriesStats"]
    __getattr__ = lazy_exports(__name__, {"MetricStore": "metric_store",
                                          "SeriesStats": "metric_store"})
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, str]) -> Callable[[str], Any]:
    """The module `__getattr__` of `package` that imports each public name from its module.

    Args:
        package: The package's `__name__`.
        exports: Public name -> the submodule (relative to `package`) that defines it.

    Returns:
        A function of a name that imports `package.<module>` and returns the name from it,
        keeping it in the package's namespace so the next access is a plain lookup. Any other
        name raises `AttributeError`, as a module does (so `from package import submodule`
        still imports the submodule).
    """
    table = dict(exports)

    def __getattr__(name: str) -> Any:
        module = table.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
