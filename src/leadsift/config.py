"""Settings read from the environment (prefix LEADSIFT_) and from explicit overrides."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///./leadsift.db"


class Settings(BaseSettings):
    """Runtime settings; every field can be set with LEADSIFT_<NAME>."""

    model_config = SettingsConfigDict(env_prefix="LEADSIFT_", extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
    sqlite_busy_timeout_ms: int = 30_000
    # Servers checkpoint SQLite's write-ahead log in a thread of their own (set by the API).
    sqlite_background_checkpoints: bool = False
    default_region: str = "FR"
    # Imports larger than this many bytes are normalised in worker processes.
    import_parallel_min_bytes: int = 4_000_000
    import_workers: int = 2
    import_chunk_rows: int = 10_000
    # Up to this many stored contacts, an import keeps their identifiers' hashes in memory
    # (about 100 bytes each) and asks the database only about keys that may be owned.
    import_key_filter_max: int = 5_000_000
    # The REST API and the public tracking endpoints.
    api_max_body_bytes: int = 4_000_000
    # A file uploaded to /api/v1/imports/ (stored for the worker, then imported as a job).
    import_max_upload_bytes: int = 200_000_000
    tracking_max_body_bytes: int = 16_384
    # Public endpoints (tracking, forms): a burst per client IP, then a steady rate.
    tracking_burst: int = 60
    tracking_rate_per_second: float = 5.0
    # The REST API: a burst per API key, then a steady rate (429 with Retry-After beyond).
    api_burst: int = Field(default=200, ge=1)
    api_rate_per_second: float = Field(default=50.0, gt=0)
    # Events dated later than this after their arrival are refused (a sender's clock is off).
    event_future_tolerance_s: int = 300
    # The app's public URL (e.g. https://track.example.com): the base of the tracked links and
    # pixels `leadsift track` prints. (The script finds the app from its own src.)
    public_url: str | None = None
    # Outreach delivery. "file" writes each message to `outbox_dir` (development); "smtp" and
    # "http" deliver for real.
    email_transport: Literal["smtp", "file"] = "file"
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    # "starttls" upgrades a plain connection (port 587); "tls" is TLS from the start (port 465).
    smtp_security: Literal["none", "starttls", "tls"] = "none"
    # Login happens only when a username is set.
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    # Per network operation; a timeout after the message content was sent is "ambiguous".
    smtp_timeout_s: float = 30.0
    email_from: str = "leadsift@localhost"
    email_reply_to: str | None = None
    sms_transport: Literal["http", "file"] = "file"
    sms_gateway_url: str | None = None
    # Sent as the Authorization header's value (e.g. "Bearer ..." or "Basic ...").
    sms_gateway_auth: SecretStr | None = None
    # The gateway's JSON body; the placeholders {to}, {text} and {sender} are replaced inside
    # the parsed JSON's strings, so values are always JSON-escaped.
    sms_gateway_payload: str = '{"to": "{to}", "text": "{text}", "from": "{sender}"}'
    # Where the provider's message id is in its JSON answer (dots for nested keys); None: ignored.
    sms_gateway_id_field: str | None = "id"
    sms_timeout_s: float = 10.0
    sms_sender: str = "leadsift"
    # The file channels' folder (one .eml / .json file per message).
    outbox_dir: str = "./outbox"
