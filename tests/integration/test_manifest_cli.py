"""``smartnotes manifest build`` as an admin runs it: a real subprocess, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from manifest import build_manifest

ROOT = Path(__file__).resolve().parents[2]
APP_ID = "1b4c7f2e-9d3a-4e8b-a6f0-2c5d8e9b1a73"
HOST = "smartnotes.contoso.com"


def _build(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMARTNOTES_")}
    env["COLUMNS"] = "200"
    return subprocess.run(
        [sys.executable, "-m", "smartnotes", "manifest", "build", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_build_writes_the_app_package(tmp_path: Path) -> None:
    output = tmp_path / "app.zip"
    done = _build(
        "--app-id", APP_ID, "--domain", HOST, "--output", str(output), "--version", "1.4.0"
    )

    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == f"Wrote {output}: Smart Notes 1.4.0 for app {APP_ID} at {HOST}."
    with zipfile.ZipFile(output) as archive:
        assert sorted(archive.namelist()) == ["color.png", "manifest.json", "outline.png"]
        manifest = json.loads(archive.read("manifest.json"))
    assert manifest == build_manifest(APP_ID, HOST, version="1.4.0")


@pytest.mark.parametrize(
    ("app_id", "domain", "name", "error"),
    [
        ("smart-notes-bot", HOST, "app.zip", "error: app id 'smart-notes-bot' is not a GUID"),
        (APP_ID, f"https://{HOST}/", "app.zip", f"error: domain 'https://{HOST}/' is a URL"),
        (APP_ID, HOST, "app.json", "does not end in .zip"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(
    tmp_path: Path, app_id: str, domain: str, name: str, error: str
) -> None:
    done = _build("--app-id", app_id, "--domain", domain, "--output", str(tmp_path / name))

    assert done.returncode == 2
    assert error in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_the_company_names_itself_and_its_pages(tmp_path: Path) -> None:
    output = tmp_path / "app.zip"
    done = _build(
        *("--app-id", APP_ID, "--domain", HOST, "--output", str(output)),
        *("--developer", "Northwind Traders", "--terms-url", "https://northwind.example/terms"),
    )
    assert done.returncode == 0, done.stderr
    with zipfile.ZipFile(output) as archive:
        publisher = json.loads(archive.read("manifest.json"))["developer"]
    assert publisher["name"] == "Northwind Traders"
    assert publisher["termsOfUseUrl"] == "https://northwind.example/terms"
    assert publisher["privacyUrl"] == f"https://{HOST}/privacy"
    refused = _build(
        *("--app-id", APP_ID, "--domain", HOST, "--output", str(tmp_path / "b.zip")),
        *("--privacy-url", "http://northwind.example/privacy"),
    )
    assert refused.returncode == 2
    assert "privacyUrl must be an https:// URL" in refused.stderr
    assert not (tmp_path / "b.zip").exists()
