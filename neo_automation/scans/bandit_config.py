"""bandit's configuration of a project and its file selection, as ``bandit -r .`` at the root.

The reference command is ``bandit -r .`` run at the project root, with ``-c pyproject.toml``
added when that file has a ``[tool.bandit]`` table (``bandit -r`` alone never reads
pyproject.toml; projects that configure bandit there run it with ``-c pyproject.toml``, and so
does the scan). What that command finds for itself is found the same way here:

* a ``.bandit`` INI file anywhere below the root (bandit's ``_get_options_from_ini`` walks the
  whole target, hidden and excluded folders included; two of them stop bandit with an error,
  and the scan with a :class:`~neo_automation.errors.ConfigError`), parsed by bandit's own
  ``parse_ini_file``: ``configfile``, ``exclude`` (which replaces bandit's default excludes),
  ``tests``, ``skips``, ``profile`` and ``ignore-nosec`` are honoured as bandit's CLI honours
  them (the other keys only change bandit's output, or, like ``level``, break its CLI);
* the config file (``-c pyproject.toml`` or the INI's ``configfile``), read by bandit's own
  ``BanditConfig``: ``include`` (default ``*.py`` with a file, ``*.py`` and ``*.pyw`` without),
  ``exclude_dirs``, ``tests``, ``skips``, ``profiles`` and per-plugin options;
* which files are scanned: bandit's own ``_is_file_included`` on the path ``bandit -r .``
  gives a file (``./pkg/mod.py``), so include globs, ``exclude_dirs`` and the default excludes
  (``.svn``, ``CVS``, ``.git``, ``__pycache__``, ...: matched as globs *and* as substrings of
  the path) behave as on the command line. Hidden folders are scanned, as bandit does.

bandit is imported lazily (:func:`bandit_modules`): it loads every plugin on import (~0.2 s)
and replaces ``warnings.formatwarning`` process-wide, which a quality-only scan, the CLI's start
and worker processes that only run radon must not pay for.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tomllib
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from neo_automation.errors import ConfigError

#: The name of bandit's project-level INI file.
INI_NAME = ".bandit"


@dataclass(frozen=True)
class BanditSettings:
    """What bandit's CLI would derive from a project root; picklable for worker processes."""

    root: str
    config_file: str | None
    ini_file: str | None
    ini_tests: tuple[str, ...]
    ini_skips: tuple[str, ...]
    profile: str | None
    ignore_nosec: bool
    include_globs: tuple[str, ...]
    exclude_globs: tuple[str, ...]
    fingerprint: str

    def describe(self) -> dict[str, Any]:
        """The config files read and the selection rules in force, for the scan's output."""
        return {
            "config_file": self.config_file,
            "ini_file": self.ini_file,
            "include": list(self.include_globs),
            "exclude": list(self.exclude_globs),
            "tests": list(self.ini_tests),
            "skips": list(self.ini_skips),
            "profile": self.profile,
            "ignore_nosec": self.ignore_nosec,
        }


_BANDIT: SimpleNamespace | None = None


def _without_sarif_formatter(record: logging.LogRecord) -> bool:
    """False for stevedore's "Could not load 'sarif': No module named 'sarif_om'"."""
    args = record.args if isinstance(record.args, tuple) else ()
    return not (len(args) == 2 and args[0] == "sarif" and isinstance(args[1], ImportError))


def bandit_modules() -> SimpleNamespace:
    """bandit's modules the scans use, imported once per process (see the module docstring).

    Returns:
        A namespace with ``config``, ``constants``, ``docs_utils``, ``extension_loader``,
        ``manager``, ``meta_ast``, ``metrics``, ``node_visitor``, ``utils`` and ``cli_main``.
    """
    global _BANDIT
    if _BANDIT is None:
        saved = warnings.formatwarning
        # bandit's optional SARIF formatter needs sarif_om, which is not installed: stevedore
        # logs that at ERROR while bandit loads its formatters on import. Only that record
        # is dropped; any other plugin that fails to load is still logged.
        logging.getLogger("stevedore.extension").addFilter(_without_sarif_formatter)
        # Imported here: see the module docstring (plugins loaded on import, ~0.2 s).
        from bandit.cli import main as cli_main
        from bandit.core import (
            config,
            constants,
            docs_utils,
            extension_loader,
            manager,
            meta_ast,
            metrics,
            node_visitor,
            utils,
        )

        # bandit.core.tester replaces warnings.formatwarning process-wide on import.
        warnings.formatwarning = saved
        # bandit logs a warning for every word after "nosec" that is not a test id; without a
        # handler, Python's last-resort handler would print each on stderr. An application
        # that configures logging (Prefect does) still receives them.
        logging.getLogger("bandit").addHandler(logging.NullHandler())
        _BANDIT = SimpleNamespace(
            config=config, constants=constants, docs_utils=docs_utils,
            extension_loader=extension_loader, manager=manager, meta_ast=meta_ast,
            metrics=metrics, node_visitor=node_visitor, utils=utils, cli_main=cli_main,
        )  # fmt: skip
    return _BANDIT


def find_bandit_ini(root: str | os.PathLike[str]) -> list[str]:
    """The ``.bandit`` files below ``root``, searched as bandit's CLI searches its target.

    Args:
        root: The project directory.

    Returns:
        Their POSIX paths relative to the root, sorted.
    """
    found = []
    for directory, _, names in os.walk(root):
        if INI_NAME in names:
            rel = os.path.relpath(os.path.join(directory, INI_NAME), root)
            found.append(Path(rel).as_posix())
    return sorted(found)


def load_bandit_settings(
    root: str | os.PathLike[str], ini_files: Sequence[str] | None = None
) -> BanditSettings:
    """Read bandit's configuration of a project as its CLI would when run at the root.

    Args:
        root: The project directory.
        ini_files: The ``.bandit`` files below the root (root-relative POSIX paths), when the
            caller has walked the tree already; searched for otherwise.

    Returns:
        The settings; ``fingerprint`` changes whenever the bandit version, a config file or
        the INI file changes, so cached results are only reused under the same rules.

    Raises:
        ConfigError: Several ``.bandit`` files, a config file bandit rejects (not valid TOML
            or YAML, or missing), or a test both selected and skipped.
    """
    b = bandit_modules()
    base = Path(root)
    inis = list(find_bandit_ini(base) if ini_files is None else ini_files)
    if len(inis) > 1:
        raise ConfigError(
            f"bandit finds several {INI_NAME} files below {base}: {', '.join(inis)}"
            " (bandit -r stops there too); keep one"
        )
    digest = hashlib.sha256(f"bandit={version('bandit')}".encode())
    ini: dict[str, str] = {}
    if inis:
        ini = b.utils.parse_ini_file(str(base / inis[0])) or {}
        digest.update(b"ini\0" + repr(sorted(ini.items())).encode())
    config_file = _config_file(base, ini)
    conf = _bandit_config(b, config_file)
    if config_file is not None:
        digest.update(b"config\0" + Path(config_file).read_bytes())
    ini_tests, ini_skips = _split(ini.get("tests")), _split(ini.get("skips"))
    both = sorted(
        (set(_split(conf.get_option("tests"))) | set(ini_tests))
        & (set(_split(conf.get_option("skips"))) | set(ini_skips))
    )
    if both:
        raise ConfigError(f"bandit config both selects and skips {', '.join(both)}")
    return BanditSettings(
        root=str(base),
        config_file=config_file,
        ini_file=inis[0] if inis else None,
        ini_tests=ini_tests,
        ini_skips=ini_skips,
        profile=ini.get("profile") or None,
        ignore_nosec=bool(ini.get("ignore-nosec")),  # any non-empty value, as bandit's CLI
        include_globs=tuple(conf.get_option("include") or ["*.py"]),
        exclude_globs=_exclude_globs(b, base, conf, ini),
        fingerprint=digest.hexdigest(),
    )


def _config_file(base: Path, ini: dict[str, str]) -> str | None:
    """``-c pyproject.toml`` when it has ``[tool.bandit]``, else the INI's ``configfile``."""
    pyproject = base / "pyproject.toml"
    if pyproject.is_file():
        try:
            tool = tomllib.loads(pyproject.read_bytes().decode("utf-8")).get("tool", {})
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{pyproject} is not valid TOML: {exc}") from None
        if isinstance(tool, dict) and isinstance(tool.get("bandit"), dict):
            return str(pyproject)
    if ini.get("configfile"):
        path = base / ini["configfile"]
        if not path.is_file():
            raise ConfigError(f"{base / INI_NAME} names configfile {path}: not found")
        return str(path)
    return None


def _bandit_config(b: SimpleNamespace, config_file: str | None) -> Any:
    """bandit's ``BanditConfig`` of the file (its defaults without one)."""
    try:
        return b.config.BanditConfig(config_file=config_file)
    except b.utils.ConfigError as exc:
        raise ConfigError(f"bandit config {config_file}: {exc}") from None


def _exclude_globs(
    b: SimpleNamespace, base: Path, conf: Any, ini: dict[str, str]
) -> tuple[str, ...]:
    """``exclude_dirs`` and ``-x`` as ``BanditManager.discover_files`` combines them."""
    excluded = list(conf.get_option("exclude_dirs") or [])
    for path in (ini.get("exclude") or ",".join(b.constants.EXCLUDE)).split(","):
        # bandit turns a directory given to --exclude into "dir/*" (relative to the cwd).
        excluded.append(os.path.join(path, "*") if (base / path).is_dir() else path)
    return tuple(excluded)


def _split(value: Any) -> tuple[str, ...]:
    """A bandit test list: comma-separated text (INI) or a list (used as bandit does)."""
    if not value:
        return ()
    if isinstance(value, str):
        return tuple(value.split(","))
    return tuple(value)


def bandit_path(relpath: str) -> str:
    """The name ``bandit -r .`` run at the root gives a file.

    Args:
        relpath: The file's POSIX path relative to the root.

    Returns:
        ``./`` and the path with the platform's separators, as ``os.walk(".")`` yields it.
    """
    return os.path.join(".", *relpath.split("/"))


def bandit_includes(settings: BanditSettings, relpath: str) -> bool:
    """Whether ``bandit -r .`` at the root would scan the file (bandit's own rule).

    Args:
        settings: From :func:`load_bandit_settings`.
        relpath: The file's POSIX path relative to the root.

    Returns:
        What ``bandit.core.manager._is_file_included`` says of its ``./`` path.
    """
    return bool(
        bandit_modules().manager._is_file_included(
            bandit_path(relpath), settings.include_globs, settings.exclude_globs
        )
    )
