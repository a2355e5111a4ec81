"""The project's exception hierarchy: every error a user can cause or fix is one of these.

The CLI prints ``str(error)`` as one line and exits with code 2; nothing here carries a
traceback to the user.
"""

from __future__ import annotations


class AutomationError(Exception):
    """Base class: a problem the user can act on, described in one line."""


class ConfigError(AutomationError):
    """A setting, file or field holds a value that is not accepted."""


class StoreError(AutomationError):
    """The metrics database cannot be opened, created or written."""


class CollectionError(AutomationError):
    """A metrics source could not be read."""
