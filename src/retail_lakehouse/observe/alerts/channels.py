"""Alert channels: a generic JSON webhook, a Slack-compatible incoming webhook, e-mail (SMTP).

Each ``send`` returns None when the channel accepted the alert, else the reason it did not (a
refused, slow or unreachable channel is recorded and retried, never raised into a run). Secrets
stay out of messages: an SMTP password is read from the environment variable the settings name,
and errors never include URLs (a Slack webhook URL is itself a secret).
"""

from __future__ import annotations

import os
import smtplib
from email.message import EmailMessage

from retail_lakehouse.config import ChannelSettings, Settings
from retail_lakehouse.observe.alerts.model import Alert

LEGACY_WEBHOOK = "webhook"
"""The channel name of the top-level ``webhook_url`` setting (kept for existing projects)."""


def configured_channels(settings: Settings | None) -> dict[str, ChannelSettings]:
    """Every channel of ``[alerts.channels]``, plus ``webhook_url`` as a JSON webhook."""
    if settings is None:
        return {}
    channels = dict(settings.alerts.channels)
    if settings.webhook_url and LEGACY_WEBHOOK not in channels:
        channels[LEGACY_WEBHOOK] = ChannelSettings(type="webhook", url=settings.webhook_url)
    return channels


def send(channel: ChannelSettings, alert: Alert) -> str | None:
    """Deliver ``alert`` through one channel; None on success, else the reason."""
    import httpx  # here, not at the top: every run imports this module, few send (0.12 s)

    try:
        if channel.type == "smtp":
            return _send_mail(channel, alert)
        if not channel.url:
            return f"{channel.type} channel has no url"
        body = alert.payload() if channel.type == "webhook" else {"text": _slack_escaped(alert)}
        response = httpx.post(channel.url, json=body, timeout=channel.timeout_seconds)
    except (httpx.HTTPError, httpx.InvalidURL, OSError, ValueError, smtplib.SMTPException) as error:
        return f"{type(error).__name__}: {_without_secrets(str(error), channel)}"
    if response.is_success:
        return None
    return f"HTTP {response.status_code} {response.reason_phrase}".strip()


def _slack_escaped(alert: Alert) -> str:
    """The alert's text with ``&``, ``<`` and ``>`` escaped, as Slack asks: alert text names
    files dropped in landing/, and ``<!channel>`` or ``<https://...|label>`` in a file name
    would otherwise notify the whole channel or show a disguised link."""
    return alert.text().replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _send_mail(channel: ChannelSettings, alert: Alert) -> str | None:
    if not channel.to:
        return "smtp channel has no recipients (to = [...])"
    password = os.environ.get(channel.password_env) if channel.password_env else ""
    if channel.username and password is None:  # an empty login failed as "invalid" or timed out
        return f"the environment variable {channel.password_env} (password_env) is not set"
    message = EmailMessage()
    message["Subject"] = f"{alert.title()}: {alert.message.splitlines()[0][:120]}"
    message["From"] = channel.sender
    message["To"] = ", ".join(channel.to)
    message["X-Retail-Alert-Id"] = alert.alert_id
    message.set_content(alert.text())
    with smtplib.SMTP(channel.host, channel.port, timeout=channel.timeout_seconds) as smtp:
        if channel.starttls:
            smtp.starttls()
        if channel.username:
            smtp.login(channel.username, password or "")
        smtp.send_message(message)
    return None


def _without_secrets(text: str, channel: ChannelSettings) -> str:
    if channel.url:
        text = text.replace(channel.url, "<url>")
    return text
