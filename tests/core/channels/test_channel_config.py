"""Channel configuration without Prefect: validation, environment variables, masking.

Every bad value is one line naming the variable or field and what it accepts, and no secret
(webhook URL path, HMAC key, SMTP password) appears in an error, a repr or a description.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from neo_automation.channels import (
    CHANNEL_KINDS,
    NOT_CONFIGURED_HINTS,
    EmailConfig,
    FileConfig,
    SlackConfig,
    WebhookConfig,
    channels_from_env,
)
from neo_automation.channels.common import mask_url, scrub
from neo_automation.channels.env import ENV_VARIABLES, differing_variables
from neo_automation.errors import ConfigError

SLACK_URL = "https://hooks.slack.com/services/T0AAA/B0BBB/slackSECRETtoken123"
HOOK_URL = "https://user:pw@example.com:8443/hooks/hookSECRETpath?token=querySECRET"


def test_channel_kinds_agree() -> None:
    assert CHANNEL_KINDS == tuple(NOT_CONFIGURED_HINTS) == tuple(ENV_VARIABLES)


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        (SLACK_URL, "https://hooks.slack.com"),
        (HOOK_URL, "https://example.com:8443"),
        ("http://[::1]:9000/x", "http://[::1]:9000"),
        ("http://exa mple.com:notaport/", "<invalid URL>"),
    ],
)
def test_mask_url_keeps_scheme_and_host_only(url: str, masked: str) -> None:
    assert mask_url(url) == masked


@pytest.mark.parametrize("url", ["ftp://example.com/x", "hooks.slack.com/services/x",
                                 "https:///nohost", "http://exa mple.com/", "javascript:alert(1)",
                                 "https://example.com:99999/"])
def test_urls_must_be_http_or_https(url: str) -> None:
    for model in (SlackConfig, WebhookConfig):
        with pytest.raises(ValidationError) as info:
            model(url=url)
        assert url not in str(info.value)  # inputs are hidden from validation errors


def test_slack_needs_https_except_on_loopback() -> None:
    with pytest.raises(ValidationError, match="expected an https:// URL"):
        SlackConfig(url="http://hooks.slack.com/services/x")
    assert SlackConfig(url="http://127.0.0.1:9/services/x").kind == "slack"
    with pytest.raises(ConfigError, match="SLACK_WEBHOOK_URL='http://hooks.slack.com'"):
        channels_from_env({"SLACK_WEBHOOK_URL": "http://hooks.slack.com/services/x"})


def test_email_login_must_come_in_pairs_and_not_over_plain_text() -> None:
    base = {"smtp_server": "smtp.example.com", "email_from": "r@example.com",
            "email_to": ["o@example.com"]}
    with pytest.raises(ValidationError, match="a username needs a password"):
        EmailConfig(**base, username="r@example.com")
    with pytest.raises(ValidationError, match="a password needs a username"):
        EmailConfig(**base, password="pw-SECRET")
    with pytest.raises(ValidationError, match="unencrypted: expected ssl or starttls") as info:
        EmailConfig(**base, username="u", password="pw-SECRET", security="plain")
    assert "pw-SECRET" not in str(info.value)
    local = EmailConfig(**{**base, "smtp_server": "127.0.0.1"}, username="u", password="p",
                        security="plain")
    assert local.port == 25
    assert EmailConfig(**base).port == 587 and EmailConfig(**base, security="ssl").port == 465
    with pytest.raises(ValidationError, match="addresses such as"):
        EmailConfig(**{**base, "email_to": ["not an address"]})
    with pytest.raises(ValidationError):
        EmailConfig(**{**base, "email_to": []})


def test_secrets_are_masked_in_repr_str_and_descriptions() -> None:
    configs = [
        SlackConfig(url=SLACK_URL),
        WebhookConfig(url=HOOK_URL, secret="hmacSECRETkey"),
        EmailConfig(smtp_server="smtp.example.com", username="u", password="smtpSECRETpw",
                    email_from="r@example.com", email_to=["o@example.com"]),
    ]
    text = " ".join(repr(c) + str(c) + c.describe() for c in configs)
    for secret in ("slackSECRETtoken123", "hookSECRETpath", "querySECRET", "hmacSECRETkey",
                   "smtpSECRETpw", ":pw@"):
        assert secret not in text
    assert configs[2].describe() == "smtp.example.com:587 (starttls), 1 recipient(s)"
    assert scrub(f"failed at {SLACK_URL}", [SLACK_URL]) == "failed at ***"


# -- environment -----------------------------------------------------------------------------

FULL_ENV = {
    "SLACK_WEBHOOK_URL": SLACK_URL,
    "EMAIL_SMTP_SERVER": "smtp.example.com",
    "EMAIL_SMTP_PORT": "2525",
    "EMAIL_SMTP_SECURITY": "STARTTLS",
    "EMAIL_USERNAME": "reports@example.com",
    "EMAIL_PASSWORD": "smtpSECRETpw",
    "EMAIL_TO": " ops@example.com, Dev <dev@example.com> ,, ",
    "WEBHOOK_URL": HOOK_URL,
    "WEBHOOK_SECRET": "hmacSECRETkey",
}


def test_channels_from_env_reads_every_variable(tmp_path: Path) -> None:
    channels = channels_from_env(FULL_ENV, archive_dir=tmp_path)
    assert list(channels) == ["slack", "email", "webhook", "file"]
    slack, email, webhook, file = channels.values()
    assert isinstance(slack, SlackConfig) and slack.url.get_secret_value() == SLACK_URL
    assert isinstance(email, EmailConfig)
    assert (email.smtp_server, email.port, email.security) == ("smtp.example.com", 2525,
                                                               "starttls")
    assert email.username == "reports@example.com"
    assert email.password is not None and email.password.get_secret_value() == "smtpSECRETpw"
    assert email.email_from == "reports@example.com"  # defaults to the username address
    assert email.email_to == ("ops@example.com", "Dev <dev@example.com>")
    assert isinstance(webhook, WebhookConfig)
    assert webhook.secret is not None and webhook.secret.get_secret_value() == "hmacSECRETkey"
    assert file == FileConfig(directory=tmp_path)


def test_unset_or_empty_variables_mean_not_configured() -> None:
    assert channels_from_env({}) == {}
    blank = {"SLACK_WEBHOOK_URL": "", "EMAIL_SMTP_SERVER": "  ", "WEBHOOK_URL": "",
             "EMAIL_PASSWORD": "", "WEBHOOK_SECRET": "orphan"}
    assert channels_from_env(blank) == {}


def test_email_without_login_and_security_defaults() -> None:
    env = {"EMAIL_SMTP_SERVER": "relay.internal", "EMAIL_FROM": "r@example.com",
           "EMAIL_TO": "o@example.com"}
    email = channels_from_env(env)["email"]
    assert isinstance(email, EmailConfig)
    assert (email.username, email.password, email.security, email.port) == (
        None, None, "starttls", 587)
    ssl_email = channels_from_env({**env, "EMAIL_SMTP_PORT": "465"})["email"]
    assert isinstance(ssl_email, EmailConfig) and ssl_email.security == "ssl"
    plain = channels_from_env({**env, "EMAIL_SMTP_SECURITY": "plain", "EMAIL_SMTP_PORT": "25"})
    assert isinstance(plain["email"], EmailConfig) and plain["email"].security == "plain"


EMAIL_BASE = {"EMAIL_SMTP_SERVER": "smtp.example.com", "EMAIL_FROM": "r@example.com",
              "EMAIL_TO": "o@example.com"}


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"WEBHOOK_URL": "ftp://example.com/hookSECRETpath"},
         "WEBHOOK_URL='ftp://example.com' is not accepted: expected an http:// or https:// URL "
         "with a host name"),
        ({"SLACK_WEBHOOK_URL": "hooks.slack.com/services/slackSECRETtoken123"},
         "SLACK_WEBHOOK_URL='<invalid URL>' is not accepted: expected an https:// URL such as "
         "https://hooks.slack.com/services/... (http:// only for a loopback server)"),
        ({**EMAIL_BASE, "EMAIL_SMTP_PORT": "25x"},
         "EMAIL_SMTP_PORT='25x' is not accepted: expected an integer port from 1 to 65535"),
        ({**EMAIL_BASE, "EMAIL_SMTP_PORT": "0"},
         "EMAIL_SMTP_PORT='0' is not accepted: expected an integer port from 1 to 65535"),
        ({**EMAIL_BASE, "EMAIL_SMTP_SECURITY": "tls"},
         "EMAIL_SMTP_SECURITY='tls' is not accepted: expected ssl, starttls or plain"),
        ({**EMAIL_BASE, "EMAIL_USERNAME": "user"},
         "EMAIL_PASSWORD is not set: a username needs a password: expected both (SMTP login) "
         "or neither (no login)"),
        ({**EMAIL_BASE, "EMAIL_PASSWORD": "smtpSECRETpw"},
         "EMAIL_PASSWORD is not accepted: a password needs a username: expected both (SMTP "
         "login) or neither (no login)"),
        ({**EMAIL_BASE, "EMAIL_USERNAME": "u", "EMAIL_PASSWORD": "smtpSECRETpw",
          "EMAIL_SMTP_SECURITY": "plain"},
         "EMAIL_PASSWORD is not accepted: plain SMTP would send the password unencrypted: "
         "expected ssl or starttls"),
        ({"EMAIL_SMTP_SERVER": "smtp.example.com", "EMAIL_TO": "o@example.com"},
         "EMAIL_FROM is not set: expected one address such as reports@example.com (it "
         "defaults to EMAIL_USERNAME when that is an address)"),
        ({**EMAIL_BASE, "EMAIL_TO": ""},
         "EMAIL_TO is not set: expected one or more addresses such as ops@example.com"),
        ({**EMAIL_BASE, "EMAIL_TO": "ops@example.com; dev@example.com"},
         "EMAIL_TO='ops@example.com; dev@example.com' is not accepted: expected addresses such "
         "as ops@example.com"),
        ({**EMAIL_BASE, "EMAIL_SMTP_SERVER": "smtp://x"},
         "EMAIL_SMTP_SERVER='smtp://x' is not accepted: expected a host name such as "
         "smtp.example.com"),
    ],
)
def test_bad_values_are_one_line_errors(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        channels_from_env(env)
    assert str(info.value) == message
    assert "\n" not in str(info.value) and "SECRET" not in str(info.value)


def test_several_bad_values_are_reported_together() -> None:
    with pytest.raises(ConfigError) as info:
        channels_from_env({**FULL_ENV, "EMAIL_SMTP_PORT": "x", "WEBHOOK_URL": "file:///etc"})
    text = str(info.value)
    assert text.startswith("EMAIL_SMTP_PORT='x' is not accepted")
    assert "; WEBHOOK_URL='<invalid URL>' is not accepted" in text and "\n" not in text


def test_differing_variables_name_what_differs_without_values() -> None:
    saved = channels_from_env(FULL_ENV)
    same = channels_from_env(dict(FULL_ENV))
    assert all(differing_variables(same[k], saved[k]) == [] for k in saved)
    other = channels_from_env({**FULL_ENV, "EMAIL_PASSWORD": "otherSECRET", "EMAIL_TO": "x@y.z",
                               "WEBHOOK_SECRET": "", "SLACK_WEBHOOK_URL": SLACK_URL + "x"})
    assert differing_variables(other["email"], saved["email"]) == ["EMAIL_PASSWORD", "EMAIL_TO"]
    assert differing_variables(other["webhook"], saved["webhook"]) == ["WEBHOOK_SECRET"]
    assert differing_variables(other["slack"], saved["slack"]) == ["SLACK_WEBHOOK_URL"]
    assert differing_variables(saved["slack"], saved["webhook"]) == ["SLACK_WEBHOOK_URL"]
