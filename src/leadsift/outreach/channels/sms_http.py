"""SMS through an HTTP gateway: a JSON POST per message over one kept-alive connection.

Built on the standard library's `http.client` (httpx is only a test dependency, and
`urllib.request` hides which step failed): connecting, sending the request and reading the
answer are separate steps, and only a failure after the request was sent is ambiguous.
"""

from __future__ import annotations

import http.client
import json
import re
import selectors
import ssl
from typing import Any, Final
from urllib.parse import SplitResult, urlsplit

from leadsift.config import Settings
from leadsift.errors import ConfigurationError
from leadsift.outreach.channels.base import OutgoingSms, SendResult, SendStatus, SmsChannel

_PLACEHOLDER = re.compile(r"\{(to|text|sender)\}")
_MAX_ANSWER_BYTES: Final = 65_536
_MAX_DETAIL: Final = 300
# Refusals worth retrying: the gateway timed out waiting for us, or asks us to slow down.
_RETRYABLE_4XX: Final = frozenset({408, 429})


class _Stop(Exception):
    def __init__(self, result: SendResult) -> None:
        super().__init__(result.detail)
        self.result = result


def parse_payload_template(template: str) -> Any:
    """The parsed JSON template; it must use {to} and {text} somewhere in its strings."""
    try:
        parsed = json.loads(template)
    except ValueError as error:
        raise ConfigurationError(
            f"LEADSIFT_SMS_GATEWAY_PAYLOAD is not JSON ({error}); give e.g. "
            '\'{"to": "{to}", "text": "{text}", "from": "{sender}"}\''
        ) from None
    used = set(_PLACEHOLDER.findall(json.dumps(parsed, ensure_ascii=False)))
    if not {"to", "text"} <= used:
        raise ConfigurationError(
            "LEADSIFT_SMS_GATEWAY_PAYLOAD must contain the placeholders {to} and {text} "
            "in its string values"
        )
    return parsed


def render_payload(template: Any, sms: OutgoingSms) -> Any:
    """TEMPLATE with {to}, {text} and {sender} replaced inside its strings (one pass, so a
    value that looks like a placeholder stays as it is)."""
    values = {"to": sms.to, "text": sms.text, "sender": sms.sender}
    if isinstance(template, str):
        return _PLACEHOLDER.sub(lambda found: values[found.group(1)], template)
    if isinstance(template, list):
        return [render_payload(item, sms) for item in template]
    if isinstance(template, dict):
        return {key: render_payload(value, sms) for key, value in template.items()}
    return template


def provider_id(answer: bytes, field: str | None) -> str | None:
    """The provider's message id at FIELD (dots for nested keys) of a JSON answer, if any."""
    if not field:
        return None
    try:
        found: Any = json.loads(answer)
    except ValueError:
        return None
    for key in field.split("."):
        if not isinstance(found, dict) or key not in found:
            return None
        found = found[key]
    if isinstance(found, bool) or not isinstance(found, str | int):
        return None
    return str(found)


def _classify(status: int) -> SendStatus:
    if 200 <= status < 300:
        return "sent"
    if 400 <= status < 500 and status not in _RETRYABLE_4XX:
        return "hard_bounce"
    # 408/429, 5xx, and redirects or other answers that accepted nothing.
    return "soft_failure"


def _describe(error: BaseException) -> str:
    if isinstance(error, TimeoutError):
        return "timeout"
    return f"{type(error).__name__}: {error}"[:_MAX_DETAIL]


def _peer_closed(connection: http.client.HTTPConnection) -> bool:
    # An idle kept-alive connection becomes readable when the gateway closes it; sending on it
    # would make a lost request look ambiguous.
    if connection.sock is None:
        return True
    with selectors.DefaultSelector() as selector:
        selector.register(connection.sock, selectors.EVENT_READ)
        return bool(selector.select(0))


def _gateway_url(url: str | None) -> SplitResult:
    parts = urlsplit(url or "")
    try:
        parts.port  # noqa: B018 (raises on a port that is not a number)
    except ValueError:
        parts = urlsplit("")
    unsafe = any(char.isspace() or not char.isprintable() for char in url or "")
    if parts.scheme not in ("http", "https") or not parts.hostname or unsafe:
        raise ConfigurationError(
            f"LEADSIFT_SMS_GATEWAY_URL {url!r} is not an http(s) URL; set it to the "
            "gateway's endpoint, e.g. https://sms.example.com/v1/messages"
        )
    return parts


class HttpSmsChannel(SmsChannel):
    """Delivers SMS by POSTing LEADSIFT_SMS_GATEWAY_PAYLOAD to LEADSIFT_SMS_GATEWAY_URL."""

    name = "http"

    def __init__(self, settings: Settings, *, ssl_context: ssl.SSLContext | None = None) -> None:
        parts = _gateway_url(settings.sms_gateway_url)
        self._settings = settings
        self._template = parse_payload_template(settings.sms_gateway_payload)
        self._headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Accept": "application/json",
            "User-Agent": "leadsift",
        }
        if settings.sms_gateway_auth is not None:
            auth = settings.sms_gateway_auth.get_secret_value()
            if not auth.isprintable():
                raise ConfigurationError(
                    "LEADSIFT_SMS_GATEWAY_AUTH contains a line break or control character"
                )
            self._headers["Authorization"] = auth
        self._https = parts.scheme == "https"
        self._host = parts.hostname or ""  # checked by _gateway_url
        self._port = parts.port
        self._path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._ssl_context = ssl_context
        self._connection: http.client.HTTPConnection | None = None

    def close(self) -> None:
        """Close the kept-alive connection, if any."""
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()

    def send(self, sms: OutgoingSms) -> SendResult:
        """POST SMS to the gateway and classify its answer."""
        body = json.dumps(render_payload(self._template, sms), ensure_ascii=False).encode()
        try:
            return self._post(body)
        except _Stop as stop:
            self.close()
            return stop.result

    def _connected(self) -> http.client.HTTPConnection:
        if self._connection is not None and not _peer_closed(self._connection):
            return self._connection
        self.close()
        timeout = self._settings.sms_timeout_s
        connection: http.client.HTTPConnection
        if self._https:
            if self._ssl_context is None:
                self._ssl_context = ssl.create_default_context()
            connection = http.client.HTTPSConnection(
                self._host, self._port, timeout=timeout, context=self._ssl_context
            )
        else:
            connection = http.client.HTTPConnection(self._host, self._port, timeout=timeout)
        try:
            connection.connect()
        except OSError as error:
            connection.close()
            raise _Stop(
                SendResult("soft_failure", f"cannot connect to the gateway: {_describe(error)}")
            ) from None
        self._connection = connection
        return connection

    def _post(self, body: bytes) -> SendResult:
        connection = self._connected()
        try:
            connection.request("POST", self._path, body=body, headers=self._headers)
        except (OSError, http.client.HTTPException) as error:
            # The request did not leave whole, so the gateway cannot have acted on it.
            raise _Stop(
                SendResult("soft_failure", f"request not sent: {_describe(error)}")
            ) from None
        try:
            response = connection.getresponse()
            answer = response.read(_MAX_ANSWER_BYTES + 1)
        except (OSError, http.client.HTTPException) as error:
            raise _Stop(
                SendResult("ambiguous", f"{_describe(error)} (after the request was sent)")
            ) from None
        if len(answer) > _MAX_ANSWER_BYTES or not response.isclosed():
            self.close()  # an answer we did not read to its end leaves the connection unusable
        status = _classify(response.status)
        snippet = " ".join(answer[:200].decode("utf-8", "replace").split())
        detail = f"{response.status} {response.reason} {snippet}".strip()[:_MAX_DETAIL]
        if status != "sent":
            return SendResult(status, detail)
        return SendResult("sent", detail, provider_id(answer, self._settings.sms_gateway_id_field))
