"""Send SMS through a generic JSON-over-HTTP gateway, the log or memory; count the segments a text costs."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass

import requests
from flask import current_app

logger = logging.getLogger("ouderkamer.sms")

#: GSM 03.38 default alphabet (one septet each); ESC (0x1B) is left out, it only introduces the extension table.
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
#: GSM 03.38 extension table: ESC + one septet, so two septets each.
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")
GSM7_SINGLE, GSM7_PART = 160, 153  # septets; a multipart SMS spends 7 on its UDH
UCS2_SINGLE, UCS2_PART = 70, 67  # UTF-16 code units
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
_TRANSIENT_STATUSES = frozenset({408, 425, 429})


class SmsError(Exception):
    """Sending an SMS failed; `transient` says whether retrying may succeed, `status` is the HTTP status if any."""

    def __init__(self, message: str, *, transient: bool, status: int | None = None):
        super().__init__(message)
        self.transient = transient
        self.status = status


@dataclass(frozen=True)
class SmsMessage:
    """One SMS: an E.164 number, the text and the sender name or number (empty = the transport's default)."""

    to_e164: str
    text: str
    sender: str = ""

    def __post_init__(self):
        if not _E164.match(self.to_e164):
            raise SmsError(f"{self.to_e164!r} is not an E.164 number (+ and 7 to 15 digits)", transient=False)


def is_gsm7(text: str) -> bool:
    """True when every character of `text` fits the GSM 7-bit alphabet (basic or extension table)."""
    return all(char in GSM7_BASIC or char in GSM7_EXTENSION for char in text)


def sms_segments(text: str) -> int:
    """Return how many SMS parts `text` needs: GSM-7 160/153 septets, else UCS-2 70/67 code units (min. 1)."""
    if is_gsm7(text):
        costs = [2 if char in GSM7_EXTENSION else 1 for char in text]
        return _count_parts(costs, GSM7_SINGLE, GSM7_PART)
    # Characters outside the BMP (emoji) take a surrogate pair: two UTF-16 code units.
    costs = [2 if ord(char) > 0xFFFF else 1 for char in text]
    return _count_parts(costs, UCS2_SINGLE, UCS2_PART)


def _count_parts(costs: list[int], single: int, part: int) -> int:
    if sum(costs) <= single:
        return 1
    # Fill greedily: an escape pair or a surrogate pair is never split across two parts.
    parts, used = 1, 0
    for cost in costs:
        if used + cost > part:
            parts, used = parts + 1, 0
        used += cost
    return parts


class LogSmsTransport:
    """Writes each SMS to the `ouderkamer.sms` logger instead of sending it."""

    def __init__(self, sender: str = ""):
        self.sender = sender

    def send(self, message: SmsMessage) -> None:
        """Log recipient, sender, segment count and text; nothing leaves the machine."""
        logger.info(
            "sms (not sent: no SMS_GATEWAY_URL)\nTo: %s\nFrom: %s\nSegments: %d\n\n%s",
            message.to_e164,
            message.sender or self.sender,
            sms_segments(message.text),
            message.text,
        )


class MemorySmsTransport:
    """Keeps sent messages in `outbox` (for tests)."""

    def __init__(self, sender: str = ""):
        self.sender = sender
        self.outbox: list[SmsMessage] = []

    def send(self, message: SmsMessage) -> None:
        """Append the message to `outbox`."""
        self.outbox.append(message)

    def clear(self) -> None:
        """Empty the outbox."""
        self.outbox.clear()


class HttpSmsTransport:
    """POSTs `{"to", "from", "text"}` as JSON with a bearer token to a generic HTTP SMS gateway."""

    def __init__(self, url: str, token: str | None, sender: str, timeout: float = 10):
        self.url, self.token, self.sender, self.timeout = url, token, sender, timeout

    def send(self, message: SmsMessage) -> None:
        """Post the SMS to the gateway (network); raises SmsError with `transient` set."""
        payload = {"to": message.to_e164, "from": message.sender or self.sender, "text": message.text}
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            response = requests.post(self.url, json=payload, headers=headers, timeout=self.timeout)
        except requests.RequestException as exc:
            raise SmsError(f"SMS gateway unreachable: {exc!r}", transient=True) from exc
        if response.status_code >= 400:
            raise _gateway_error(response)


def _gateway_error(response: requests.Response) -> SmsError:
    """Classify a gateway reply: 5xx, 408, 425 and 429 are transient; other 4xx are permanent."""
    status = response.status_code
    transient = status >= 500 or status in _TRANSIENT_STATUSES
    return SmsError(
        f"SMS gateway replied {status}: {response.text[:300]}", transient=transient, status=status
    )


def get_sms_transport() -> LogSmsTransport | MemorySmsTransport | HttpSmsTransport:
    """Return the app's SMS transport, chosen from config and cached in `current_app.extensions`."""
    transport = current_app.extensions.get("ouderkamer.sms")
    if transport is None:
        transport = current_app.extensions["ouderkamer.sms"] = _transport_from_config(current_app.config)
    return transport


def _transport_from_config(config: Mapping) -> LogSmsTransport | MemorySmsTransport | HttpSmsTransport:
    sender = config.get("SMS_SENDER") or ""
    choice = config.get("SMS_TRANSPORT") or ("http" if config.get("SMS_GATEWAY_URL") else "log")
    if choice == "memory":
        return MemorySmsTransport(sender)
    if choice == "log":
        return LogSmsTransport(sender)
    if choice != "http":
        raise SmsError(f"SMS_TRANSPORT {choice!r} is not one of memory, log, http", transient=False)
    timeout = float(config.get("SMS_TIMEOUT") or 10)
    return HttpSmsTransport(config["SMS_GATEWAY_URL"], config.get("SMS_GATEWAY_TOKEN"), sender, timeout)


def send_sms(message: SmsMessage) -> None:
    """Send the SMS through the app's transport (network when a gateway is set); raises SmsError."""
    get_sms_transport().send(message)
