"""What a notification says, per kind of channel: a webhook's JSON, a Slack message, a mail.

A webhook's body is the contract receivers code against (docs/alerts.md shows it): camelCase,
one ``event`` (``alert.opened``, ``alert.acknowledged``, ``alert.resolved``, ``alert.digest``
or ``test``), the delivery's id (also the ``X-Pipelogiq-Delivery`` header), and the alert.
"""

from __future__ import annotations

import datetime as dt
import uuid
from email.message import EmailMessage
from typing import Any

import msgspec

from controlplane.engine.alerts.deliveries import Message
from controlplane.schemas import camel

_MARKS = {"critical": "🔴", "warning": "🟠", "info": "🔵"}


def test_message(
    channel_id: uuid.UUID, application_id: uuid.UUID, application_name: str
) -> Message:
    """The message "send a test" sends: it opens nothing and is recorded nowhere."""
    return Message(
        uuid.uuid4(),
        channel_id,
        application_id,
        application_name,
        "test",
        dt.datetime.now(dt.UTC),
        None,
    )


def link(public_url: str | None, message: Message) -> str | None:
    """Where a person sees the alert (or, for a digest, the alerts) on the dashboard."""
    if public_url is None:
        return None
    base = public_url.rstrip("/")
    if message.alert is not None:
        return f"{base}/alerts/{message.alert['id']}"
    return f"{base}/alerts?application={message.application_id}"


def webhook_body(message: Message, public_url: str | None) -> bytes:
    body: dict[str, Any] = {
        "deliveryId": str(message.delivery_id),
        "event": "test" if message.event == "test" else f"alert.{message.event}",
        "at": message.at.isoformat(),
        "application": {"id": str(message.application_id), "name": message.application_name},
        "url": link(public_url, message),
    }
    if message.alert is not None:
        body["alert"] = _alert(message.alert)
    if message.event == "digest":
        body["digest"] = {
            "count": message.folded,
            "events": message.folded_events or {},
            "first": [_alert(a) for a in message.folded_alerts or []],
            "summary": digest_line(message),
        }
    return msgspec.json.encode(body)


def _alert(alert: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in alert.items():
        if key == "details" and isinstance(value, str):
            value = msgspec.json.decode(value)
        if key in ("alert_id",):
            key = "id"
        out[camel(key)] = str(value) if isinstance(value, uuid.UUID) else value
    return out


def digest_line(message: Message) -> str:
    events = message.folded_events or {}
    parts = ", ".join(f"{n} {kind}" for kind, n in sorted(events.items()))
    return (
        f"{message.folded} more alert notifications came within the channel's rate limit's "
        f"minute and are folded into this digest ({parts})"
    )


def headline(message: Message) -> str:
    """One line for a person: what happened, to what."""
    if message.event == "test":
        return f"Pipelogiq test notification for {message.application_name}"
    if message.event == "digest":
        return f"[{message.application_name}] {message.folded} alert notifications (digest)"
    alert = message.alert or {}
    mark = _MARKS.get(alert.get("severity", ""), "")
    verb = {"opened": "firing", "acknowledged": "acknowledged", "resolved": "resolved"}
    return (
        f"{mark} [{message.application_name}] {verb.get(message.event, message.event)}: "
        f"{alert.get('rule_name')} — {alert.get('subject_name')}"
    ).strip()


def text(message: Message, public_url: str | None) -> str:
    """The message as plain text, several lines (a mail's body, Slack's fallback)."""
    lines = [headline(message)]
    if message.alert is not None:
        alert = message.alert
        lines.append(str(alert.get("summary", "")))
        if message.event == "resolved":
            who = alert.get("resolved_by") or "the condition cleared"
            lines.append(f"Resolved: {who}")
        lines.append(f"Occurrences: {alert.get('occurrences')}; opened {alert.get('opened_at')}")
        if alert.get("note"):
            lines.append(f"Note: {alert['note']}")
    elif message.event == "digest":
        lines.append(digest_line(message))
        lines += [f"- {a['rule_name']}: {a['summary']}" for a in message.folded_alerts or []]
    else:
        lines.append("If you read this, the channel works.")
    url = link(public_url, message)
    if url:
        lines.append(url)
    return "\n".join(lines)


def slack_body(message: Message, public_url: str | None) -> bytes:
    url = link(public_url, message)
    title = headline(message)
    detail = text(message, None).split("\n", 1)[-1]
    blocks: list[dict[str, Any]] = [
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": f"*{_escape(title)}*\n{_escape(detail)}"},
        }
    ]
    if url:
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Open in Pipelogiq"},
                        "url": url,
                    }
                ],
            }
        )
    return msgspec.json.encode({"text": title, "blocks": blocks})


def _escape(value: str) -> str:
    # Slack's mrkdwn reads these three as markup.
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def email(message: Message, public_url: str | None, sender: str, to: list[str]) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = ", ".join(to)
    mail["Subject"] = headline(message).replace("\n", " ")[:200]
    mail["Message-ID"] = f"<{message.delivery_id}@pipelogiq>"
    mail["X-Pipelogiq-Delivery"] = str(message.delivery_id)
    mail.set_content(text(message, public_url))
    return mail
