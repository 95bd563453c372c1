"""All configuration, read once in ``main()`` from ``SMARTNOTES_*`` variables (and a .env file).

Tests and embedding code build ``Settings(...)`` directly; nothing reads the environment at
import time.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "smartnotes"


def _words(value: str) -> list[str]:
    return [word for word in value.replace(",", " ").split() if word]


if TYPE_CHECKING:
    from smartnotes.storage.database import Pool
    from smartnotes.storage.sealed import Sealer


class CallsSettings(BaseModel):
    """The internal calling tool's webhook: ``SMARTNOTES_CALLS__SECRETS`` and friends."""

    # The signing secrets, comma-separated (32+ characters each): two during a rotation.
    secrets: SecretStr | None = None
    # The tenant the calling tool's reps belong to.
    tenant: str = Field(default="default", min_length=1)
    tolerance: int = Field(default=300, ge=30, le=900)
    max_transcript_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    max_audio_bytes: int = Field(default=300 * 1024 * 1024, ge=1024)
    # Hosts an ``audio_url`` may point at (HTTPS only), space- or comma-separated.
    audio_hosts: str = ""
    # A CA bundle for those hosts when they use an internal CA.
    audio_ca_file: Path | None = None
    download_timeout: float = Field(default=120.0, gt=0)

    def secret_list(self) -> list[str]:
        return _words(self.secrets.get_secret_value()) if self.secrets else []

    def host_list(self) -> frozenset[str]:
        return frozenset(host.lower() for host in _words(self.audio_hosts))

    @field_validator("secrets")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and any(len(s) < 32 for s in _words(value.get_secret_value())):
            raise ValueError("every calling-tool secret must be at least 32 characters")
        return value


class SiteSettings(BaseModel):
    """The pages the Teams app package links to (``/``, ``/privacy``, ``/terms``):
    ``SMARTNOTES_SITE__*``. A URL sends readers to the company's own page; a file is shown as
    the text of ours; neither: a plain statement of what the service does with call data."""

    privacy_url: str | None = None
    terms_url: str | None = None
    privacy_file: Path | None = None
    terms_file: Path | None = None
    # Who runs this deployment, named on the pages (and in the manifest: ``manifest build``).
    operator: str = "your organization"


class RetentionSettings(BaseModel):
    """How long what a call leaves behind is kept: ``SMARTNOTES_RETENTION__*`` (days)."""

    # Stored transcripts and recordings (and Graph downloads).
    transcript_days: int = Field(default=30, ge=1, le=3650)
    # Runs with their tasks, decisions, feedback and notifications.
    run_days: int = Field(default=365, ge=1, le=3650)
    # The audit log.
    audit_days: int = Field(default=730, ge=1, le=3650)
    # Usage records: billing records, kept longer than the runs they describe.
    usage_days: int = Field(default=730, ge=1, le=3650)


class CohortLimit(BaseModel):
    """One cohort's limits (null: unlimited); a field left out is the ``*`` entry's."""

    model_config = ConfigDict(extra="forbid")

    calls_per_day: int | None = Field(default=None, ge=0)
    claude_tokens_per_month: int | None = Field(default=None, ge=0)

    def over(self, default: CohortLimit) -> CohortLimit:
        """These limits, with the ones left out taken from ``default``."""
        return CohortLimit(
            **{
                name: getattr(self if name in self.model_fields_set else default, name)
                for name in CohortLimit.model_fields
            }
        )


# Reps in no cohort, or one not listed: a busy rep's day, with room; a month of such days of
# hour-long calls (about 10,000 tokens each), with room.
DEFAULT_LIMIT = CohortLimit(calls_per_day=40, claude_tokens_per_month=5_000_000)


class PriceSettings(BaseModel):
    """What usage costs, for the estimate per seat: ``SMARTNOTES_USAGE__PRICES__*``. Whisper
    and the local model run on the operator's own machines: 0 unless priced here."""

    claude_input_per_mtok: float = Field(default=3.0, ge=0)
    claude_output_per_mtok: float = Field(default=15.0, ge=0)
    audio_per_minute: float = Field(default=0.0, ge=0)
    local_model_per_hour: float = Field(default=0.0, ge=0)
    currency: str = Field(default="USD", min_length=1, max_length=12)


class UsageSettings(BaseModel):
    """Metering per seat and the limits per persona cohort: ``SMARTNOTES_USAGE__*``.

    ``limits`` maps a cohort to its limits, ``*`` for reps in no cohort or one not listed (a
    limit left out of an entry is the ``*`` entry's, and one left out of ``*`` the built-in
    default's); past a limit, a rep's calls are still processed, with the local extractor instead of
    Claude (see ``smartnotes.usage.limits``)."""

    limits: dict[str, CohortLimit] = Field(default_factory=lambda: {"*": DEFAULT_LIMIT})
    prices: PriceSettings = Field(default_factory=PriceSettings)

    @field_validator("limits")
    @classmethod
    def _cohort_labels(cls, value: dict[str, CohortLimit]) -> dict[str, CohortLimit]:
        # Stored cohorts are lower case with single spaces (smartnotes.directory.check_cohort).
        cleaned = {" ".join(key.strip().lower().split()): limit for key, limit in value.items()}
        if "" in cleaned:
            raise ValueError("a cohort name is empty (use '*' for reps in no cohort)")
        cleaned["*"] = cleaned["*"].over(DEFAULT_LIMIT) if "*" in cleaned else DEFAULT_LIMIT
        return cleaned


class SuccessSettings(BaseModel):
    """How the success metrics count: ``SMARTNOTES_SUCCESS__*`` (see ``smartnotes.insights``)."""

    # A rep is active over this many days when they worked with their notes on at least
    # ``active_share`` as many days as they had calls.
    window_days: int = Field(default=30, ge=7, le=90)
    active_share: float = Field(default=0.5, gt=0, le=1)
    # The adoption rate (active reps over seats) the tenant aims for.
    adoption_target: float = Field(default=0.6, gt=0, le=1)


class ReviewSettings(BaseModel):
    """The post-call review page the CRM embeds: ``SMARTNOTES_REVIEW__*``."""

    # Signs the page's tokens and is shared with the CRM that mints them (32+ characters);
    # empty: a key generated in the data directory (``smartnotes admin review-link``).
    token_secret: SecretStr | None = None
    # Origins allowed to frame the page (the CRM), space- or comma-separated; empty: none.
    frame_ancestors: str = ""
    # The address reps reach the service at, for review links; empty: http://HOST:PORT.
    public_url: str = ""
    # What happens to notes a rep never opens: "review" keeps them for the rep; "auto" saves
    # them by the same rule as the Save button once they have been ready this many hours.
    # Tenants and reps override it (``smartnotes admin tenant save-mode`` / ``user save-mode``).
    save_mode: Literal["review", "auto"] = "review"
    auto_save_after_hours: float = Field(default=24.0, gt=0, le=24 * 30)

    def ancestors(self) -> list[str]:
        return _words(self.frame_ancestors)


class BotSettings(BaseModel):
    """The Teams bot (``/api/messages``): ``SMARTNOTES_BOT__*``. No app id: the bot is off."""

    # The Entra app registration the bot runs as (the manifest's botId).
    app_id: str = ""
    app_password: SecretStr | None = None
    # Inbound: who signs the activities Teams sends, and which issuers are accepted.
    openid_metadata_url: str = "https://login.botframework.com/v1/.well-known/openidconfiguration"
    issuers: str = "https://api.botframework.com"
    # Outbound: the bot's own token for the Bot Connector, from Entra through azure-identity:
    # the app's secret (``secret``), or the Azure resource's managed identity
    # (``managed_identity``, an Azure Bot of type UserAssignedMSI: ``app_id`` is its client id).
    auth: Literal["secret", "managed_identity"] = "secret"
    # ``botframework.com`` for a multi-tenant bot; the Entra tenant id for a single-tenant one.
    token_tenant: str = "botframework.com"  # noqa: S105 - a tenant name
    authority_host: str = "https://login.microsoftonline.com"
    # For a sign-in authority Microsoft does not list (Azure Stack): skip its discovery check.
    disable_instance_discovery: bool = False
    # A CA bundle trusted for the token endpoint (a TLS-inspecting proxy).
    ca_file: Path | None = None
    token_scope: str = "https://api.botframework.com/.default"  # noqa: S105
    # The tenant (in our seat table) Teams users belong to; with ``aad_tenant_id`` set,
    # activities from any other Microsoft 365 tenant are refused.
    tenant: str = Field(default="default", min_length=1)
    aad_tenant_id: str = ""
    # At most one card update per run in this many seconds: a fast run does not flood the chat.
    card_update_interval: float = Field(default=1.5, ge=0)

    def issuer_list(self) -> list[str]:
        return _words(self.issuers)

    @property
    def enabled(self) -> bool:
        return bool(self.app_id)


class BriefSettings(BaseModel):
    """Pre-meeting briefs in the rep's Teams chat: ``SMARTNOTES_BRIEF__*``. Sent only where
    both the bot and Graph are configured; ``brief <customer>`` in the chat answers either way."""

    # The look-ahead over reps' calendars that sends a brief before each customer meeting.
    enabled: bool = True
    # How long before the meeting starts its brief arrives.
    lead_minutes: int = Field(default=15, ge=1, le=240)


class SearchSettings(BaseModel):
    """Search across calls: ``SMARTNOTES_SEARCH__*``. Words are always matched by the
    database's full-text index; with an embeddings endpoint, segments are also ranked by
    meaning and the two rankings merged. No URL: words only, and nothing leaves the machine."""

    # An OpenAI-compatible server's base URL (``/v1/embeddings`` is posted to): OpenAI's own,
    # llama.cpp's llama-server with --embeddings, vLLM, text-embeddings-inference.
    embeddings_url: str = ""
    embeddings_model: str = ""
    embeddings_key: SecretStr | None = None
    # Asked of the server (OpenAI's ``dimensions``) when set; otherwise the first answer's.
    embeddings_dimensions: int | None = Field(default=None, ge=1, le=16000)
    # Texts per request when indexing, and how long one request may take.
    embeddings_batch: int = Field(default=32, ge=1, le=2048)
    embeddings_timeout: float = Field(default=30.0, gt=0, le=600)
    # A search waits this long for its question's vector, then answers by words alone.
    embeddings_query_timeout: float = Field(default=5.0, gt=0, le=60)
    # Cosine similarity below which a segment is no match by meaning (model-dependent).
    embeddings_min_similarity: float = Field(default=0.3, ge=-1, le=1)

    @property
    def embeddings(self) -> bool:
        return bool(self.embeddings_url)

    @field_validator("embeddings_url")
    @classmethod
    def _embeddings_url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("the embeddings URL must start with http:// or https://")
        return value

    @model_validator(mode="after")
    def _embeddings_model(self) -> SearchSettings:
        if self.embeddings_url and not self.embeddings_model.strip():
            raise ValueError(
                "an embeddings URL needs its model: set SMARTNOTES_SEARCH__EMBEDDINGS_MODEL"
            )
        return self


class GraphSettings(BaseModel):
    """Teams meetings through Microsoft Graph: ``SMARTNOTES_GRAPH__*``. No client id: off."""

    # The Entra app registration (often the bot's) and how it proves who it is.
    tenant_id: str = ""
    client_id: str = ""
    auth: Literal["secret", "certificate", "managed_identity"] = "secret"
    client_secret: SecretStr | None = None
    certificate_path: Path | None = None
    certificate_password: SecretStr | None = None
    authority_host: str = "https://login.microsoftonline.com"
    # For a sign-in authority Microsoft does not list (Azure Stack): skip its discovery check.
    disable_instance_discovery: bool = False
    # Graph itself (a national cloud has its own) and a CA bundle for a TLS-inspecting proxy.
    base_url: str = "https://graph.microsoft.com/v1.0"
    ca_file: Path | None = None
    # The tenant (in our seat table) whose licensed users' meetings are fetched.
    tenant: str = Field(default="default", min_length=1)
    # Checked on every change notification; 32+ characters, random.
    client_state: SecretStr | None = None
    # The public https address Graph posts to; empty: the review page's public URL.
    notification_url: str = ""
    # Rich notifications (resource data in the notification): a PEM with the certificate and
    # its private key, and the id Graph echoes back to name it.
    encryption_certificate_path: Path | None = None
    encryption_certificate_id: str = ""
    # Subscriptions last at most three days for transcripts: renewed this long before expiry.
    subscription_minutes: int = Field(default=4200, ge=60, le=4320)
    renew_before_minutes: int = Field(default=720, ge=5)
    # The safety net for lost notifications: a delta pass over licensed organizers' transcripts.
    catchup_minutes: float = Field(default=30.0, gt=0)
    # After a meeting ends, how long to keep looking for its transcript (they can lag).
    poll_first_seconds: float = Field(default=30.0, gt=0)
    poll_max_seconds: float = Field(default=600.0, gt=0)
    poll_window_minutes: float = Field(default=120.0, gt=0)
    # A meeting without a transcript this long after its end is transcribed from its recording.
    recording_after_minutes: float = Field(default=15.0, ge=0)
    # The first catch-up for an organizer looks back this far; later ones follow the delta.
    catchup_lookback_hours: float = Field(default=48.0, gt=0)
    # Microsoft's signing keys for the validationTokens of rich notifications.
    jwks_url: str = "https://login.microsoftonline.com/common/discovery/v2.0/keys"
    max_retries: int = Field(default=3, ge=0, le=10)
    max_retry_delay: float = Field(default=30.0, gt=0, le=180)
    max_recording_bytes: int = Field(default=2 * 1024 * 1024 * 1024, ge=1024)

    @property
    def enabled(self) -> bool:
        return bool(self.client_id)

    @field_validator("client_state")
    @classmethod
    def _state_long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        # Graph refuses a clientState over 128 characters when the subscription is created.
        if value is not None and not 32 <= len(value.get_secret_value()) <= 128:
            raise ValueError("the Graph client state must be 32 to 128 characters")
        return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SMARTNOTES_",
        env_file=".env",
        env_file_encoding="utf-8",
        env_nested_delimiter="__",
        # An empty variable is an unset one: compose files and templates pass optional settings
        # through as "", which must not become a model path of "." or an empty API key.
        env_ignore_empty=True,
        extra="ignore",
    )

    # Summarizer: a GGUF chat model for llama.cpp. Empty: the bundled SmolLM2-135M demo model.
    summarizer_model: Path | None = None
    summarizer_context: int = Field(default=8192, ge=1024, le=131072)
    summarizer_threads: int | None = Field(default=None, ge=1)
    summary_max_tokens: int = Field(default=400, ge=32, le=4096)
    # An OpenAI-compatible model server (llama.cpp's llama-server, llama_cpp.server, vLLM) for
    # the summary and the local extractor instead of llama.cpp in this process; its context
    # must hold SMARTNOTES_SUMMARIZER_CONTEXT tokens. Empty: the model loads here.
    summarizer_url: str = ""
    # The served model's name (default: the first the server lists), an API key if the server
    # wants one, and how it takes a JSON schema: "json_object" with a schema (llama.cpp's
    # servers) or "json_schema" (vLLM, OpenAI's own form).
    summarizer_server_model: str = ""
    summarizer_server_key: SecretStr | None = None
    summarizer_server_schema: Literal["json_object", "json_schema"] = "json_object"

    # ASR: a CTranslate2 Whisper folder for faster-whisper. Empty: the bundled tiny.en model.
    asr_model: Path | None = None
    asr_language: str | None = None
    asr_compute_type: str = "int8"
    # Whisper's threads; empty: every core this process may use but one (as for the summarizer).
    asr_threads: int | None = Field(default=None, ge=1)

    # Task extraction with Claude. No key: the local extractor runs and says so.
    anthropic_api_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "SMARTNOTES_ANTHROPIC_API_KEY", "ANTHROPIC_API_KEY", "anthropic_api_key"
        ),
    )
    anthropic_base_url: str | None = None
    extractor_model: str = "claude-sonnet-4-6"
    extractor_temperature: float = Field(default=0.1, ge=0.0, le=0.2)
    extractor_timeout: float = Field(default=60.0, gt=0)
    extractor_max_retries: int = Field(default=2, ge=0, le=10)
    local_extractor_max_tasks: int = Field(default=8, ge=1, le=32)

    # Transcripts and recordings encrypted at rest: "id:base64" AES-256 keys, comma-separated,
    # the first sealing new files (storage/sealed.py says how to rotate). Empty: kept as is.
    storage_keys: SecretStr | None = None

    # Storage: a SQLite file in the data directory unless a database URL is given
    # (postgresql://user:password@host/db in production).
    data_dir: Path = Field(default_factory=lambda: _default_data_dir())
    database_url: SecretStr | None = None

    # The CRM that notes and tasks are written to, and each adapter's options:
    # SMARTNOTES_CRM__REST__BASE_URL=https://crm.internal sets crm["rest"]["base_url"].
    crm_adapter: str = "embedded"
    crm: dict[str, dict[str, Any]] = Field(default_factory=dict)
    # Which third-party adapter plugins may load (comma-separated names); empty: all of them.
    crm_plugins: str = ""

    # The service (`smartnotes serve`).
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    # Connections the kernel holds until the service accepts them. A burst larger than this
    # (reps opening their pages after a deploy) is dropped and retried by TCP a second later.
    listen_backlog: int = Field(default=2048, ge=16, le=65535)
    workers: int = Field(default=2, ge=1, le=64)
    # PostgreSQL connections per process (see docs/configuration.md, "Sizing the pool").
    db_pool_size: int = Field(default=20, ge=1, le=500)
    db_pool_overflow: int = Field(default=20, ge=0, le=500)
    db_pool_timeout: float = Field(default=5.0, gt=0, le=120)
    run_time_limit: float = Field(default=3600.0, gt=0)
    shutdown_grace: float = Field(default=20.0, ge=0)
    # Proxies whose X-Forwarded-For/-Proto/-Host are believed: addresses or networks, or "*"
    # where only the ingress can reach the service. Empty: the headers are ignored.
    forwarded_allow_ips: str = ""
    # OpenTelemetry traces: "otlp" exports them (OTEL_EXPORTER_OTLP_ENDPOINT...); "off": none.
    tracing: Literal["off", "otlp"] = "off"
    # Log lines: "text" for a terminal, "json" (one object per line) for a log pipeline.
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # The bearer token Prometheus scrapes ``/metrics`` with; unset: ``/metrics`` answers 404.
    metrics_token: SecretStr | None = None
    # Finished jobs stay listed (``smartnotes jobs list``) this long; failed ones until removed.
    jobs_keep_hours: int = Field(default=72, ge=1, le=24 * 365)
    # Signs the API's bearer tokens (32+ characters); empty: a key generated in the data dir.
    api_token_secret: SecretStr | None = None

    calls: CallsSettings = Field(default_factory=CallsSettings)
    review: ReviewSettings = Field(default_factory=ReviewSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    usage: UsageSettings = Field(default_factory=UsageSettings)
    success: SuccessSettings = Field(default_factory=SuccessSettings)
    site: SiteSettings = Field(default_factory=SiteSettings)
    bot: BotSettings = Field(default_factory=BotSettings)
    graph: GraphSettings = Field(default_factory=GraphSettings)
    brief: BriefSettings = Field(default_factory=BriefSettings)
    search: SearchSettings = Field(default_factory=SearchSettings)
    # Accept bot activities without a verified token. Local experiments only: anyone who can
    # reach the service could then act as any Teams user. Logged as a warning at every start.
    dangerously_allow_unauthenticated: bool = False

    prompts_dir: Path | None = None
    # The team's own material the deal coach may cite (battlecards, pricing and security
    # answers): text or Markdown files, at the top for every tenant, in a folder named after a
    # tenant id for that tenant. Empty: none.
    coach_material_dir: Path | None = None
    recall_check: bool = True
    max_call_minutes: int = Field(default=180, ge=1)
    default_timezone: str = "UTC"
    # The terms of use in force, named by the date they took effect (shown on ``/terms``): a
    # tenant's calls are processed only once someone agreed to this version for it
    # (``smartnotes admin tenant on TENANT --accept-terms``); a new version needs new consent.
    terms_version: str = Field(
        default="2026-11-01", min_length=1, max_length=40, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
    )

    @field_validator("default_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @field_validator("summarizer_url")
    @classmethod
    def _server_url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("the model server's URL must start with http:// or https://")
        return value

    @field_validator("storage_keys")
    @classmethod
    def _storage_keys(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            from smartnotes.storage.sealed import parse_keys

            if not parse_keys(value.get_secret_value()):
                raise ValueError("no storage key given")
        return value

    def sealer(self) -> Sealer | None:
        from smartnotes.storage.sealed import sealer_for

        return sealer_for(self.storage_keys.get_secret_value() if self.storage_keys else None)

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _proxies(cls, value: str) -> str:
        from smartnotes.web.proxy import TrustedProxies

        TrustedProxies.parse(value)  # its ValueError names the entry
        return value

    @field_validator("database_url")
    @classmethod
    def _usable_database(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and value.get_secret_value().startswith("sqlite"):
            from smartnotes.storage.sqlite import sqlite_database

            sqlite_database(value.get_secret_value())  # its ValueError names the problem
        return value

    def public_url(self) -> str:
        return (self.review.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    def pool(self) -> Pool:
        from smartnotes.storage.database import Pool

        return Pool(self.db_pool_size, self.db_pool_overflow, self.db_pool_timeout)

    def database(self) -> str:
        """The SQLAlchemy URL of the service's database."""
        from smartnotes.storage.database import database_url

        url = self.database_url.get_secret_value() if self.database_url else None
        return database_url(url, self.data_dir)

    @field_validator("anthropic_api_key", mode="before")
    @classmethod
    def _empty_key_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value
