"""`automation config --validate` says ahead of time what an SMTP server will refuse (kind 6).

An address whose local part is not ASCII needs a server that offers SMTPUTF8: validation asks
the configured server (a real aiosmtpd on loopback, EHLO only) and names the address, exit 2;
the same configuration with a server that offers SMTPUTF8, or an internationalised domain
alone, is valid. A domain that IDNA refuses is one line naming the address and the reason.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from helpers import run_cli
from standins import SMTPStandIn


@pytest.fixture
def servers() -> Iterator[tuple[SMTPStandIn, SMTPStandIn]]:
    plain, utf8 = SMTPStandIn().start(), SMTPStandIn(smtputf8=True).start()
    yield plain, utf8
    plain.stop()
    utf8.stop()


def _env(cli_env: dict[str, str], server: SMTPStandIn, to: str) -> dict[str, str]:
    return {**cli_env, "EMAIL_SMTP_SERVER": "127.0.0.1", "EMAIL_SMTP_PORT": str(server.port),
            "EMAIL_SMTP_SECURITY": "plain", "EMAIL_FROM": "reports@example.com", "EMAIL_TO": to}


def _errors(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.startswith("error: ")]


def test_validate_names_an_address_the_server_cannot_take(
    cli_env: dict[str, str], servers: tuple[SMTPStandIn, SMTPStandIn]
) -> None:
    plain, utf8 = servers
    refused = run_cli("config", "--validate", env=_env(cli_env, plain, "jörg@bücher.example"))
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert _errors(refused.stdout) == [
        f"error: email: 'jörg@bücher.example' has a non-ASCII local part(s), which need "
        f"SMTPUTF8, and 127.0.0.1:{plain.port} does not offer it: use an ASCII address or a "
        "server that offers SMTPUTF8"
    ]
    assert not plain.messages  # asked, nothing sent

    for env in (_env(cli_env, utf8, "jörg@bücher.example"),
                _env(cli_env, plain, "ops@bücher.example")):
        ok = run_cli("config", "--validate", env=env)
        assert ok.returncode == 0, ok.stdout + ok.stderr
        assert "configuration is valid" in ok.stdout


def test_validate_refuses_a_domain_idna_refuses(
    cli_env: dict[str, str], servers: tuple[SMTPStandIn, SMTPStandIn]
) -> None:
    plain, _utf8 = servers
    proc = run_cli("config", "--validate",
                   env=_env(cli_env, plain, "ops@example.com, ops@bü..example"))
    assert proc.returncode == 2
    assert _errors(proc.stdout) == [
        "error: EMAIL_TO='ops@example.com, ops@bü..example' is not accepted: 'ops@bü..example': "
        "the domain 'bü..example' is not a "
        "valid internationalised domain name (Empty Label)"
    ]
    assert "Traceback" not in proc.stderr
