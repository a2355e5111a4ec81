"""The `automation` command line: one entry point for every job and for the stack itself.

Subcommands live beside this module in `deployments/cli/` (one module per group; modules
whose name starts with `_` are shared helpers, not groups) and import Prefect only when they
need it, so `automation --help` stays fast. A user mistake prints one line and exits
with code 2; a traceback means a bug.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
from collections.abc import Sequence

from neo_automation.errors import AutomationError


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line on stderr and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        """Print one line and exit 2 (argparse would print the usage block)."""
        print(f"{self.prog}: error: {message} (see '{self.prog} --help')", file=sys.stderr)
        raise SystemExit(2)


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The `automation` parser with every command group of this package.

    Args:
        argv: the command line about to be parsed; a command named after its module
            (`metrics`, `alerts`, ...) then loads that module only, so the long-running
            `metrics monitor` agent carries none of the others (about 2 MB and 30 ms).
    """
    parser = _Parser(
        prog="automation",
        description="Automation for PG-Neo-Graph-RL on Prefect: metrics, code health, reports, "
        "alerts and scheduled jobs. The Prefect UI is the dashboard.",
    )
    groups = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    groups.required = True
    # Every public module of deployments/cli registers its own group; modules import their
    # heavy dependencies inside the handlers, so loading them all stays cheap.
    names = sorted(
        info.name for info in pkgutil.iter_modules(__path__) if not info.name.startswith("_")
    )
    first = next((arg for arg in argv or () if not arg.startswith("-")), None)
    for name in [first] if first in names else names:
        module = importlib.import_module(f"{__name__}.{name}")
        module.register(groups)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; the exit code (0 ok, 2 a user mistake or no server, 130 interrupted)."""
    parser = build_parser(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except AutomationError as exc:
        message = " ".join(str(exc).split())  # always one line, whatever a library said
        print(f"automation: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("automation: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        refusal = _api_refusal(exc)
        if refusal is None:
            raise
        print(f"automation: error: {refusal}", file=sys.stderr)
        return 2


def _api_refusal(exc: BaseException) -> str | None:
    """One line when the Prefect API refused this command's credentials (HTTP 401 or 403,
    from our REST client or Prefect's httpx client); None for any other error."""
    from deployments.prefect_setup.rest_api import ApiError  # the standard library only

    if isinstance(exc, ApiError):
        status = exc.status
    else:
        import httpx  # loaded already when Prefect's client raised

        if not isinstance(exc, httpx.HTTPStatusError):
            return None
        status = exc.response.status_code
    if status not in (401, 403):
        return None
    api = os.environ.get("PREFECT_API_URL") or "the Prefect API"
    if status == 401:
        return (f"{api} needs credentials (HTTP 401): set PREFECT_API_AUTH_STRING to the "
                "server's user:password")
    return f"{api} refused the request (HTTP 403): check PREFECT_API_AUTH_STRING"
