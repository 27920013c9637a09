"""Channels that write each message to a folder instead of sending it (development, demos).

Each message is written to a temporary file beside its target and moved into place with
`os.replace`, so a reader never sees a half-written message. An email's file is named after its
Message-ID, so a retried send replaces its earlier file rather than adding a second one.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import tempfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from leadsift.kit.clock import utcnow
from leadsift.outreach.channels.base import (
    EmailChannel,
    OutgoingEmail,
    OutgoingSms,
    SendResult,
    SmsChannel,
)
from leadsift.outreach.channels.email_message import build_email, message_bytes

_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+=-]{0,150}")
TEMP_PREFIX = ".partial-"


def write_atomically(target: Path, data: bytes) -> None:
    """Write DATA to TARGET through a synced temporary file beside it."""
    handle, name = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=target.parent)
    temp = Path(name)
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def email_file_name(message_id: str) -> str:
    """The file of a Message-ID: the id itself when it is a safe file name, else its hash."""
    bare = message_id.strip().strip("<>")
    if _SAFE_NAME.fullmatch(bare):
        return f"{bare}.eml"
    return f"{hashlib.sha256(message_id.encode()).hexdigest()[:40]}.eml"


def _written(directory: Path, name: str, data: bytes) -> SendResult:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        write_atomically(directory / name, data)
    except OSError as error:
        return SendResult("soft_failure", f"cannot write {directory / name}: {error}")
    return SendResult("sent", f"written to {directory / name}", name)


class FileEmailChannel(EmailChannel):
    """Writes each email, fully built, as an .eml file in DIRECTORY."""

    name = "file"

    def __init__(
        self,
        directory: str | Path,
        *,
        from_address: str = "leadsift@localhost",
        reply_to: str | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.directory = Path(directory)
        self._from_address = from_address
        self._reply_to = reply_to
        self._clock = clock

    def open(self) -> None:
        """Create the folder if needed."""
        self.directory.mkdir(parents=True, exist_ok=True)

    def send(self, email: OutgoingEmail) -> SendResult:
        """Write EMAIL to <message id>.eml; provider_id is the file name."""
        message = build_email(
            email, from_address=self._from_address, reply_to=self._reply_to, now=self._clock()
        )
        return _written(self.directory, email_file_name(email.message_id), message_bytes(message))


class FileSmsChannel(SmsChannel):
    """Writes each SMS as a .json file in DIRECTORY."""

    name = "file"

    def __init__(self, directory: str | Path, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.directory = Path(directory)
        self._clock = clock

    def open(self) -> None:
        """Create the folder if needed."""
        self.directory.mkdir(parents=True, exist_ok=True)

    def send(self, sms: OutgoingSms) -> SendResult:
        """Write SMS to <time>-<hash>.json; provider_id is the file name."""
        now = self._clock()
        content = {"to": sms.to, "sender": sms.sender, "text": sms.text, "at": now.isoformat()}
        data = json.dumps(content, ensure_ascii=False, indent=2).encode()
        digest = hashlib.sha256(data).hexdigest()[:12]
        # Time first so a listing reads in order; the random part keeps equal messages apart.
        name = f"{now:%Y%m%dT%H%M%S%f}-{digest}-{secrets.token_hex(3)}.json"
        return _written(self.directory, name, data)
