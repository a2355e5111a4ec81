"""Internationalised email addresses against a real aiosmtpd server.

A server that does not offer SMTPUTF8 gets an internationalised domain IDNA-encoded
(``ops@bücher.example`` goes as ``ops@xn--bcher-kva.example``, as the same server accepts it
when written so); a non-ASCII local part is refused by name with such a server and sent with
SMTPUTF8 to a server that offers it; a domain IDNA refuses is refused when the configuration
is read, and `smtputf8_problem` (what `automation config --validate` asks) says so ahead of
time. No Prefect here.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from standins import SMTPStandIn

from neo_automation.channels import (
    Message,
    PermanentDeliveryError,
    channels_from_env,
    server_problems,
)
from neo_automation.channels.addresses import ascii_domain, check_address, plan_addresses
from neo_automation.errors import ConfigError


@pytest.fixture
def ascii_server() -> Iterator[SMTPStandIn]:
    server = SMTPStandIn().start()  # aiosmtpd does not offer SMTPUTF8 unless asked
    yield server
    server.stop()


@pytest.fixture
def utf8_server() -> Iterator[SMTPStandIn]:
    server = SMTPStandIn(smtputf8=True).start()
    yield server
    server.stop()


def _env(server: SMTPStandIn, to: str, sender: str = "reports@example.com") -> dict[str, str]:
    return {"EMAIL_SMTP_SERVER": "127.0.0.1", "EMAIL_SMTP_PORT": str(server.port),
            "EMAIL_SMTP_SECURITY": "plain", "EMAIL_FROM": sender, "EMAIL_TO": to}


def _send(server: SMTPStandIn, to: str, sender: str = "reports@example.com") -> str:
    email = channels_from_env(_env(server, to, sender))["email"]
    return email.send(Message(subject="Daily report", text="all good", key="r/2025-06-01")).detail


def test_an_internationalised_domain_is_idna_encoded_for_a_server_without_smtputf8(
    ascii_server: SMTPStandIn,
) -> None:
    # The A-label form is what this server accepts; the U-label form now goes the same way.
    assert _send(ascii_server, "ops@xn--bcher-kva.example") == "accepted for 1 recipient(s)"
    assert _send(ascii_server, "ops@bücher.example") == "accepted for 1 recipient(s)"
    assert ascii_server.envelopes[1] == ascii_server.envelopes[0]
    assert ascii_server.envelopes[1] == ("reports@example.com", ["ops@xn--bcher-kva.example"])
    assert ascii_server.messages[1]["To"] == "ops@xn--bcher-kva.example"


def test_a_sender_and_display_names_with_both(ascii_server: SMTPStandIn) -> None:
    detail = _send(ascii_server, "Jörg Müller <joerg@bücher.example>, ops@example.com",
                   sender="Berichte <berichte@straße.example>")
    assert detail == "accepted for 2 recipient(s)"
    assert ascii_server.envelopes == [
        ("berichte@xn--strae-oqa.example", ["joerg@xn--bcher-kva.example", "ops@example.com"])
    ]
    (mail,) = ascii_server.messages
    # The display names are RFC 2047 words (decoded by the parser), the domains A-labels.
    assert mail["From"].addresses[0].display_name == "Berichte"
    assert mail["To"].addresses[0].display_name == "Jörg Müller"
    assert mail["To"].addresses[0].domain == "xn--bcher-kva.example"
    assert mail["Message-ID"].endswith("@xn--strae-oqa.example>")


def test_a_non_ascii_local_part_needs_smtputf8(ascii_server: SMTPStandIn,
                                               utf8_server: SMTPStandIn) -> None:
    with pytest.raises(PermanentDeliveryError) as info:
        _send(ascii_server, "jörg@bücher.example")
    text = str(info.value)
    assert "'jörg@bücher.example' has a non-ASCII local part(s), which need SMTPUTF8" in text
    assert f"127.0.0.1:{ascii_server.port} does not offer it" in text
    assert "EMAIL_SMTP_SECURITY" not in text and not ascii_server.messages

    # With other recipients, those still get it and the receipt names the one refused.
    detail = _send(ascii_server, "jörg@bücher.example, ops@bücher.example")
    assert detail.startswith("accepted for 1 recipient(s), refused for jörg@bücher.example (")
    assert ascii_server.envelopes[-1][1] == ["ops@xn--bcher-kva.example"]

    # A server that offers SMTPUTF8 gets the address as written.
    assert _send(utf8_server, "jörg@bücher.example") == "accepted for 1 recipient(s)"
    assert utf8_server.envelopes == [("reports@example.com", ["jörg@bücher.example"])]
    assert utf8_server.messages[0]["To"] == "jörg@bücher.example"


def test_the_check_ahead_of_time_asks_the_server(ascii_server: SMTPStandIn,
                                                 utf8_server: SMTPStandIn) -> None:
    email = channels_from_env(_env(ascii_server, "jörg@example.com, ops@bücher.example"))["email"]
    problem = email.smtputf8_problem()
    assert problem is not None and problem.startswith("email: 'jörg@example.com' has a non-ASCII")
    assert not ascii_server.messages
    offered = channels_from_env(_env(utf8_server, "jörg@example.com"))["email"]
    assert offered.smtputf8_problem() is None
    # What `automation config --validate` runs over the channels from the environment.
    assert server_problems({"email": email}) == [problem]
    # An internationalised domain alone needs no SMTPUTF8: nothing to ask.
    assert channels_from_env(_env(ascii_server, "ops@bücher.example"))["email"].smtputf8_problem() \
        is None


@pytest.mark.parametrize(
    ("to", "reason"),
    [
        ("ops@a☃b.example", "Codepoint U+2603 at position 2 of 'a☃b' not allowed"),
        ("ops@bü..example", "Empty Label"),
        ("ops@xn--zz.example", "Invalid A-label"),
    ],
)
def test_a_domain_idna_refuses_is_a_one_line_configuration_error(
    ascii_server: SMTPStandIn, to: str, reason: str
) -> None:
    with pytest.raises(ConfigError) as info:
        channels_from_env(_env(ascii_server, f"ops@example.com, {to}"))
    domain = to.partition("@")[2]
    assert str(info.value) == (
        f"EMAIL_TO={'ops@example.com, ' + to!r} is not accepted: {to!r}: the domain "
        f"{domain!r} is not a valid "
        f"internationalised domain name ({reason})"
    )
    assert check_address(to) is not None and check_address("ops@bücher.example") is None


def test_address_plans_without_a_server() -> None:
    plan = plan_addresses("reports@example.com", ["ops@BÜCHER.example", "ü@x.example"],
                          smtputf8=False)
    assert plan.recipients == ["ops@xn--bcher-kva.example"] and plan.unsendable == ["ü@x.example"]
    assert ascii_domain("Example.COM") == "Example.COM"  # plain ASCII is left as written
    with pytest.raises(ValueError, match="not a valid internationalised domain name"):
        ascii_domain("xn--zz.example")
