"""Send SMS (and WhatsApp templates) through Twilio's REST API, a generic JSON gateway, the log or memory;
count the segments a text costs."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

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
TWILIO_API_URL = "https://api.twilio.com"
WHATSAPP_PREFIX = "whatsapp:"


#: Twilio error codes that point at our own settings (credentials, sender, channel), not at the recipient.
TWILIO_SETUP_CODES = frozenset({20003, 20008, 21212, 21408, 21606, 21659, 21705, 63007, 63016, 63112})
#: Why a permanent SmsError happened: the recipient, our settings, or unknown whether it went out.
REFUSED, SETUP, UNCERTAIN = "refused", "setup", "uncertain"


class SmsError(Exception):
    """Sending an SMS failed; `transient` says whether retrying may succeed, `status` is the HTTP status if any,
    `code` the gateway's own error code (Twilio's numeric codes), `reason` REFUSED/SETUP/UNCERTAIN if known."""

    def __init__(self, message: str, *, transient: bool, status: int | None = None, code: int | None = None,
                 reason: str | None = None):
        super().__init__(message)
        self.transient = transient
        self.status = status
        self.code = code
        self.reason = reason


class MissingTemplateError(SmsError):
    """No approved WhatsApp template is configured for a message kind in a language."""

    def __init__(self, kind: str, language: str):
        super().__init__(f"no WhatsApp template for {kind!r} in language {language!r} (WHATSAPP_TEMPLATES)",
                         transient=False, reason=SETUP)
        self.kind, self.language = kind, language


@dataclass(frozen=True)
class SmsMessage:
    """One SMS: an E.164 number, the text and the sender name or number (empty = the transport's default)."""

    to_e164: str
    text: str
    sender: str = ""

    def __post_init__(self):
        if not _E164.match(self.to_e164):
            raise SmsError(f"{self.to_e164!r} is not an E.164 number (+ and 7 to 15 digits)", transient=False,
                           reason=REFUSED)


@dataclass(frozen=True)
class WhatsAppMessage:
    """One WhatsApp template message: an E.164 number, the approved template (Content SID) and its variables.

    WhatsApp refuses free text outside a 24-hour window after the parent's last message, so business-initiated
    messages are always pre-approved templates; `variables` fill its numbered placeholders ({"1": "Fatma"}).
    """

    to_e164: str
    content_sid: str
    variables: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self):
        if not _E164.match(self.to_e164):
            raise SmsError(f"{self.to_e164!r} is not an E.164 number (+ and 7 to 15 digits)", transient=False,
                           reason=REFUSED)


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

    def send(self, message: SmsMessage | WhatsAppMessage) -> None:
        """Log recipient, sender, segment count and text (or template and variables); nothing leaves the machine."""
        if isinstance(message, WhatsAppMessage):
            logger.info("whatsapp (not sent: SMS_TRANSPORT is log)\nTo: %s\nTemplate: %s\nVariables: %s",
                        message.to_e164, message.content_sid, json.dumps(dict(message.variables), ensure_ascii=False))
            return
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

    def send(self, message: SmsMessage | WhatsAppMessage) -> None:
        """Append the message to `outbox`."""
        self.outbox.append(message)

    def clear(self) -> None:
        """Empty the outbox."""
        self.outbox.clear()


class HttpSmsTransport:
    """POSTs `{"to", "from", "text"}` as JSON with a bearer token to a generic HTTP SMS gateway."""

    def __init__(self, url: str, token: str | None, sender: str, timeout: float = 10):
        self.url, self.token, self.sender, self.timeout = url, token, sender, timeout

    def send(self, message: SmsMessage | WhatsAppMessage) -> None:
        """Post the SMS to the gateway (network); raises SmsError with `transient` set."""
        if isinstance(message, WhatsAppMessage):
            raise SmsError("the generic HTTP gateway cannot send WhatsApp templates; use SMS_TRANSPORT=twilio",
                           transient=False, reason=SETUP)
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


class TwilioTransport:
    """Sends SMS and WhatsApp templates through Twilio's Messages API (or any API with the same contract):
    a form-encoded POST to /2010-04-01/Accounts/{sid}/Messages.json with HTTP basic auth sid:token."""

    def __init__(self, account_sid: str, auth_token: str, *, sender: str = "", messaging_service_sid: str | None = None,
                 whatsapp_from: str | None = None, api_url: str = TWILIO_API_URL, timeout: float = 10):
        self.account_sid, self.auth_token, self.sender = account_sid, auth_token, sender
        self.messaging_service_sid, self.whatsapp_from = messaging_service_sid, whatsapp_from
        self.api_url, self.timeout = api_url.rstrip("/"), timeout

    @property
    def url(self) -> str:
        return f"{self.api_url}/2010-04-01/Accounts/{self.account_sid}/Messages.json"

    def send(self, message: SmsMessage | WhatsAppMessage) -> str:
        """POST one message (network); returns Twilio's message sid; raises SmsError with `transient` set."""
        form = self._form(message)
        try:
            response = requests.post(self.url, data=form, auth=(self.account_sid, self.auth_token),
                                     timeout=self.timeout)
        except requests.ReadTimeout as exc:
            # The request went out: Twilio may have queued the message, and a retry could send it twice.
            raise SmsError(f"Twilio did not answer in time; the message may have been sent: {exc!r}",
                           transient=False, reason=UNCERTAIN) from exc
        except requests.RequestException as exc:
            raise SmsError(f"Twilio unreachable: {exc!r}", transient=True) from exc
        if response.status_code >= 400:
            raise _twilio_error(response)
        sid = _json_object(response).get("sid") or ""
        if not sid:
            logger.warning("Twilio accepted a message (%d) without returning its sid", response.status_code)
        return sid

    def _form(self, message: SmsMessage | WhatsAppMessage) -> dict[str, str]:
        if isinstance(message, WhatsAppMessage):
            form = {"To": WHATSAPP_PREFIX + message.to_e164, "ContentSid": message.content_sid,
                    "ContentVariables": json.dumps(dict(message.variables), ensure_ascii=False)}
            own_sender, sender = "", WHATSAPP_PREFIX + self.whatsapp_from if self.whatsapp_from else ""
        else:
            form = {"To": message.to_e164, "Body": message.text}
            own_sender = message.sender
            sender = own_sender or self.sender
        # A Messaging Service picks the sender from its pool; a sender given with the message still wins.
        if self.messaging_service_sid and not own_sender:
            form["MessagingServiceSid"] = self.messaging_service_sid
        elif sender:
            form["From"] = sender
        else:
            raise SmsError("no sender: set WHATSAPP_FROM (WhatsApp) or SMS_SENDER, or TWILIO_MESSAGING_SERVICE_SID",
                           transient=False, reason=SETUP)
        return form


def _json_object(response: requests.Response) -> dict:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _twilio_error(response: requests.Response) -> SmsError:
    """Twilio's error reply as SmsError: 429 and 5xx transient, other 4xx permanent; its code and message kept."""
    status, body = response.status_code, _json_object(response)
    code = body.get("code") if isinstance(body.get("code"), int) else None
    detail = str(body.get("message") or response.text[:300])
    transient = status >= 500 or status in _TRANSIENT_STATUSES
    reason = SETUP if status in (401, 403) or code in TWILIO_SETUP_CODES else REFUSED
    label = f" error {code}" if code is not None else ""
    return SmsError(f"Twilio replied {status}{label}: {detail}", transient=transient, status=status, code=code,
                    reason=None if transient else reason)


Transport = LogSmsTransport | MemorySmsTransport | HttpSmsTransport | TwilioTransport


def get_sms_transport() -> Transport:
    """Return the app's SMS transport, chosen from config and cached in `current_app.extensions`."""
    transport = current_app.extensions.get("ouderkamer.sms")
    if transport is None:
        transport = current_app.extensions["ouderkamer.sms"] = _transport_from_config(current_app.config)
    return transport


def default_transport(config: Mapping) -> str:
    """The transport name when SMS_TRANSPORT is unset: http with a gateway URL, twilio with an account, else log."""
    if config.get("SMS_GATEWAY_URL"):
        return "http"
    return "twilio" if config.get("TWILIO_ACCOUNT_SID") else "log"


def _transport_from_config(config: Mapping) -> Transport:
    sender = config.get("SMS_SENDER") or ""
    choice = config.get("SMS_TRANSPORT") or default_transport(config)
    timeout = float(config.get("SMS_TIMEOUT") or 10)
    if choice == "memory":
        return MemorySmsTransport(sender)
    if choice == "log":
        return LogSmsTransport(sender)
    if choice == "twilio":
        return TwilioTransport(config["TWILIO_ACCOUNT_SID"], config["TWILIO_AUTH_TOKEN"], sender=sender,
                               messaging_service_sid=config.get("TWILIO_MESSAGING_SERVICE_SID") or None,
                               whatsapp_from=config.get("WHATSAPP_FROM") or None,
                               api_url=config.get("TWILIO_API_URL") or TWILIO_API_URL, timeout=timeout)
    if choice != "http":
        raise SmsError(f"SMS_TRANSPORT {choice!r} is not one of memory, log, http, twilio", transient=False)
    return HttpSmsTransport(config["SMS_GATEWAY_URL"], config.get("SMS_GATEWAY_TOKEN"), sender, timeout)


def send_sms(message: SmsMessage) -> None:
    """Send the SMS through the app's transport (network when a gateway is set); raises SmsError."""
    get_sms_transport().send(message)


# --- WhatsApp templates ---------------------------------------------------------------------------------------


def parse_whatsapp_templates(value: str | None) -> dict[tuple[str, str], str]:
    """WHATSAPP_TEMPLATES (JSON text, or the path of a JSON file) as {(kind, language): Content SID}.

    The JSON maps a message kind to its approved template per language: {"reminder": {"nl": "HX…", "ar": "HX…"}}.
    Raises ValueError saying what is wrong.
    """
    if not value or not value.strip():
        return {}
    text = value
    if not value.lstrip().startswith("{"):
        path = Path(value.strip())
        if not path.is_file():
            raise ValueError(f"{value!r} is neither a JSON object nor a readable file")
        text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"not valid JSON: {exc}") from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise ValueError('give a JSON object of objects, e.g. {"reminder": {"nl": "HX…"}}')
    templates = {}
    for kind, per_language in data.items():
        for language, sid in per_language.items():
            if not isinstance(sid, str) or not sid.strip():
                raise ValueError(f"{kind}.{language}: the Content SID must be a non-empty string")
            templates[(kind, language)] = sid.strip()
    return templates


def whatsapp_template(kind: str, language: str) -> str | None:
    """The Content SID of the approved template for a message kind in a language, or None (reads config)."""
    return parse_whatsapp_templates(current_app.config.get("WHATSAPP_TEMPLATES")).get((kind, language))


def send_whatsapp(message: WhatsAppMessage) -> None:
    """Send the template message through the app's transport (network with Twilio); raises SmsError."""
    get_sms_transport().send(message)


def send_to_phone(channel: str, to_e164: str, *, text: str, kind: str, language: str,
                  variables: Mapping[str, str], sms_instead: bool = False) -> None:
    """Send `text` as an SMS (channel "sms"), or the WhatsApp template for `kind` in `language` filled with
    `variables` (channel "whatsapp"); raises SmsError, MissingTemplateError when no template is configured
    (unless `sms_instead`, which sends `text` as an SMS to the same number then)."""
    if channel == "sms":
        send_sms(SmsMessage(to_e164=to_e164, text=text))
        return
    if channel != "whatsapp":
        raise SmsError(f"unknown phone channel {channel!r}", transient=False)
    content_sid = whatsapp_template(kind, language)
    if content_sid is None and sms_instead:
        logger.warning("no WhatsApp template for %r in %r: sent as SMS instead", kind, language)
        send_sms(SmsMessage(to_e164=to_e164, text=text))
        return
    if content_sid is None:
        raise MissingTemplateError(kind, language)
    send_whatsapp(WhatsAppMessage(to_e164=to_e164, content_sid=content_sid, variables=variables))
