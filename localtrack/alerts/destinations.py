"""Sending one alert to one destination: the message shapes and the two ways out (HTTP, SMTP).

==========  ===================================================================================
type        what is sent
==========  ===================================================================================
slack       POST ``{"text": ...}``: Slack incoming webhooks, Mattermost, Rocket.Chat
discord     POST ``{"content": ...}`` (cut to Discord's 2,000 characters)
teams       POST a message with one Adaptive Card (Teams Workflows "when a webhook request is
            received"; legacy Office 365 connectors take it too)
json        POST the alert as a JSON object (title, text, level, project, run, rule, ...)
email       one plain-text message through an SMTP relay (STARTTLS, SSL or none; login if
            ``username`` is set)
==========  ===================================================================================

``send`` returns an ``Outcome`` and never raises for a delivery failure: a timeout, a refused
connection, a 5xx or 429 answer are worth retrying; a 4xx, a redirect (never followed: the URL
should be the final one) or a refused SMTP login are not. Outcome texts never hold the secret
webhook URL or password.
"""

from __future__ import annotations

import http.client
import json
import smtplib
import socket
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from .config import Destination

USER_AGENT = "localtrack-alerts/1"
DISCORD_MAX = 2000
_ICONS = {"INFO": "ℹ️", "WARN": "⚠️", "ERROR": "🛑"}


@dataclass(frozen=True)
class Outcome:
    ok: bool
    detail: str
    retry: bool = False


def _headline(alert: dict[str, Any]) -> str:
    return f"[{alert.get('level', 'INFO')}] {alert.get('title', '')}"


def _where(alert: dict[str, Any]) -> str:
    parts = [f"project {alert.get('project')}"]
    if alert.get("run_id"):
        parts.append(f"run {alert.get('run_name') or alert['run_id']} ({alert['run_id']})")
    return " · ".join(parts)


def payload(kind: str, alert: dict[str, Any]) -> dict[str, Any]:
    """The JSON body a webhook of `kind` gets for `alert` (an event of events.py)."""
    icon = _ICONS.get(str(alert.get("level")), "")
    if kind == "slack":
        return {"text": f"{icon} *{_headline(alert)}*\n{alert.get('text', '')}\n_{_where(alert)}_"}
    if kind == "discord":
        body = f"{icon} **{_headline(alert)}**\n{alert.get('text', '')}\n*{_where(alert)}*"
        return {"content": body[:DISCORD_MAX]}
    if kind == "teams":
        card = {
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard",
            "version": "1.4",
            "body": [
                {"type": "TextBlock", "text": _headline(alert), "weight": "Bolder", "wrap": True},
                {"type": "TextBlock", "text": str(alert.get("text", "")), "wrap": True},
                {"type": "TextBlock", "text": _where(alert), "isSubtle": True, "wrap": True},
            ],
        }
        return {
            "type": "message",
            "attachments": [
                {"contentType": "application/vnd.microsoft.card.adaptive", "content": card}
            ],
        }
    fields = ("id", "time", "title", "text", "level", "project", "run_id", "run_name", "rule",
              "condition", "source")  # fmt: skip
    return {name: alert.get(name) for name in fields}


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # the 3xx surfaces as an HTTPError: a webhook URL should be the final one


_OPENER = urllib.request.build_opener(_NoRedirect)


def post_json(
    url: str, body: dict[str, Any], timeout: float, ca_file: str | None = None
) -> Outcome:
    """POST `body` as JSON to `url`; the outcome names the status, never the URL."""
    data = json.dumps(body).encode("utf-8")
    request = urllib.request.Request(
        url,
        data=data,
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": USER_AGENT},
    )
    handlers: list[Any] = [_NoRedirect]
    if ca_file and url.lower().startswith("https:"):
        context = ssl.create_default_context(cafile=ca_file)
        handlers.append(urllib.request.HTTPSHandler(context=context))
    opener = _OPENER if len(handlers) == 1 else urllib.request.build_opener(*handlers)
    try:
        with opener.open(request, timeout=timeout) as response:
            response.read(65536)
            return Outcome(True, f"delivered (HTTP {response.status})")
    except urllib.error.HTTPError as exc:
        exc.close()
        return _http_error(exc.code)
    except TimeoutError:
        return Outcome(False, f"the webhook did not answer within {timeout:g}s", True)
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, TimeoutError):
            return Outcome(False, f"the webhook did not answer within {timeout:g}s", True)
        return Outcome(False, f"could not reach the webhook: {_reason(reason)}", True)
    except (OSError, ValueError, http.client.HTTPException) as exc:
        return Outcome(False, f"could not reach the webhook: {type(exc).__name__}: {exc}", True)


def _reason(reason: object) -> str:
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    return str(reason)


def _http_error(status: int) -> Outcome:
    if 300 <= status < 400:
        return Outcome(
            False,
            f"the webhook answered a redirect (HTTP {status}); redirects are not followed: "
            "set the destination's URL to the address it redirects to",
        )
    if status == 429 or status >= 500:
        return Outcome(False, f"the webhook answered HTTP {status}", True)
    return Outcome(False, f"the webhook refused the alert (HTTP {status}); check its URL")


def send_email(dest: Destination, alert: dict[str, Any], password: str | None) -> Outcome:
    """Send `alert` as one plain-text message through the destination's SMTP relay."""
    message = EmailMessage()
    message["Subject"] = f"[localtrack {alert.get('level', 'INFO')}] {alert.get('title', '')}"
    message["From"] = dest.sender or f"localtrack@{socket.gethostname()}"
    message["To"] = ", ".join(dest.to)
    message.set_content(f"{alert.get('text', '')}\n\n{_where(alert)}\n")
    host, port = dest.smtp_host or "localhost", dest.smtp_port
    context = ssl.create_default_context(cafile=dest.ca_file) if dest.ca_file else None
    try:
        if dest.security == "ssl":
            context = context or ssl.create_default_context()
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                host, port or 465, timeout=dest.timeout_s, context=context
            )
        else:
            smtp = smtplib.SMTP(host, port or 587, timeout=dest.timeout_s)
        with smtp:
            if dest.security == "starttls":
                smtp.starttls(context=context or ssl.create_default_context())
            if dest.username:
                smtp.login(dest.username, password or "")
            smtp.send_message(message)
    except smtplib.SMTPAuthenticationError as exc:
        return Outcome(
            False, f"the SMTP server refused the login of {dest.username!r} ({_smtp_reply(exc)})"
        )
    except smtplib.SMTPNotSupportedError as exc:
        return Outcome(False, f"the SMTP server does not support this: {exc}")
    except smtplib.SMTPRecipientsRefused as exc:
        return Outcome(False, f"the SMTP server refused the recipients {sorted(exc.recipients)}")
    except smtplib.SMTPResponseException as exc:
        transient = 400 <= exc.smtp_code < 500  # 4xx: try again later; 5xx: permanent
        return Outcome(False, f"the SMTP server answered {_smtp_reply(exc)}", transient)
    except ssl.SSLError as exc:
        return Outcome(False, f"TLS with the SMTP server failed: {exc.reason or exc}")
    except (smtplib.SMTPException, OSError) as exc:
        return Outcome(False, f"could not reach the SMTP server {host}:{port}: {exc}", True)
    return Outcome(True, f"sent to {', '.join(dest.to)}")


def _smtp_reply(exc: smtplib.SMTPResponseException) -> str:
    error = exc.smtp_error
    text = error.decode("utf-8", "replace") if isinstance(error, bytes) else str(error)
    return f"{exc.smtp_code} {text}".strip()


def send(dest: Destination, alert: dict[str, Any], secret: str | None) -> Outcome:
    """Deliver `alert` to `dest` once (the dispatcher retries); `secret` is its webhook URL or
    SMTP password (``AlertStore.secret_for``)."""
    if dest.type == "email":
        return send_email(dest, alert, secret)
    url = secret
    if not url:
        where = f"${dest.url_env}" if dest.url_env else "the destination's secret URL"
        return Outcome(False, f"no webhook URL: {where} is not set")
    if not url.lower().startswith(("http://", "https://")):
        return Outcome(False, "the webhook URL must start with http:// or https://")
    return post_json(url, payload(dest.type, alert), dest.timeout_s, dest.ca_file)
