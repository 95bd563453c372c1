"""Settings from the environment, as an operator writes them."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import create_async_engine

from crm_adapters.errors import AdapterConfigError
from crm_adapters.rest import RestCRM
from smartnotes.crm.build import build_crm
from smartnotes.settings import Settings


def test_defaults_need_no_account_and_no_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("ANTHROPIC_API_KEY", "SMARTNOTES_ANTHROPIC_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SMARTNOTES_DATA_DIR", str(tmp_path / "data"))
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.anthropic_api_key is None
    assert settings.crm_adapter == "embedded"
    assert settings.database() == f"sqlite+aiosqlite:///{tmp_path / 'data' / 'smartnotes.db'}"


def test_nested_crm_options_and_unprefixed_anthropic_key(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-from-env")
    monkeypatch.setenv("SMARTNOTES_CRM_ADAPTER", "rest")
    monkeypatch.setenv("SMARTNOTES_CRM__REST__BASE_URL", "https://crm.internal.test")
    monkeypatch.setenv("SMARTNOTES_CRM__REST__AUTH_TOKEN", "t0ken")
    monkeypatch.setenv("SMARTNOTES_DATABASE_URL", "postgresql+asyncpg://u:p%40ss@db/smartnotes")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.anthropic_api_key is not None
    assert settings.anthropic_api_key.get_secret_value() == "sk-ant-from-env"
    assert "t0ken" not in repr(settings.anthropic_api_key)
    assert settings.database() == "postgresql+asyncpg://u:p%40ss@db/smartnotes"
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    adapter = build_crm(settings, engine)
    assert isinstance(adapter, RestCRM)
    assert adapter.options.base_url == "https://crm.internal.test"


def test_bad_settings_are_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SMARTNOTES_DEFAULT_TIMEZONE", "Mars/Olympus")
    with pytest.raises(ValidationError, match="unknown time zone"):
        Settings(_env_file=None)  # type: ignore[call-arg]
    monkeypatch.delenv("SMARTNOTES_DEFAULT_TIMEZONE")
    monkeypatch.setenv("SMARTNOTES_EXTRACTOR_TEMPERATURE", "0.7")
    with pytest.raises(ValidationError, match=r"less than or equal to 0\.2"):
        Settings(_env_file=None)  # type: ignore[call-arg]
    monkeypatch.delenv("SMARTNOTES_EXTRACTOR_TEMPERATURE")
    monkeypatch.setenv("SMARTNOTES_CRM_ADAPTER", "rest")
    monkeypatch.setenv("SMARTNOTES_CRM__REST__BASE_URI", "https://typo.test")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    with pytest.raises(AdapterConfigError, match="base_uri: Extra inputs are not permitted"):
        build_crm(settings, engine)


def test_a_sqlite_url_with_options_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(
        "SMARTNOTES_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'x.db'}?mode=ro"
    )
    with pytest.raises(ValidationError, match=r"file path only, not options \(mode\)"):
        Settings(_env_file=None)  # type: ignore[call-arg]
    assert not (tmp_path / "x.db").exists()


def test_an_empty_variable_is_an_unset_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """Compose files and templates pass optional settings through as empty strings."""
    for name in (
        "SMARTNOTES_SUMMARIZER_MODEL",
        "ANTHROPIC_API_KEY",
        "SMARTNOTES_CALLS__SECRETS",
        "SMARTNOTES_DATABASE_URL",
    ):
        monkeypatch.setenv(name, "")
    monkeypatch.setenv("SMARTNOTES_CALLS__TENANT", "northwind")
    settings = Settings()
    assert settings.summarizer_model is None
    assert settings.anthropic_api_key is None
    assert settings.calls.secrets is None
    assert settings.database_url is None
    assert settings.calls.tenant == "northwind"
