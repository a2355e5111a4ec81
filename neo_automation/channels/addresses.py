"""Email addresses for SMTP: internationalised domains, local parts that need SMTPUTF8.

An address such as ``ops@bücher.example`` has an internationalised domain: a server that does
not offer SMTPUTF8 (RFC 6531) gets it IDNA-encoded, ``ops@xn--bcher-kva.example`` (IDNA 2008
with UTS 46 mapping, through the `idna` package), in the envelope and in the headers; a server
that offers SMTPUTF8 gets it as written. A local part that is not ASCII (``jörg@example.com``)
has no ASCII form: it needs a server that offers SMTPUTF8, and with any other server the
address cannot be sent to (`AddressPlan.unsendable`). A domain that IDNA refuses (an empty
label, a label starting with a hyphen, a code point IDNA 2008 disallows such as U+2603) is not
an address at all: `check_address` names it, so the configuration is refused when it is read.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.utils import parseaddr

import idna

from neo_automation.channels.common import is_email_address


def split_address(text: str) -> tuple[str, str, str]:
    """An address as (display name, local part, domain).

    Args:
        text: ``a@b.c`` or ``Name <a@b.c>`` (checked with `is_email_address` first).

    Returns:
        The display name ("" when none), the local part and the domain, as written.
    """
    name, address = parseaddr(text.strip())
    local, _, domain = address.rpartition("@")
    return name, local, domain


def needs_smtputf8(text: str) -> bool:
    """Whether the address's local part is not ASCII (it can only go through SMTPUTF8)."""
    return not split_address(text)[1].isascii()


def ascii_domain(domain: str) -> str:
    """The domain in ASCII: unchanged when it is ASCII, else IDNA-encoded (A-labels).

    An ASCII domain with an ``xn--`` label is checked too, so a broken A-label is refused.

    Args:
        domain: A domain as written, such as ``bücher.example``.

    Returns:
        Such as ``xn--bcher-kva.example``.

    Raises:
        ValueError: IDNA refuses the domain; the message names the domain and the reason.
    """
    if domain.isascii() and not any(label.lower().startswith("xn--")
                                    for label in domain.split(".")):
        return domain
    try:
        return idna.encode(domain, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError) as exc:
        raise ValueError(
            f"the domain {domain!r} is not a valid internationalised domain name ({exc})"
        ) from None


def check_address(text: str) -> str | None:
    """Why `text` is not an address that can be sent to, or None when it is.

    Args:
        text: ``a@b.c`` or ``Name <a@b.c>``.

    Returns:
        One line naming the address and what is wrong, or None.
    """
    if not is_email_address(text):
        return f"{text!r} is not an address such as ops@example.com"
    try:
        ascii_domain(split_address(text)[2])
    except ValueError as exc:
        return f"{text.strip()!r}: {exc}"
    return None


@dataclass(frozen=True)
class AddressPlan:
    """The addresses of one SMTP transaction, for what the server offers.

    Attributes:
        smtputf8: Whether the message goes with SMTPUTF8 (addresses as written).
        sender: The envelope sender (MAIL FROM).
        recipients: The envelope recipients (RCPT TO) that can be sent to.
        header_from: The From header.
        header_to: The To header's addresses (those that can be sent to).
        message_id_domain: An ASCII domain for the Message-ID.
        unsendable: Configured addresses (sender or recipients) that need SMTPUTF8, which the
            server does not offer.
    """

    smtputf8: bool
    sender: str
    recipients: list[str] = field(default_factory=list)
    header_from: str = ""
    header_to: list[str] = field(default_factory=list)
    message_id_domain: str = "neo-automation"
    unsendable: list[str] = field(default_factory=list)


def plan_addresses(sender: str, recipients: Iterable[str], *, smtputf8: bool) -> AddressPlan:
    """The envelope and header addresses for a server with or without SMTPUTF8.

    Args:
        sender: The configured sender (checked with `check_address`).
        recipients: The configured recipients (checked likewise).
        smtputf8: Whether the server offers SMTPUTF8.

    Returns:
        With SMTPUTF8 the addresses as written (smtplib then sends with SMTPUTF8 when one is
        not ASCII); without it, domains IDNA-encoded and every address whose local part is
        not ASCII listed in `unsendable` instead.

    Raises:
        ValueError: A domain IDNA refuses (the configuration check refuses it earlier).
    """
    unsendable: list[str] = []

    def convert(text: str) -> tuple[str, str] | None:
        name, local, domain = split_address(text)
        if smtputf8:
            return f"{local}@{domain}", str(Address(name, local, domain))
        if not local.isascii():
            unsendable.append(text.strip())
            return None
        domain = ascii_domain(domain)
        return f"{local}@{domain}", str(Address(name, local, domain))

    mail_from = convert(sender)
    converted = [c for c in (convert(r) for r in recipients) if c is not None]
    sender_domain = split_address(sender)[2]
    try:
        id_domain = ascii_domain(sender_domain) if sender_domain else "neo-automation"
    except ValueError:
        id_domain = "neo-automation"
    return AddressPlan(
        smtputf8=smtputf8,
        sender=mail_from[0] if mail_from else "",
        recipients=[envelope for envelope, _header in converted],
        header_from=mail_from[1] if mail_from else "",
        header_to=[header for _envelope, header in converted],
        message_id_domain=id_domain,
        unsendable=unsendable,
    )
