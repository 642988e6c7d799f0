"""Where alerts go: an incoming webhook (JSON over HTTPS) and e-mail (SMTP).

>>> from toefl_access.ops.notify import Message, Webhook, deliver
>>> msg = Message(event="test", status="open", text="Hello", database="sqlite:///s.db")
>>> deliver(msg, [Webhook("https://hooks.slack.com/services/...")])   # doctest: +SKIP
{'webhook': 'ok'}

The webhook gets ``{"event", "status", "text", "database", "details"}``: a top-level
``text`` is what Slack and Microsoft Teams incoming webhooks show as the message. E-mail
goes through ``smtplib`` with STARTTLS whenever the server offers it (port 465: TLS from
the first byte), and logs in when a user and a password file are set; the password is read
from its file at each send and never logged, and it is never sent over a connection without
TLS, except to a server on this machine (loopback).

A channel that fails raises :class:`~toefl_access.errors.AlertError` with one
sentence; :func:`deliver` turns that into the text kept in the alerts log and never raises.
A webhook URL, which may hold a secret token, appears in messages only masked.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import smtplib
import socket
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any, Protocol

import httpx

from .._version import __version__
from ..api.hosts import is_loopback
from ..errors import AlertError, printable
from ..settings import AlertSettings, mask_webhook

__all__ = ["Channel", "Email", "Message", "Webhook", "channels_for", "deliver"]

log = logging.getLogger("toefl_access.ops.notify")

#: Seconds a channel may take to connect, or between two reads: a dead receiver must not
#: hold up the sync that sends the alert.
TIMEOUT = 10.0
#: Characters of a receiver's error answer kept in the message.
_ANSWER_CHARS = 200


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    """One alert as sent: the event (``key_refused``, ...), its status (``open`` or
    ``resolved``), a text for people, the database it is about (password masked) and
    details for machines (JSON-able)."""

    event: str
    status: str
    text: str
    database: str
    details: Mapping[str, Any] = field(default_factory=dict)
    at: dt.datetime | None = None
    host: str = field(default_factory=socket.gethostname)

    def full_text(self) -> str:
        """The text, then which feed it is about (one database, on one machine)."""
        return f"{self.text}\n(toefl-access, database {self.database} on {self.host})"

    def payload(self) -> dict[str, Any]:
        """The webhook's JSON body."""
        return {
            "event": self.event,
            "status": self.status,
            "text": self.full_text(),
            "database": self.database,
            "details": dict(self.details),
        }

    def subject(self) -> str:
        """E.g. ``[toefl-access] key refused (open)``."""
        return f"[toefl-access] {self.event.replace('_', ' ')} ({self.status})"

    def body(self) -> str:
        """The e-mail's text: the message, where it comes from, then the details."""
        lines = [self.text, "", f"Event: {self.event} ({self.status})"]
        if self.at is not None:
            lines.append(f"At: {self.at.astimezone(dt.UTC):%Y-%m-%d %H:%M:%S} UTC")
        lines += [f"Database: {self.database}", f"Host: {self.host}"]
        if self.details:
            lines += ["", "Details:", json.dumps(dict(self.details), indent=2, default=str)]
        return "\n".join(lines) + "\n"


class Channel(Protocol):
    """Something that sends a :class:`Message`, or raises AlertError saying why not."""

    @property
    def name(self) -> str: ...

    def describe(self) -> str: ...

    def send(self, message: Message) -> None: ...


class Webhook:
    """POSTs the message as JSON to an incoming-webhook URL (Slack, Teams, any receiver).

    ``transport`` is an httpx transport (tests); any answer but 2xx is a failure.
    """

    name = "webhook"

    def __init__(
        self, url: str, *, timeout: float = TIMEOUT, transport: httpx.BaseTransport | None = None
    ) -> None:
        self._url = url
        self.timeout = timeout
        self._transport = transport

    def __repr__(self) -> str:
        return f"Webhook({mask_webhook(self._url)!r})"

    def describe(self) -> str:
        return f"webhook {mask_webhook(self._url)}"

    def send(self, message: Message) -> None:
        where = self.describe()
        try:
            with httpx.Client(
                timeout=httpx.Timeout(self.timeout),
                transport=self._transport,
                follow_redirects=False,
                headers={"user-agent": f"toefl-access/{__version__}"},
            ) as client:
                answer = client.post(self._url, json=message.payload())
        except httpx.TimeoutException:
            raise AlertError(f"{where}: no answer within {self.timeout:g} s") from None
        except httpx.HTTPError as exc:
            raise AlertError(f"{where}: {self._scrub(exc)}") from None
        if not 200 <= answer.status_code < 300:
            said = self._clean(answer.text[:_ANSWER_CHARS].strip())
            raise AlertError(
                f"{where} answered HTTP {answer.status_code} {answer.reason_phrase}"
                + (f": {said}" if said else "")
            )

    def _scrub(self, exc: Exception) -> str:
        text = str(exc) or type(exc).__name__
        cause = exc.__context__ or exc.__cause__
        if isinstance(cause, OSError) and cause.strerror:
            text = cause.strerror.lower()
        return self._clean(text)

    def _clean(self, text: str) -> str:
        """``text`` without the URL (which may hold a secret) and without control codes."""
        return printable(text.replace(self._url, mask_webhook(self._url))).replace("\n", " ")


class Email:
    """Sends the message by SMTP to ``to``.

    STARTTLS whenever the server offers it (``ssl_context``: the certificates trusted, the
    system's by default); port 465 is TLS from the first byte. With ``user``, logs in with
    the password read from ``password_file`` at each send; a password is only sent over
    TLS, or to a server on this machine.
    """

    name = "email"

    def __init__(
        self,
        *,
        to: Sequence[str],
        host: str = "localhost",
        port: int = 25,
        sender: str,
        user: str | None = None,
        password_file: str | None = None,
        timeout: float = TIMEOUT,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.to = tuple(to)
        self.host = host
        self.port = port
        self.sender = sender
        self.user = user
        self.password_file = password_file
        self.timeout = timeout
        self._context = ssl_context

    def __repr__(self) -> str:
        return f"Email(to={list(self.to)!r}, host={self.host!r}, port={self.port})"

    def describe(self) -> str:
        return f"e-mail to {', '.join(self.to)} via {self.host}:{self.port}"

    def send(self, message: Message) -> None:
        mail = EmailMessage()
        mail["Subject"] = message.subject()
        mail["From"] = self.sender
        mail["To"] = ", ".join(self.to)
        mail["Date"] = format_datetime(message.at or dt.datetime.now(dt.UTC))
        mail["Message-ID"] = make_msgid(domain=self.sender.rpartition("@")[2] or None)
        mail.set_content(message.body())
        where = f"e-mail via {self.host}:{self.port}"
        try:
            refused = self._send(mail)
        except smtplib.SMTPAuthenticationError as exc:
            raise AlertError(
                f"{where}: the server refused the login of {self.user!r} ({_said(exc)}); "
                "check smtp_user and the password in smtp_password_file"
            ) from None
        except smtplib.SMTPRecipientsRefused as exc:
            raise AlertError(
                f"{where}: the server refused every recipient ({', '.join(exc.recipients)})"
            ) from None
        except (smtplib.SMTPResponseException, smtplib.SMTPSenderRefused) as exc:
            raise AlertError(f"{where}: the server answered {_said(exc)}") from None
        except ssl.SSLError as exc:
            raise AlertError(f"{where}: TLS failed ({exc.reason or exc})") from None
        except (smtplib.SMTPException, OSError) as exc:
            why = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            if isinstance(exc, TimeoutError | socket.timeout):
                why = f"no answer within {self.timeout:g} s"
            raise AlertError(f"{where}: {printable(str(why))}") from None
        if refused:
            log.warning("%s: the server refused %s", where, ", ".join(sorted(refused)))

    def _send(self, mail: EmailMessage) -> dict[str, Any]:
        context = self._context or ssl.create_default_context()
        smtp: smtplib.SMTP
        if self.port == 465:
            smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        with smtp:
            smtp.ehlo()
            secure = self.port == 465
            if not secure and smtp.has_extn("starttls"):
                smtp.starttls(context=context)
                smtp.ehlo()
                secure = True
            if self.user:
                if not secure and not is_loopback(self.host):
                    raise AlertError(
                        f"e-mail via {self.host}:{self.port}: the server does not offer "
                        "STARTTLS, and the password is not sent without TLS; use port 587 or "
                        "465, or a relay that takes mail without a login"
                    )
                smtp.login(self.user, self._password())
            return dict(smtp.send_message(mail))

    def _password(self) -> str:
        if not self.password_file:
            raise AlertError("smtp_user is set but smtp_password_file is not")
        try:
            with open(self.password_file, encoding="utf-8") as fh:
                password = fh.read().rstrip("\r\n")
        except OSError as exc:
            raise AlertError(
                f"cannot read smtp_password_file {self.password_file}: "
                f"{exc.strerror or type(exc).__name__}"
            ) from None
        except UnicodeDecodeError:
            raise AlertError(
                f"smtp_password_file {self.password_file} is not UTF-8 text"
            ) from None
        if not password:
            raise AlertError(f"smtp_password_file {self.password_file} is empty")
        return password


def _said(exc: smtplib.SMTPResponseException | smtplib.SMTPSenderRefused) -> str:
    text = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) \
        else str(exc.smtp_error)
    return f"{exc.smtp_code} {printable(text).strip()}"



def channels_for(
    settings: AlertSettings,
    *,
    transport: httpx.BaseTransport | None = None,
    ssl_context: ssl.SSLContext | None = None,
    timeout: float = TIMEOUT,
) -> list[Channel]:
    """The channels the settings configure (none, one or both)."""
    out: list[Channel] = []
    if settings.webhook:
        out.append(Webhook(settings.webhook, timeout=timeout, transport=transport))
    if settings.email_to:
        out.append(
            Email(
                to=settings.email_to, host=settings.smtp_host, port=settings.port,
                sender=settings.sender, user=settings.smtp_user,
                password_file=settings.smtp_password_file, timeout=timeout,
                ssl_context=ssl_context,
            )
        )  # fmt: skip
    return out


def deliver(message: Message, channels: Sequence[Channel]) -> dict[str, str]:
    """Send through every channel; ``{channel name: "ok" or why not}``. Never raises: a
    failing channel does not stop the others (the caller logs or shows the answers)."""
    out: dict[str, str] = {}
    for channel in channels:
        try:
            channel.send(message)
        except AlertError as exc:
            out[channel.name] = str(exc)
        except Exception as exc:  # a channel must never fail the caller (a sync)
            out[channel.name] = f"{channel.describe()}: {type(exc).__name__}"
        else:
            out[channel.name] = "ok"
            log.info("%s (%s) sent by %s", message.event, message.status, channel.describe())
            continue
        log.debug("%s (%s) not sent: %s", message.event, message.status, out[channel.name])
    return out
