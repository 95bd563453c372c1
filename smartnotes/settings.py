"""All configuration, read once in ``main()`` from ``SMARTNOTES_*`` variables (and a .env file).

Tests and embedding code build ``Settings(...)`` directly; nothing reads the environment at
import time.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "smartnotes"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SMARTNOTES_",
        env_file=".env",
        env_file_encoding="utf-8",
        env_nested_delimiter="__",
        extra="ignore",
    )

    # Summarizer: a GGUF chat model for llama.cpp. Empty: the bundled SmolLM2-135M demo model.
    summarizer_model: Path | None = None
    summarizer_context: int = Field(default=8192, ge=1024, le=131072)
    summarizer_threads: int | None = Field(default=None, ge=1)
    summary_max_tokens: int = Field(default=400, ge=32, le=4096)

    # ASR: a CTranslate2 Whisper folder for faster-whisper. Empty: the bundled tiny.en model.
    asr_model: Path | None = None
    asr_language: str | None = None
    asr_compute_type: str = "int8"

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

    # Storage: a SQLite file in the data directory unless a database URL is given
    # (postgresql+asyncpg://user:password@host/db in production).
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
    workers: int = Field(default=2, ge=1, le=64)
    run_time_limit: float = Field(default=3600.0, gt=0)
    shutdown_grace: float = Field(default=20.0, ge=0)
    # Signs the API's bearer tokens (32+ characters); empty: a key generated in the data dir.
    api_token_secret: SecretStr | None = None

    prompts_dir: Path | None = None
    recall_check: bool = True
    max_call_minutes: int = Field(default=180, ge=1)
    default_timezone: str = "UTC"

    @field_validator("default_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    def database(self) -> str:
        """The SQLAlchemy URL of the service's database."""
        from smartnotes.storage.database import database_url

        url = self.database_url.get_secret_value() if self.database_url else None
        return database_url(url, self.data_dir)

    @field_validator("anthropic_api_key", mode="before")
    @classmethod
    def _empty_key_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value
