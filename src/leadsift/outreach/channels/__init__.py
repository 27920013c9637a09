"""Delivery channels (plugins): email over SMTP, SMS through an HTTP gateway, and files.

The settings choose the plugin (LEADSIFT_EMAIL_TRANSPORT, LEADSIFT_SMS_TRANSPORT); the outbox
worker only knows the `EmailChannel` and `SmsChannel` bases.
"""

from __future__ import annotations

from pathlib import Path

from leadsift.config import Settings
from leadsift.outreach.channels.base import (
    EmailChannel,
    OutgoingEmail,
    OutgoingSms,
    SendResult,
    SendStatus,
    SmsChannel,
)
from leadsift.outreach.channels.files import FileEmailChannel, FileSmsChannel
from leadsift.outreach.channels.sms_http import HttpSmsChannel
from leadsift.outreach.channels.smtp import SmtpChannel

__all__ = [
    "EmailChannel",
    "OutgoingEmail",
    "OutgoingSms",
    "SendResult",
    "SendStatus",
    "SmsChannel",
    "email_channel",
    "sms_channel",
]


def email_channel(settings: Settings) -> EmailChannel:
    """The email channel LEADSIFT_EMAIL_TRANSPORT names ("smtp", or "file" in outbox_dir/email)."""
    if settings.email_transport == "smtp":
        return SmtpChannel(settings)
    return FileEmailChannel(
        Path(settings.outbox_dir) / "email",
        from_address=settings.email_from,
        reply_to=settings.email_reply_to,
    )


def sms_channel(settings: Settings) -> SmsChannel:
    """The SMS channel LEADSIFT_SMS_TRANSPORT names ("http", or "file" in outbox_dir/sms)."""
    if settings.sms_transport == "http":
        return HttpSmsChannel(settings)
    return FileSmsChannel(Path(settings.outbox_dir) / "sms")
