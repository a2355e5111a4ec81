"""radon's configuration of a project, found the way radon's CLI finds it at the project root.

``radon cc|raw|mi|hal`` read their defaults when ``radon.cli`` is imported, from files named
relative to the working directory (``radon.cli.FileConfig.file_config``), in this order, later
ones overriding earlier ones:

1. the file named by the ``RADONCFG`` environment variable,
2. ``radon.cfg``,
3. every ``[tool.*]`` table of ``pyproject.toml`` (so ``[tool.radon]`` is section ``radon``),
4. ``setup.cfg``,
5. ``~/.radon.cfg``.

The reference command is ``radon cc -j .`` (and ``raw``, ``mi``, ``hal``) run *at the project
root*. A scan cannot change the working directory of its process (a Prefect worker runs flows
on threads), so :func:`load_radon_settings` reads the same files relative to the root into a
``configparser`` built the same way, and radon's own ``FileConfig.get_value`` reads the options
from it with the CLI's defaults and types. Selection (``exclude``, ``ignore``) goes to
:mod:`neo_automation.scans.discovery`, where radon's own ``filter_out`` and ``_is_python_file``
decide; the options that change results (``no_assert``, ``show_closures``, ``order``,
``cc_min``/``cc_max``, ``multi``, ``mi_min``/``mi_max``) become
:class:`~neo_automation.scans.quality.RadonOptions`. ``functions`` (``radon hal -f``), the
output options and notebooks (radon needs nbformat for them, which is not installed) do not
apply to the figures the scan reports.
"""

from __future__ import annotations

import configparser
import hashlib
import os
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from neo_automation.errors import ConfigError
from neo_automation.scans.quality import RadonOptions

#: (option, type, default) of every option read, as radon's CLI declares them.
_OPTIONS: tuple[tuple[str, type, Any], ...] = (
    ("exclude", str, None),
    ("ignore", str, None),
    ("no_assert", bool, False),
    ("show_closures", bool, False),
    ("order", str, "SCORE"),
    ("cc_min", str, "A"),
    ("cc_max", str, "F"),
    ("multi", bool, True),
    ("mi_min", str, "A"),
    ("mi_max", str, "C"),
)


@dataclass(frozen=True)
class RadonSettings:
    """What radon's CLI derives from a project root: selection, options and their sources.

    ``exclude`` are file globs matched against the root-relative path (``radon -e``),
    ``ignore`` directory-name globs, hidden directories (``.*``) first (``radon -i``).
    """

    sources: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    ignore: tuple[str, ...] = (".*",)
    options: RadonOptions = field(default_factory=RadonOptions)

    @property
    def fingerprint(self) -> str:
        """Changes whenever an option that changes a file's results changes."""
        return hashlib.sha256(repr(self.options).encode()).hexdigest()[:16]

    def describe(self) -> dict[str, Any]:
        """The config files read and the options in force, for the scan's output."""
        return {
            "files": list(self.sources),
            "exclude": list(self.exclude),
            "ignore": list(self.ignore),
            "options": dict(vars(self.options)),
        }


def radon_cli() -> ModuleType:
    """The ``radon.cli`` module.

    Imported here, not at the top: importing ``radon.cli`` reads the *working directory's*
    radon.cfg, pyproject.toml and setup.cfg and fails on a broken one, so the import is turned
    into one clear line (and worker processes, which never need it, do not pay for it).

    Raises:
        ConfigError: radon's CLI cannot be imported in this working directory.
    """
    streams = sys.stdout, sys.stderr
    try:
        import radon.cli
        import radon.cli.tools  # noqa: F401 - filter_out and _is_python_file, used by discovery
    except (tomllib.TOMLDecodeError, configparser.Error, OSError, ValueError) as exc:
        raise ConfigError(
            f"radon cannot start in {os.getcwd()}: its config there is broken ({exc})"
        ) from None
    finally:
        # radon.cli calls colorama.init() on import, which wraps the process's stdout and
        # stderr in an ANSI filter: every later write (a scan's JSON, Prefect's logs) would go
        # through its regular expressions. Nothing here prints radon's colours.
        sys.stdout, sys.stderr = streams
    return radon.cli


def load_radon_settings(root: str | os.PathLike[str]) -> RadonSettings:
    """Read radon's configuration of a project as ``radon cc -j .`` at its root would.

    Args:
        root: The project directory.

    Returns:
        The settings, with the files that were read.

    Raises:
        ConfigError: A config file is not valid INI or TOML, or an option's value is not of
            its type (``no_assert = maybe``); the message names the file or option.
    """
    base = Path(root)
    parser, sources = _file_config(base)
    reader = radon_cli().FileConfig.__new__(radon_cli().FileConfig)
    reader.file_cfg = parser  # radon's own typed getters over our parser
    values: dict[str, Any] = {}
    for name, kind, default in _OPTIONS:
        try:
            values[name] = reader.get_value(name, kind, default)
        except ValueError as exc:
            where = ", ".join(sources) or "radon's config"
            raise ConfigError(f"radon option {name} in {where}: {exc}") from None
    exclude, ignore = values["exclude"], values["ignore"]
    options = RadonOptions(
        no_assert=bool(values["no_assert"]),
        show_closures=bool(values["show_closures"]),
        order=str(values["order"]).upper(),
        cc_min=str(values["cc_min"]).upper(),
        cc_max=str(values["cc_max"]).upper(),
        multi=bool(values["multi"]),
        mi_min=str(values["mi_min"]).upper(),
        mi_max=str(values["mi_max"]).upper(),
    )
    return RadonSettings(
        sources=tuple(sources),
        # As radon.cli.tools.iter_filenames splits them.
        exclude=tuple(exclude.split(",")) if exclude else (),
        ignore=tuple(f".*,{ignore}".split(",")) if ignore else (".*",),
        options=options,
    )


def _file_config(base: Path) -> tuple[configparser.ConfigParser, list[str]]:
    """``radon.cli.FileConfig.file_config`` with the root as working directory."""
    config = configparser.ConfigParser()
    sources: list[str] = []
    env = os.getenv("RADONCFG")
    paths = [base / env if env else None, base / "radon.cfg"]
    try:
        for path in paths:
            if path is not None and path.exists():
                with open(path) as handle:
                    config.read_file(handle)
                sources.append(str(path))
        tool = _pyproject_tools(base / "pyproject.toml")
        if tool:
            config.read_dict(tool)
            if "radon" in tool:
                sources.append(str(base / "pyproject.toml"))
        for path in (base / "setup.cfg", Path(os.path.expanduser("~/.radon.cfg"))):
            if config.read(path) and _has_radon_section(path):
                sources.append(str(path))
    except (configparser.Error, OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"radon config of {base}: {exc}") from None
    return config, sources


def _has_radon_section(path: Path) -> bool:
    """Whether an INI file that was read has a ``[radon]`` section (it is then a source)."""
    single = configparser.ConfigParser()
    single.read(path)
    return single.has_section("radon")


def _pyproject_tools(path: Path) -> dict[str, Any]:
    """The ``[tool]`` table of a pyproject.toml, as radon reads it (``{}`` without one)."""
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except OSError:
        return {}
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    tool = data.get("tool")
    return tool if isinstance(tool, dict) else {}
