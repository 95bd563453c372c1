"""Prompt texts: packaged defaults that an operator can override file by file.

The texts are configuration, not code: ``SMARTNOTES_PROMPTS_DIR`` may hold any of the files in
``pipeline/prompts/`` under the same names, and those replace the defaults.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from importlib import resources
from pathlib import Path

_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
# Opening tags too: a second ``<transcript>`` inside the material reads to a model as a new,
# trusted block, and a closing one as the end of the data.
_WRAPPER_TAG = re.compile(r"<\s*(/?)\s*(transcript|notes)\b[^<>]*>", re.IGNORECASE)


@dataclass(frozen=True)
class Prompts:
    """The texts. The local model's prompts all start with the same system text and the
    same transcript block, so llama.cpp reuses the transcript it has already read for the
    summary when the local extractor runs next; the task comes after the transcript."""

    local_system: str
    local_transcript: str
    summary_single: str
    summary_map: str
    summary_reduce: str
    extract_system: str
    extract_user: str
    extract_local: str
    crm_task_fields: str
    writing_style: str
    coach: str

    @classmethod
    def load(cls, override_dir: Path | None = None) -> Prompts:
        texts: dict[str, str] = {}
        packaged = resources.files("pipeline") / "prompts"
        for field in fields(cls):
            name = f"{field.name}.txt"
            override = override_dir / name if override_dir is not None else None
            if override is not None and override.is_file():
                texts[field.name] = override.read_text(encoding="utf-8").strip()
            else:
                texts[field.name] = (packaged / name).read_text(encoding="utf-8").strip()
        return cls(**texts)


def fill(template: str, **values: object) -> str:
    """Replace ``{name}`` placeholders; unknown ones and stray braces are left as written.

    ``str.format`` is not used because the templates are operator-edited text that may
    contain braces of its own.
    """

    def replace(match: re.Match[str]) -> str:
        key = match[1]
        return str(values[key]) if key in values else match[0]

    return _PLACEHOLDER.sub(replace, template)


def quote_material(text: str) -> str:
    """Keep transcript text from opening or closing the tags it is wrapped in."""
    return _WRAPPER_TAG.sub(lambda m: f"[{m[1]}{m[2]}]", text)
