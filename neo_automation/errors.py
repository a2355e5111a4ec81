"""The project's exception hierarchy: every error a user can cause or fix is one of these.

The CLI prints ``str(error)`` as one line and exits with code 2; nothing here carries a
traceback to the user.

```
AutomationError                  a problem the user can act on, in one line
+-- ConfigError                  a setting, file or field holds a value that is not accepted
+-- StoreError                   the metrics database cannot be opened, created or written
|   +-- StoreUnavailableError    away past AUTOMATION_STORE_RETRY_SECONDS (store/retry.py): spool
+-- CollectionError              a metrics source could not be read
+-- DependencyError              pip or pip-audit could not answer (dependencies/pip.py)
+-- CommandFailed                a user's command exited non-zero or timed out (user_command.py)
+-- DeliveryError                a message did not reach a channel (.channel, .retry_after)
    +-- TransientDeliveryError   unavailable for now (429, 5xx, timeout, SMTP 4xx): retry
    +-- PermanentDeliveryError   refused (other 4xx, SMTP 5xx, untrusted TLS): fix the config
```

The three subclasses defined beside their subject are drawn here too, so this stays the one
picture of the hierarchy. The outbox (`neo_automation.delivery`) keeps an entry queued after
a `TransientDeliveryError` and marks it failed after a `PermanentDeliveryError` or a
`ConfigError`. No message here ever holds a secret: channels mask URLs and scrub secret values
before raising.
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


class DeliveryError(AutomationError):
    """A message could not be delivered to a channel; the text names the channel, no secret.

    Attributes:
        channel: The channel kind ("slack", "email", "webhook", "file").
        retry_after: Seconds the receiver asked us to wait (HTTP Retry-After), if it did.
    """

    def __init__(self, message: str, *, channel: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.channel = channel
        self.retry_after = retry_after


class TransientDeliveryError(DeliveryError):
    """The channel is unavailable for now (rate limit, 5xx, timeout, SMTP 4xx): retry later."""


class PermanentDeliveryError(DeliveryError):
    """The channel refused the message for a reason a retry cannot fix (4xx, SMTP 5xx)."""
