"""The Teams app package: the manifest against Microsoft's v1.29 schema, the zip, the icons."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import zipfile
import zlib
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator

from manifest import ManifestError, build_manifest, write_package

ROOT = Path(__file__).resolve().parents[2]
MANIFEST_DIR = ROOT / "manifest"
SCHEMA = ROOT / "tests" / "schemas" / "teams-manifest-v1.29.schema.json"
APP_ID = "1b4c7f2e-9d3a-4e8b-a6f0-2c5d8e9b1a73"
HOST = "smartnotes.contoso.com"


@pytest.fixture(scope="module")
def validator() -> Any:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    # The file names draft-04 but uses draft-07's const (on manifestVersion) and if/then, which
    # a draft-04 validator silently ignores; draft 7 checks them and reads the rest the same.
    # A few patterns use ECMA-262 classes (\p{L}) that Python's re lacks; they guard parts a
    # Teams bot does not use, so the meta-check skips the 'regex' format.
    Draft7Validator.check_schema(schema, format_checker=None)  # type: ignore[arg-type]
    return Draft7Validator(schema)


def _problems(validator: Any, manifest: dict[str, Any]) -> list[str]:
    return [
        f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in validator.iter_errors(manifest)
    ]


def test_the_manifest_is_valid_against_the_official_schema(validator: Any) -> None:
    assert _problems(validator, build_manifest(APP_ID, HOST, version="1.2.3")) == []


@pytest.mark.parametrize(
    ("change", "reported"),
    [
        (lambda m: m.update(manifestVersion="1.17"), "manifestVersion: '1.29' was expected"),
        (lambda m: m.pop("developer"), ": 'developer' is a required property"),
        (lambda m: m["bots"][0].update(scopes=["meeting"]), "bots/0/scopes/0: 'meeting' is not"),
        (lambda m: m.update(accentColor="blue"), "accentColor: 'blue' does not match"),
    ],
)
def test_the_schema_check_reports_a_broken_manifest(
    validator: Any, change: Callable[[dict[str, Any]], object], reported: str
) -> None:
    manifest = build_manifest(APP_ID, HOST)
    change(manifest)
    problems = _problems(validator, manifest)
    assert any(problem.startswith(reported) for problem in problems), problems


def test_the_deployment_fills_every_placeholder() -> None:
    manifest = build_manifest(APP_ID.upper(), "SmartNotes.Contoso.com", version="2.0.1")

    assert manifest["id"] == APP_ID
    assert manifest["version"] == "2.0.1"
    assert manifest["manifestVersion"] == "1.29"
    assert manifest["$schema"].endswith("/teams/v1.29/MicrosoftTeams.schema.json")
    assert [bot["botId"] for bot in manifest["bots"]] == [APP_ID]
    assert manifest["validDomains"] == [HOST]
    assert manifest["webApplicationInfo"] == {
        "id": APP_ID,
        "resource": f"api://{HOST}/botid-{APP_ID}",
    }
    developer = manifest["developer"]
    assert (developer["websiteUrl"], developer["privacyUrl"], developer["termsOfUseUrl"]) == (
        f"https://{HOST}/",
        f"https://{HOST}/privacy",
        f"https://{HOST}/terms",
    )
    text = json.dumps(manifest)
    assert "example.com" not in text
    assert "00000000-0000" not in text


def test_the_bot_and_its_permissions() -> None:
    manifest = build_manifest(APP_ID, HOST)
    [bot] = manifest["bots"]

    assert bot["scopes"] == ["personal", "groupChat"]
    assert bot["supportsFiles"] is False
    [commands] = bot["commandLists"]
    assert commands["scopes"] == ["personal"]
    assert [c["title"] for c in commands["commands"]] == [
        "help",
        "status",
        "off",
        "on",
        "confidential",
    ]
    assert all(c["description"] for c in commands["commands"])
    assert manifest["permissions"] == ["identity", "messageTeamMembers"]
    assert manifest["authorization"]["permissions"]["resourceSpecific"] == [
        {"name": "OnlineMeeting.ReadBasic.Chat", "type": "Application"},
        {"name": "OnlineMeetingTranscript.Read.Chat", "type": "Application"},
        {"name": "OnlineMeetingRecording.Read.Chat", "type": "Application"},
    ]


def test_each_build_starts_from_the_template() -> None:
    first = build_manifest(APP_ID, HOST)
    snapshot = json.dumps(first)
    build_manifest("2c5d8e9b-1a73-4e8b-a6f0-1b4c7f2e9d3a", "other.example.org")
    first["bots"][0]["scopes"].append("team")
    assert json.dumps(build_manifest(APP_ID, HOST)) == snapshot


def test_the_version_defaults_to_the_installed_package() -> None:
    assert build_manifest(APP_ID, HOST)["version"] == version("smartnotes")


@pytest.mark.parametrize(
    ("app_id", "domain", "version", "message"),
    [
        ("", HOST, "1.0.0", "app id '' is not a GUID"),
        ("smart-notes", HOST, "1.0.0", "app id 'smart-notes' is not a GUID"),
        (f"{{{APP_ID}}}", HOST, "1.0.0", "is not a GUID"),
        (APP_ID, "", "1.0.0", "domain is empty"),
        (APP_ID, f"https://{HOST}", "1.0.0", f"is a URL; give the bare host name ({HOST})"),
        (APP_ID, f"{HOST}/teams", "1.0.0", "has a path"),
        (APP_ID, f"{HOST}:8443", "1.0.0", "has a port"),
        (APP_ID, "smart notes.contoso.com", "1.0.0", "contains whitespace"),
        (APP_ID, f"{HOST}\n", "1.0.0", "contains whitespace"),
        (APP_ID, "*.contoso.com", "1.0.0", "is a wildcard"),
        (APP_ID, "localhost", "1.0.0", "is not a fully qualified host name"),
        (APP_ID, "-smartnotes.contoso.com", "1.0.0", "is not a fully qualified host name"),
        (APP_ID, "smartnotes..contoso.com", "1.0.0", "is not a fully qualified host name"),
        (APP_ID, "10.0.0.7", "1.0.0", "is not a fully qualified host name"),
        (APP_ID, HOST, "1.0", "version '1.0' is not MAJOR.MINOR.PATCH"),
        (APP_ID, HOST, "1.0.0-beta", "is not MAJOR.MINOR.PATCH"),
        (APP_ID, HOST, "01.0.0", "is not MAJOR.MINOR.PATCH"),
    ],
)
def test_bad_input_is_named(app_id: str, domain: str, version: str, message: str) -> None:
    with pytest.raises(ManifestError) as caught:
        build_manifest(app_id, domain, version=version)
    assert message in str(caught.value)


def test_the_package_holds_the_manifest_and_the_icons_at_its_root(tmp_path: Path) -> None:
    manifest = build_manifest(APP_ID, HOST)
    output = tmp_path / "app.zip"
    write_package(manifest, output)

    with zipfile.ZipFile(output) as archive:
        assert archive.testzip() is None
        assert sorted(archive.namelist()) == ["color.png", "manifest.json", "outline.png"]
        assert json.loads(archive.read("manifest.json")) == manifest
        assert archive.read("color.png") == (MANIFEST_DIR / "color.png").read_bytes()
        assert archive.read("outline.png") == (MANIFEST_DIR / "outline.png").read_bytes()
    assert [p.name for p in tmp_path.iterdir()] == ["app.zip"]


def test_the_same_manifest_gives_the_same_package(tmp_path: Path) -> None:
    manifest = build_manifest(APP_ID, HOST)
    write_package(manifest, tmp_path / "a.zip")
    write_package(manifest, tmp_path / "b.zip")
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()


@pytest.mark.parametrize(
    ("name", "message"),
    [("app.json", "does not end in .zip"), ("missing/app.zip", "does not exist")],
)
def test_a_bad_output_writes_nothing(tmp_path: Path, name: str, message: str) -> None:
    with pytest.raises(ManifestError) as caught:
        write_package(build_manifest(APP_ID, HOST), tmp_path / name)
    assert message in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_a_failed_write_keeps_the_previous_package(tmp_path: Path) -> None:
    output = tmp_path / "app.zip"
    write_package(build_manifest(APP_ID, HOST, version="1.0.0"), output)
    before = output.read_bytes()
    broken = build_manifest(APP_ID, HOST, version="1.0.1")
    broken["icons"]["outline"] = "outline-32.png"  # fails after manifest.json is in the zip

    with pytest.raises(ManifestError, match=r"names icon 'outline-32\.png'"):
        write_package(broken, output)
    assert output.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["app.zip"]


# The icons: decoded here with the PNG specification's own rules, not with the code that wrote
# them.


def _decode_png(data: bytes) -> tuple[int, int, int, list[bytes]]:
    """Width, height, colour type and unfiltered rows of an 8-bit, non-interlaced PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks: dict[bytes, bytes] = {}
    position = 8
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        tag = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        (crc,) = struct.unpack(">I", data[position + 8 + length : position + 12 + length])
        assert crc == zlib.crc32(tag + body), tag
        chunks[tag] = chunks.get(tag, b"") + body
        position += 12 + length
    width, height, depth, color_type, _, _, interlace = struct.unpack(">IIBBBBB", chunks[b"IHDR"])
    assert (depth, interlace) == (8, 0)
    channels = {2: 3, 6: 4}[color_type]
    stride = width * channels
    raw = zlib.decompress(chunks[b"IDAT"])
    rows: list[bytes] = []
    previous = bytes(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up, up_left = previous[i], previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                estimate = left + up - up_left
                nearest = min(
                    (abs(estimate - left), left),
                    (abs(estimate - up), up),
                    (abs(estimate - up_left), up_left),
                    key=lambda pair: pair[0],
                )[1]
                line[i] = (line[i] + nearest) & 0xFF
        previous = bytes(line)
        rows.append(previous)
    assert b"IEND" in chunks
    return width, height, color_type, rows


def test_the_color_icon_is_192_pixels_on_the_accent_color() -> None:
    width, height, color_type, rows = _decode_png((MANIFEST_DIR / "color.png").read_bytes())
    assert (width, height, color_type) == (192, 192, 2)
    accent = build_manifest(APP_ID, HOST)["accentColor"]
    corner = "#{:02X}{:02X}{:02X}".format(*rows[0][:3])
    assert corner == accent.upper()
    colors = {row[i : i + 3] for row in rows for i in range(0, len(row), 3)}
    assert b"\xff\xff\xff" in colors


def test_the_outline_icon_is_32_pixels_of_white_on_transparent() -> None:
    width, height, color_type, rows = _decode_png((MANIFEST_DIR / "outline.png").read_bytes())
    assert (width, height, color_type) == (32, 32, 6)
    pixels = [row[i : i + 4] for row in rows for i in range(0, len(row), 4)]
    assert all(pixel[:3] == b"\xff\xff\xff" or pixel[3] == 0 for pixel in pixels)
    alphas = [pixel[3] for pixel in pixels]
    assert alphas[0] == 0
    assert alphas.count(0) > len(pixels) // 2
    assert 255 in alphas


@pytest.fixture(scope="module")
def redrawn(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The icons as tools/make_icons.py draws them now."""
    folder = tmp_path_factory.mktemp("icons")
    subprocess.run(
        [sys.executable, str(ROOT / "tools" / "make_icons.py"), str(folder)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return folder


@pytest.mark.parametrize("name", ["color.png", "outline.png"])
def test_the_icon_script_redraws_the_committed_icons(redrawn: Path, name: str) -> None:
    drawn = _decode_png((redrawn / name).read_bytes())
    assert drawn == _decode_png((MANIFEST_DIR / name).read_bytes())


@pytest.mark.skipif(
    "zlib-ng" in zlib.ZLIB_RUNTIME_VERSION,
    reason="zlib-ng compresses the same pixels to different bytes than the reference zlib",
)
@pytest.mark.parametrize("name", ["color.png", "outline.png"])
def test_the_icon_script_reproduces_the_committed_files_byte_for_byte(
    redrawn: Path, name: str
) -> None:
    assert (redrawn / name).read_bytes() == (MANIFEST_DIR / name).read_bytes()


def test_the_company_names_itself_and_its_own_pages(validator: Any) -> None:
    manifest = build_manifest(
        APP_ID,
        HOST,
        version="1.0.0",
        developer="Northwind Traders",
        links={"privacyUrl": "https://northwind.example/legal/privacy"},
    )
    publisher = manifest["developer"]
    assert publisher["name"] == "Northwind Traders"
    assert publisher["privacyUrl"] == "https://northwind.example/legal/privacy"
    assert publisher["termsOfUseUrl"] == f"https://{HOST}/terms", "the others stay ours"
    assert list(validator.iter_errors(manifest)) == []


@pytest.mark.parametrize(
    ("developer", "links", "message"),
    [
        ("N" * 33, {}, "1 to 32 characters"),
        ("  ", {}, "1 to 32 characters"),
        (None, {"privacyUrl": "http://northwind.example/privacy"}, "must be an https:// URL"),
        (None, {"termsOfUseUrl": "northwind.example/terms"}, "must be an https:// URL"),
        (None, {"supportUrl": "https://northwind.example/"}, "not one of the developer's links"),
    ],
)
def test_bad_company_details_are_named(
    developer: str | None, links: dict[str, str], message: str
) -> None:
    with pytest.raises(ManifestError, match=message):
        build_manifest(APP_ID, HOST, version="1.0.0", developer=developer, links=links)


def test_a_teams_app_registered_apart_from_the_bot_keeps_its_own_id() -> None:
    teams_app = "0E7C9A51-2B3D-4F60-8A1B-9C2D3E4F5A6B"
    manifest = build_manifest(APP_ID, HOST, teams_app_id=teams_app)
    assert manifest["id"] == teams_app.lower()
    assert manifest["bots"][0]["botId"] == APP_ID.lower()
    assert manifest["webApplicationInfo"]["id"] == APP_ID.lower()
    with pytest.raises(ManifestError, match="is not a GUID"):
        build_manifest(APP_ID, HOST, teams_app_id="smart-notes")
