"""The team's material for the deal coach: which files a tenant gets, which paragraphs a call."""

from __future__ import annotations

from pathlib import Path

from pipeline.formats import parse_transcript_text
from smartnotes.coaching.material import paragraphs, relevant

CALL = parse_transcript_text(
    "WEBVTT\n\n00:00:01.000 --> 00:00:05.000\n"
    "<v Daniel>The annual price is too high for our budget.\n"
)


def test_shared_files_and_the_tenants_own_folder_only(tmp_path: Path) -> None:
    (tmp_path / "pricing.md").write_text(
        "# Pricing\n\nAnnual billing takes 15 % off the price.\n\nSeats can be added monthly.\n"
    )
    (tmp_path / "northwind").mkdir()
    (tmp_path / "northwind" / "deal.txt").write_text("Northwind's budget resets in April.")
    (tmp_path / "globex").mkdir()
    (tmp_path / "globex" / "secret.txt").write_text("Globex gets 40 % off.")
    (tmp_path / "notes.pdf").write_bytes(b"%PDF")

    found = dict(paragraphs(tmp_path, "northwind"))
    assert found == {
        "material:pricing.md#1": "Pricing",
        "material:pricing.md#2": "Annual billing takes 15 % off the price.",
        "material:pricing.md#3": "Seats can be added monthly.",
        "material:northwind/deal.txt#1": "Northwind's budget resets in April.",
    }
    # A tenant id that would leave the folder names no folder.
    assert {s for s, _ in paragraphs(tmp_path, "..")} == set(found) - {
        "material:northwind/deal.txt#1"
    }
    assert paragraphs(None, "northwind") == []


def test_the_paragraphs_sharing_words_with_the_call_are_chosen(tmp_path: Path) -> None:
    (tmp_path / "pricing.md").write_text(
        "Annual billing takes 15 % off the price.\n\nOur office dog is called Rex.\n"
    )
    chosen = relevant(paragraphs(tmp_path, "northwind"), CALL)
    assert [(p.id, p.when) for p in chosen] == [("material:pricing.md#1", "the team's material")]
