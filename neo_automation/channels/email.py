"""Email over SMTP: multipart text + HTML, PNG images inline by Content-ID, attachments.

smtplib connects with SSL, STARTTLS or plain, logs in only when a username is configured, and
its failures are sorted for the outbox: SMTP 4xx, timeouts and dropped connections are
transient, SMTP 5xx (a refused login, refused recipients) and TLS failures permanent. Untrusted
text is HTML-escaped in the HTML part. A message with an idempotency key always gets the same
Message-ID, so mail clients fold a duplicate away.

Addresses follow what the server offers (`neo_automation.channels.addresses`): an
internationalised domain goes IDNA-encoded to a server without SMTPUTF8 and as written with
SMTPUTF8; a non-ASCII local part needs SMTPUTF8, and without it that address is refused by
name (the others still get the message). `smtputf8_problem` asks the server ahead of time.
"""

from __future__ import annotations

import hashlib
import html
import logging
import re
import smtplib
import ssl
from collections.abc import Sequence
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import unquote

from pydantic import BaseModel, Field, SecretStr, ValidationInfo, field_validator

from neo_automation.channels.addresses import (
    AddressPlan,
    check_address,
    needs_smtputf8,
    plan_addresses,
)
from neo_automation.channels.base import (
    DELIVERY_HEADER,
    ChannelModel,
    DeliveryReceipt,
    InlineImage,
    Message,
    plain_text,
)
from neo_automation.channels.common import (
    expects,
    is_email_address,
    is_loopback,
    one_line,
    snippet,
)
from neo_automation.channels.failures import network_failure
from neo_automation.errors import DeliveryError, PermanentDeliveryError, TransientDeliveryError
from neo_automation.words import plural

logger = logging.getLogger("automation.notify")

#: How an SMTP connection is secured.
Security = Literal["ssl", "starttls", "plain"]


class EmailFields(BaseModel):
    """What a user sets for email besides the server, declared once: `EmailConfig` and the
    Prefect block (whose server and login are prefect-email's `EmailServerCredentials`).

    Attributes:
        email_from: The sender address.
        email_to: The recipient addresses.
        timeout: Seconds to wait for the server on each step.
    """

    email_from: str = Field(
        default=..., title="From", description="The sender address, such as reports@example.com."
    )
    email_to: Annotated[
        tuple[str, ...], Field(min_length=1),
        expects("one or more addresses such as ops@example.com"),
    ] = Field(default=..., title="To", description="The recipient addresses.")
    timeout: float = Field(
        default=30.0, gt=0, description="Seconds to wait for the SMTP server on each step."
    )

    @field_validator("email_from")
    @classmethod
    def _sender(cls, value: str) -> str:
        if not is_email_address(value):
            raise ValueError("expected one address such as reports@example.com")
        if problem := check_address(value):  # a domain IDNA refuses
            raise ValueError(problem)
        return value

    @field_validator("email_to")
    @classmethod
    def _recipients(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not all(is_email_address(v) for v in value):
            raise ValueError("expected addresses such as ops@example.com")
        if problems := [p for p in (check_address(v) for v in value) if p]:
            raise ValueError("; ".join(problems))
        return value


class EmailConfig(EmailFields, ChannelModel):
    """An SMTP server and login, and the message's sender and recipients (`EmailFields`).

    Attributes:
        smtp_server: Host name or address of the SMTP server.
        smtp_port: Its port; None means the security mode's usual port (465, 587 or 25).
        security: "ssl" (SMTPS), "starttls" or "plain".
        username: SMTP login; None or empty means no login.
        password: SMTP password; required exactly when a username is set, and refused over
            plain SMTP to anything but a loopback server.
        verify: Whether to verify the server's TLS certificate and host name.
        ca_file: Extra CA certificates (PEM) to trust, for a private mail relay.
    """

    kind: Literal["email"] = "email"
    smtp_server: Annotated[
        str, Field(min_length=1, pattern=r"^[^\s/]+$"),
        expects("a host name such as smtp.example.com"),
    ]
    smtp_port: Annotated[
        int | None, Field(ge=1, le=65535), expects("an integer port from 1 to 65535")
    ] = None
    security: Annotated[Security, expects("ssl, starttls or plain")] = "starttls"
    username: str | None = None
    # validate_default: the login check below also runs when no password is given.
    password: SecretStr | None = Field(default=None, validate_default=True)
    verify: bool = True
    ca_file: Path | None = None

    @field_validator("security", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("password")
    @classmethod
    def _login(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        # The fields declared above are in info.data when they were valid.
        has_user = bool(info.data.get("username"))
        has_password = value is not None and bool(value.get_secret_value())
        if has_user and not has_password:
            raise ValueError("a username needs a password: expected both (SMTP login) or "
                             "neither (no login)")
        if has_password and not has_user:
            raise ValueError("a password needs a username: expected both (SMTP login) or "
                             "neither (no login)")
        server = info.data.get("smtp_server", "")
        if has_password and info.data.get("security") == "plain" and not is_loopback(server):
            raise ValueError("plain SMTP would send the password unencrypted: expected ssl "
                             "or starttls")
        return value if has_password else None

    @property
    def port(self) -> int:
        """The port to connect to."""
        return self.smtp_port or {"ssl": 465, "starttls": 587, "plain": 25}[self.security]

    def describe(self) -> str:
        """For example ``smtp.example.com:587 (starttls), 2 recipients``."""
        return (f"{self.smtp_server}:{self.port} ({self.security}), "
                f"{plural(len(self.email_to), 'recipient')}")

    def smtputf8_addresses(self) -> list[str]:
        """The configured addresses whose local part is not ASCII (they need SMTPUTF8)."""
        return [a for a in (self.email_from, *self.email_to) if needs_smtputf8(a)]

    def _deliver(self, message: Message) -> DeliveryReceipt:
        target = f"{self.smtp_server}:{self.port}"
        password = self.password.get_secret_value() if self.password is not None else ""
        smtp: smtplib.SMTP | None = None
        accepted = False
        try:
            smtp = self._connect()
            smtp.ehlo_or_helo_if_needed()
            plan = plan_addresses(self.email_from, self.email_to,
                                  smtputf8=smtp.has_extn("smtputf8"))
            _check_plan(plan, target)
            if self.username:
                smtp.login(self.username, password)
            refused = smtp.send_message(build_email(self, message, plan),
                                        from_addr=plan.sender, to_addrs=plan.recipients)
            refused = {**refused, **{a: (0, b"") for a in plan.unsendable}}
            accepted = True
        except (OSError, smtplib.SMTPException) as exc:
            raise _smtp_failure(self, target, exc, [password]) from None
        finally:
            if smtp is not None:
                # The message is accepted once DATA got its 250; a failing QUIT must not make
                # the outbox send it again. After a failure, just drop the connection: a polite
                # QUIT to a server that stopped answering would wait out the timeout once more.
                try:
                    if accepted:
                        smtp.quit()
                except (smtplib.SMTPException, OSError):
                    pass
                finally:
                    smtp.close()
        detail = f"accepted for {plural(len(self.email_to) - len(refused), 'recipient')}"
        if refused:
            detail += f", refused for {', '.join(sorted(refused))}"
            if plan.unsendable:
                detail += f" ({_needs_smtputf8(plan.unsendable, target)})"
            logger.warning("email %s refused some recipients: %s", target, detail)
        return DeliveryReceipt("email", target, detail)

    def smtputf8_problem(self) -> str | None:
        """Ask the server whether it offers SMTPUTF8, when an address needs it.

        For `automation config --validate`: connects (and secures the connection) as a
        delivery does, says EHLO and leaves; no login, no message.

        Returns:
            One line naming the addresses when one needs SMTPUTF8 and the server answered
            without offering it; None when no address needs it, the server offers it, or the
            server could not be asked (that is for `automation reports test` to show).
        """
        wanted = self.smtputf8_addresses()
        if not wanted:
            return None
        smtp: smtplib.SMTP | None = None
        try:
            smtp = self._connect()
            smtp.ehlo_or_helo_if_needed()
            offered = smtp.has_extn("smtputf8")
        except (OSError, smtplib.SMTPException):
            return None
        finally:
            if smtp is not None:
                smtp.close()
        if offered:
            return None
        return f"email: {_needs_smtputf8(wanted, f'{self.smtp_server}:{self.port}')}"

    def _connect(self) -> smtplib.SMTP:
        """An open, secured (unless plain) SMTP connection."""
        context: ssl.SSLContext | None = None
        if self.security != "plain":
            context = ssl.create_default_context(
                cafile=str(self.ca_file) if self.ca_file and self.verify else None
            )
            if not self.verify:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
        if self.security == "ssl":
            return smtplib.SMTP_SSL(self.smtp_server, self.port, timeout=self.timeout,
                                    context=context)
        smtp = smtplib.SMTP(self.smtp_server, self.port, timeout=self.timeout)
        if self.security == "starttls":
            try:
                smtp.starttls(context=context)
            except BaseException:
                smtp.close()
                raise
        return smtp


def _needs_smtputf8(addresses: list[str], target: str) -> str:
    names = ", ".join(repr(a) for a in addresses)
    has = "has a non-ASCII local part" if len(addresses) == 1 else "have non-ASCII local parts"
    return (f"{names} {has}, "
            f"which need SMTPUTF8, and {target} does not offer it: use an ASCII address or a "
            "server that offers SMTPUTF8")


def _check_plan(plan: AddressPlan, target: str) -> None:
    """Refuse a message that cannot go anywhere: its sender or every recipient needs SMTPUTF8."""
    if not plan.sender or not plan.recipients:
        raise PermanentDeliveryError(
            f"email {target}: {_needs_smtputf8(plan.unsendable, target)}", channel="email"
        )


def _smtp_code_error(target: str, code: int, text: bytes | str, what: str,
                     secrets: list[str]) -> DeliveryError:
    detail = text.decode("utf-8", errors="replace") if isinstance(text, bytes) else str(text)
    line = f"email {target}: {what} ({code} {snippet(detail, secrets)})".replace(" )", ")")
    if 400 <= code < 500:
        return TransientDeliveryError(line, channel="email")
    return PermanentDeliveryError(line, channel="email")


def _smtp_failure(config: EmailConfig, target: str, exc: BaseException,
                  secrets: list[str]) -> DeliveryError:
    """Sort an smtplib/ssl/socket failure into a transient or permanent delivery error."""
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return _smtp_code_error(
            target, exc.smtp_code, exc.smtp_error,
            f"the login of {config.username!r} was refused; check EMAIL_USERNAME and "
            "EMAIL_PASSWORD", secrets,
        )
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return PermanentDeliveryError(
            f"email {target}: the server does not support what the configuration needs "
            f"({snippet(str(exc), secrets)}); check EMAIL_SMTP_SECURITY",
            channel="email",
        )
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _text in exc.recipients.values()]
        first_code, first_text = next(iter(exc.recipients.values()))
        if codes and all(400 <= c < 500 for c in codes):
            return _smtp_code_error(target, first_code, first_text,
                                    "every recipient was deferred", secrets)
        return _smtp_code_error(target, max(codes), first_text, "every recipient was refused",
                                secrets)
    if isinstance(exc, smtplib.SMTPResponseException):
        return _smtp_code_error(target, exc.smtp_code, exc.smtp_error,
                                "the server did not accept the message", secrets)
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        # smtplib reports a read timeout as "Connection unexpectedly closed: timed out".
        if isinstance(exc.__context__, TimeoutError):
            return network_failure("email", target, exc.__context__, config.timeout, secrets)
        return TransientDeliveryError(
            f"email {target}: the server closed the connection ({snippet(str(exc), secrets)})",
            channel="email",
        )
    if isinstance(exc, ssl.SSLError) and not isinstance(
        exc, ssl.SSLCertVerificationError | ssl.SSLEOFError | ssl.SSLZeroReturnError
    ):
        return PermanentDeliveryError(
            f"email {target}: TLS failed ({snippet(exc.reason or str(exc), secrets)}); check "
            "EMAIL_SMTP_SECURITY and EMAIL_SMTP_PORT",
            channel="email",
        )
    return network_failure("email", target, exc, config.timeout, secrets)


#: A ``src`` attribute and its quoted value (the archived report's HTML writes double quotes).
_SRC = re.compile(r"""(?P<attr>\bsrc\s*=\s*)(?P<q>["'])(?P<value>[^"'<>]*)(?P=q)""",
                  re.IGNORECASE)


def inline_sources(body: str, images: Sequence[InlineImage]) -> str:
    """Point each ``src`` that names an inline image's file at that image's ``cid:``.

    A report's archived HTML references its charts by file name, the PNGs beside it in the
    archive, so it shows its pictures when opened from there; in the email the same pictures
    travel inline, so the same references become Content-IDs. Other sources are left as they
    are.

    Args:
        body: HTML text.
        images: The message's inline images (their `name` is the archived file's name).

    Returns:
        The HTML with those references replaced.
    """
    by_name = {img.name: img for img in images}

    def swap(match: re.Match[str]) -> str:
        value = unquote(html.unescape(match["value"]))
        image = by_name.get(value)
        if image is None:
            return match[0]
        return f'{match["attr"]}{match["q"]}cid:{html.escape(image.cid)}{match["q"]}'

    return _SRC.sub(swap, body) if by_name else body


def format_html(message: Message) -> str:
    """The HTML body for email: the message's own `html`, or one built from text and facts.

    Untrusted text is escaped with `html.escape`. An image the HTML references by its file
    name is shown in place, by ``cid:`` (`inline_sources`); inline images that the HTML
    does not reference at all are appended, so every picture shows.

    Args:
        message: The message.

    Returns:
        A complete HTML document.
    """
    own = None if message.html is None else inline_sources(message.html, message.images)
    images = "".join(
        f'<p><img src="cid:{html.escape(img.cid)}" alt="{html.escape(img.name)}"></p>'
        for img in message.images
        if own is None or f"cid:{img.cid}" not in own
    )
    if own is not None:
        body = own
        marker = body.lower().rfind("</body>")
        return body[:marker] + images + body[marker:] if marker >= 0 else body + images
    rows = "".join(
        f"<tr><th align=\"left\">{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
        for k, v in message.facts
    )
    table = f"<table>{rows}</table>" if rows else ""
    status = f"<p><strong>{html.escape(message.status)}</strong></p>" if message.status else ""
    lists = "".join(
        f"<h3>{html.escape(title)}</h3><ul>"
        + "".join(f"<li>{html.escape(item)}</li>" for item in items) + "</ul>"
        for title, items in message.lists if items
    )
    link = (f'<p><a href="{html.escape(message.link)}">Full report</a></p>'
            if message.link else "")
    text = (
        f'<pre style="white-space:pre-wrap;font-family:inherit">{html.escape(message.text)}</pre>'
        if message.text
        else ""
    )
    return (
        '<!doctype html><html><head><meta charset="utf-8">'
        f"<title>{html.escape(message.subject)}</title></head><body>"
        f"<h2>{html.escape(message.subject)}</h2>{status}{text}{table}{lists}{link}{images}"
        "</body></html>"
    )


def build_email(config: EmailConfig, message: Message,
                addresses: AddressPlan | None = None) -> EmailMessage:
    """The MIME message: text and HTML alternatives, inline images, then attachments.

    Args:
        config: The email channel (sender and recipients).
        message: The message.
        addresses: The From and To headers for the server at hand (`plan_addresses`);
            None writes them as configured (for a server that offers SMTPUTF8).

    Returns:
        An `EmailMessage` ready for `smtplib.SMTP.send_message`.
    """
    plan = addresses or plan_addresses(config.email_from, config.email_to, smtputf8=True)
    mail = EmailMessage()
    sender_domain = plan.message_id_domain
    mail["Subject"] = one_line(message.subject) or "(no subject)"
    mail["From"] = plan.header_from
    mail["To"] = ", ".join(plan.header_to)
    mail["Date"] = format_datetime(datetime.fromtimestamp(message.created, UTC), usegmt=True)
    if message.key:
        # The same key gives the same Message-ID, so mail clients fold a duplicate away.
        digest = hashlib.sha256(message.key.encode("utf-8")).hexdigest()[:32]
        mail["Message-ID"] = f"<{digest}@{sender_domain}>"
        mail[DELIVERY_HEADER] = one_line(message.key)
    else:
        mail["Message-ID"] = make_msgid(domain=sender_domain)
    mail.set_content(plain_text(message))
    mail.add_alternative(format_html(message), subtype="html")
    if message.images:
        html_part = next(p for p in mail.iter_parts() if p.get_content_type() == "text/html")
        for image in message.images:
            maintype, _, subtype = image.mime_type.partition("/")
            html_part.add_related(
                image.content,
                maintype=maintype,
                subtype=subtype or "png",
                cid=f"<{image.cid}>",
                filename=image.name,
                disposition="inline",
            )
    for item in message.attachments:
        # As bytes (base64), text files included: their line endings arrive unchanged.
        maintype, _, subtype = item.mime_type.partition("/")
        mail.add_attachment(
            item.content,
            maintype=maintype or "application",
            subtype=subtype or "octet-stream",
            filename=item.filename,
        )
    return mail
