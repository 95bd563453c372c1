"""The team's own material for the deal coach: battlecards, pricing notes, security answers.

``SMARTNOTES_COACH_MATERIAL_DIR`` holds text or Markdown files: those at its top for every
tenant, those in a folder named after a tenant id for that tenant only. For a call, the
paragraphs that share the most words with what the customer said are given to the coach as
sources it may cite, ``material:<file>#<paragraph>``; the answers to objections then rest on
what the team wrote, not on what a model imagines.
"""

from __future__ import annotations

import re
from pathlib import Path

from pipeline.coach import PriorCall
from pipeline.grounding import content_words
from pipeline.transcript import Transcript

SUFFIXES = (".md", ".txt")
MAX_FILE_BYTES = 256 * 1024
MAX_FILES = 100
PARAGRAPHS = 5
_BLANK = re.compile(r"\n\s*\n")
_SAFE_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")


def paragraphs(folder: Path | None, tenant_id: str) -> list[tuple[str, str]]:
    """(source id, paragraph) for every paragraph the tenant's material holds."""
    if folder is None:
        return []
    places = [folder]
    # A tenant id names a folder only when it cannot leave the material's folder.
    if _SAFE_NAME.fullmatch(tenant_id) and tenant_id not in (".", ".."):
        places.append(folder / tenant_id)
    files: list[Path] = []
    for place in places:
        if place.is_dir():
            files += sorted(p for p in place.iterdir() if p.suffix in SUFFIXES and p.is_file())
    found = []
    for path in files[:MAX_FILES]:
        if path.stat().st_size > MAX_FILE_BYTES:
            continue
        name = path.relative_to(folder).as_posix()
        text = path.read_text(encoding="utf-8", errors="replace")
        for number, block in enumerate(_BLANK.split(text), start=1):
            cleaned = " ".join(block.split()).lstrip("#").strip()
            if cleaned:
                found.append((f"material:{name}#{number}", cleaned))
    return found


def relevant(
    material: list[tuple[str, str]], transcript: Transcript, limit: int = PARAGRAPHS
) -> list[PriorCall]:
    """The paragraphs sharing the most words with the call, as sources for the coach."""
    said = content_words(" ".join(s.text for s in transcript.segments))
    scored = [(len(said & content_words(text)), source, text) for source, text in material]
    best = sorted((s for s in scored if s[0] >= 2), key=lambda s: (-s[0], s[1]))[:limit]
    return [PriorCall(id=source, when="the team's material", text=text) for _, source, text in best]
