"""Sending one message to one channel: a signed webhook, a Slack incoming webhook, a mail.

Every target is resolved and checked before it is reached: loopback, private, link-local and
metadata addresses are refused (for good: ``final``) unless ``PIPELOGIQ_ALERTS_ALLOW`` lists
them, and the connection goes to the address checked (:mod:`worker_sdk.templates.network`).
A secret never appears in an error.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ssl
from collections.abc import Iterable

import aiosmtplib
import httpx

from controlplane.engine.alerts.channels import EmailConfig, Opened, SlackConfig, WebhookConfig
from controlplane.engine.alerts.deliveries import Message
from controlplane.notifications import messages
from worker_sdk.errors import TerminalError
from worker_sdk.templates import network

# The setting a refused address names: the control plane's allow-list for its alerts.
ALERTS_ALLOW = "PIPELOGIQ_ALERTS_ALLOW"


class SendFailed(Exception):
    """The channel did not take the message. ``final``: trying again will not help (the
    address is not allowed, the receiver refuses the request as malformed)."""

    def __init__(self, reason: str, *, final: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.final = final


def signature(secret: str, body: bytes) -> str:
    """``X-Pipelogiq-Signature``: ``sha256=`` and the hex HMAC-SHA256 of the raw body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def send(
    opened: Opened,
    message: Message,
    *,
    public_url: str | None,
    timeout_seconds: float,
    allowed: Iterable[str],
) -> str:
    """Send; returns what the channel answered (for "send a test"), raises SendFailed."""
    config = opened.config
    try:
        if isinstance(config, WebhookConfig):
            body = messages.webhook_body(message, public_url)
            headers = {
                "Content-Type": "application/json",
                "User-Agent": "pipelogiq-alerts",
                "X-Pipelogiq-Delivery": str(message.delivery_id),
                "X-Pipelogiq-Event": "test"
                if message.event == "test"
                else f"alert.{message.event}",
            }
            if config.secret:
                headers["X-Pipelogiq-Signature"] = signature(config.secret, body)
            return await _post(
                config.url, body, headers, timeout_seconds, allowed, shown=config.url
            )
        if isinstance(config, SlackConfig):
            assert config.url is not None
            body = messages.slack_body(message, public_url)
            headers = {"Content-Type": "application/json", "User-Agent": "pipelogiq-alerts"}
            # The URL is the secret: errors name only its host.
            shown = httpx.URL(config.url).host
            return await _post(config.url, body, headers, timeout_seconds, allowed, shown=shown)
        assert isinstance(config, EmailConfig)
        return await _mail(config, message, public_url, timeout_seconds, allowed)
    except TerminalError as error:
        raise SendFailed(str(error), final=True) from None


async def _post(
    url: str,
    body: bytes,
    headers: dict[str, str],
    timeout_seconds: float,
    allowed: Iterable[str],
    *,
    shown: str,
) -> str:
    try:
        async with asyncio.timeout(timeout_seconds):
            async with network.send(
                "POST",
                url,
                headers=headers,
                content=body,
                timeout_seconds=timeout_seconds,
                allowed=allowed,
                setting=ALERTS_ALLOW,
            ) as response:
                status = response.status_code
    except (httpx.HTTPError, OSError, TimeoutError) as error:
        raise SendFailed(f"{shown}: {type(error).__name__}: {error}"[:500]) from None
    if 200 <= status < 300:
        return f"HTTP {status}"
    # 4xx but 408 and 429: the receiver will refuse the same request again.
    final = 400 <= status < 500 and status not in (408, 429)
    raise SendFailed(f"{shown} answered HTTP {status}", final=final)


async def _mail(
    config: EmailConfig,
    message: Message,
    public_url: str | None,
    timeout_seconds: float,
    allowed: Iterable[str],
) -> str:
    address = await network.checked_address(
        config.host, config.port, timeout_seconds, allowed, ALERTS_ALLOW
    )
    mail = messages.email(message, public_url, config.sender, config.to)
    # Connected to the address checked; TLS is still spoken to the name (SNI, certificate).
    client = aiosmtplib.SMTP(
        hostname=address, port=config.port, timeout=timeout_seconds, start_tls=False
    )
    try:
        async with asyncio.timeout(timeout_seconds * 2), client:
            if config.starttls:
                await client.starttls(
                    server_hostname=config.host, tls_context=await network.tls_context()
                )
            if config.username:
                await client.login(config.username, config.password or "")
            await client.send_message(mail)
    except aiosmtplib.SMTPRecipientsRefused as error:
        raise SendFailed(f"{config.host}: recipients refused: {error}"[:500], final=True) from None
    except (aiosmtplib.SMTPException, OSError, TimeoutError, ssl.SSLError) as error:
        raise SendFailed(f"{config.host}: {type(error).__name__}: {error}"[:500]) from None
    return f"sent to {len(config.to)} recipient(s)"
