"""The deployment files say what the service reads: every setting is in the Azure parameters
file or set by the template, secrets only ever come from Key Vault, the values given are ones
the service starts with, and compose sets only settings that exist.

(The files themselves are linted by ``make infra-lint``: hadolint and checkov.)
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema.validators import validator_for
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from smartnotes.metrics import Metrics
from smartnotes.settings import Settings

ROOT = Path(__file__).parents[2]
BICEP = (ROOT / "infra" / "main.bicep").read_text(encoding="utf-8")
PARAMETERS = json.loads((ROOT / "infra" / "main.parameters.json").read_text(encoding="utf-8"))
COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
# Adapter options (SMARTNOTES_CRM__<ADAPTER>__<OPTION>) depend on the adapter chosen.
OPEN_ENDED = {"SMARTNOTES_CRM"}
# The template signs the bot and Graph in with its managed identity: no password or secret.
NOT_WITH_MANAGED_IDENTITY = {
    "SMARTNOTES_BOT__APP_PASSWORD",
    "SMARTNOTES_GRAPH__CLIENT_SECRET",
    "SMARTNOTES_GRAPH__CERTIFICATE_PASSWORD",
}


def environment_names(
    model: type[BaseModel], prefix: str = "SMARTNOTES_"
) -> Iterator[tuple[str, Any]]:
    for name, field in model.model_fields.items():
        kind = field.annotation
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            yield from environment_names(kind, f"{prefix}{name.upper()}__")
        else:
            yield f"{prefix}{name.upper()}", kind


SETTINGS = dict(environment_names(Settings))
SECRETS = {name for name, kind in SETTINGS.items() if "SecretStr" in str(kind)}
GIVEN: dict[str, str] = PARAMETERS["parameters"]["settings"]["value"]


def test_every_setting_is_in_the_parameters_file_or_set_by_the_template() -> None:
    in_template = set(re.findall(r"SMARTNOTES_[A-Z0-9_]+", BICEP))
    missing = sorted(
        set(SETTINGS) - OPEN_ENDED - NOT_WITH_MANAGED_IDENTITY - set(GIVEN) - in_template
    )
    assert not missing, f"not in infra/main.parameters.json nor set by infra/main.bicep: {missing}"
    assert not set(GIVEN) - set(SETTINGS), "the parameters file names settings that do not exist"


def test_secrets_come_from_key_vault_only() -> None:
    assert not SECRETS & set(GIVEN), "a secret in the parameters file would be in plain text"
    for name in ("SMARTNOTES_DATABASE_URL", "SMARTNOTES_REVIEW__TOKEN_SECRET"):
        assert re.search(rf"env: '{name}'", BICEP), name
    # Every secret the template passes is a Key Vault reference, never a value.
    assert "secretRef: s.key" in BICEP
    assert "keyVaultUrl:" in BICEP


def test_the_parameters_file_is_a_configuration_the_service_accepts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in GIVEN.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.log_format == "json"
    assert settings.graph.auth == "managed_identity"
    assert settings.bot.auth == "managed_identity"


def test_compose_sets_only_settings_that_exist() -> None:
    anchor = COMPOSE["x-smartnotes"]["environment"]
    names = set(anchor)
    for service in ("web", "worker"):
        names |= set(COMPOSE["services"][service].get("environment", {}))
    unknown = sorted(n for n in names if n.startswith("SMARTNOTES_") and n not in SETTINGS)
    assert not unknown, unknown
    assert COMPOSE["services"]["web"]["command"] == ["serve", "--no-process"]
    assert COMPOSE["services"]["worker"]["command"][0] == "worker"
    # Both roles see the same transcripts.
    web, worker = (COMPOSE["services"][s] for s in ("web", "worker"))
    assert web["volumes"] == worker["volumes"]
    assert "smartnotes-data:/var/lib/smartnotes" in web["volumes"]


TOOLKIT_SCHEMA = ROOT / "tests" / "schemas" / "m365agents-v1.11.yaml.schema.json"


@pytest.mark.parametrize("name", ["m365agents.yml", "m365agents.local.yml"])
def test_the_agents_toolkit_projects_are_valid_against_its_schema(name: str) -> None:
    schema = json.loads(TOOLKIT_SCHEMA.read_text(encoding="utf-8"))
    project = yaml.safe_load((ROOT / name).read_text(encoding="utf-8"))
    validator = validator_for(schema)(schema)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(project)]
    assert not errors, errors


def test_the_toolkit_reads_only_what_provision_writes_or_the_env_files_set() -> None:
    """Every ${{VAR}} m365agents.yml uses is set: by env/.env.dev, a secret (SECRET_*), the
    toolkit itself, an earlier action, or an output of infra/main.bicep (upper-cased)."""
    text = (ROOT / "m365agents.yml").read_text(encoding="utf-8")
    used = set(re.findall(r"\$\{\{([A-Z0-9_]+)\}\}", text))
    used |= set(re.findall(r"\$\{\{([A-Z0-9_]+)\}\}", json.dumps(PARAMETERS)))
    env_file = (ROOT / "env" / ".env.dev").read_text(encoding="utf-8")
    defined = set(re.findall(r"^([A-Z0-9_]+)=", env_file, flags=re.MULTILINE))
    outputs = set(re.findall(r"^output ([A-Z0-9_]+) ", BICEP, flags=re.MULTILINE))
    written = {"TEAMS_APP_ID"}
    unset = sorted(v for v in used - defined - outputs - written if not v.startswith("SECRET_"))
    assert not unset, unset


MONITORING = ROOT / "deploy" / "monitoring"


def exported_metrics() -> set[str]:
    """Every series name /metrics can show (counters' _total, histograms' _bucket...)."""
    registry = Metrics(async_sessionmaker(create_async_engine("sqlite+aiosqlite://"))).registry
    names: set[str] = set()
    for family in registry.collect():
        names.add(family.name)
        kind = family.type
        if kind == "counter":
            names.add(f"{family.name}_total")
        elif kind == "histogram":
            names |= {f"{family.name}_{end}" for end in ("bucket", "count", "sum")}
    return names


def referenced(expr: str) -> set[str]:
    return set(re.findall(r"\bsmartnotes_[a-z_]+\b", expr))


def test_alert_rules_and_the_dashboard_use_only_metrics_the_service_exports() -> None:
    known = exported_metrics()
    rules = yaml.safe_load((MONITORING / "alerts.yml").read_text(encoding="utf-8"))
    exprs = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    assert len(exprs) >= 5
    for rule in (r for g in rules["groups"] for r in g["rules"]):
        assert rule["alert"].startswith("SmartNotes")
        assert rule["annotations"]["summary"]
        assert rule["labels"]["severity"] in ("page", "ticket")
    dashboard = json.loads((MONITORING / "grafana-dashboard.json").read_text(encoding="utf-8"))
    exprs += [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    unknown = {name for expr in exprs for name in referenced(expr)} - known
    assert not unknown, f"not exported by /metrics: {sorted(unknown)}"
    assert all(referenced(expr) for expr in exprs)
