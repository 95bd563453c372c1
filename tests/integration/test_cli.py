"""``smartnotes`` as a user runs it: a real subprocess, real models, clear one-line errors."""

from __future__ import annotations

import asyncio
import json
import os
import struct
import sys
import wave
from pathlib import Path

import pytest

from tests.conftest import TEST_KEY
from tests.fakes.anthropic_server import FakeAnthropic, tasks_reply

SHORT_VTT = """WEBVTT

00:00:01.000 --> 00:00:06.000
<v Maria Chen>I will send you a revised quote with the annual pricing by Friday.</v>

00:00:07.000 --> 00:00:09.000
<v Daniel Okafor>Great, thank you.</v>
"""


def _env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("SMARTNOTES_") and k != "ANTHROPIC_API_KEY"
    }
    env.update(extra)
    env["SMARTNOTES_SUMMARY_MAX_TOKENS"] = "48"
    env["SMARTNOTES_LOCAL_EXTRACTOR_MAX_TASKS"] = "2"
    return env


async def _smartnotes(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "smartnotes",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env or _env(),
        cwd=cwd,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=300)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def _silent_wav(path: Path) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(struct.pack("<16000h", *([0] * 16000)))
    return path


def _four_hour_transcript(path: Path) -> Path:
    lines = [
        f"[{m // 60:02d}:{m % 60:02d}:00] Speaker {m % 3}: We keep talking about item {m}."
        for m in range(0, 241)
    ]
    path.write_text("\n".join(lines))
    return path


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.vtt", b"", "empty.vtt: empty.vtt is empty (0 bytes)"),
        ("blank.txt", b"  \n\n  \t", "blank.txt: transcript is empty"),
        ("latin1.txt", b"Anna: caf\xe9", "latin1.txt: transcript is not UTF-8 text"),
        (
            "broken.vtt",
            b"WEBVTT\n\n00:00:01.000 --> soon\n<v A>hi</v>\n",
            "broken.vtt: malformed WebVTT: not a timestamp: 'soon' on line 3",
        ),
        (
            "notes.docx",
            b"PK\x03\x04 binary office document",
            "notes.docx: unrecognised transcript format",
        ),
        ("call.mp3", b"", "call.mp3: call.mp3 is empty (0 bytes)"),
        (
            "call.wav",
            b"RIFF\x24\x00\x00\x00WAVEfmt garbage garbage",
            "call.wav: cannot decode audio call.wav",
        ),
    ],
)
async def test_bad_input_gives_one_clear_line_and_exit_2(
    tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    code, out, err = await _smartnotes("process", str(path), "--json")
    assert code == 2
    assert out == ""
    assert err.strip().startswith(f"error: {message}"), err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


async def test_silence_only_and_four_hour_calls_are_refused(tmp_path: Path) -> None:
    code, _, err = await _smartnotes("process", str(_silent_wav(tmp_path / "quiet.wav")))
    assert code == 2
    assert "error: quiet.wav: no speech found in quiet.wav (1 s of audio)" in err
    assert "Traceback" not in err
    long_call = str(_four_hour_transcript(tmp_path / "l.txt"))
    code, out, err = await _smartnotes("process", long_call, "--json")
    assert code == 2
    assert out == ""
    assert err.strip() == (
        "error: l.txt: transcript runs 4h 00m, longer than the 3h 00m limit "
        "(SMARTNOTES_MAX_CALL_MINUTES)"
    )


async def test_missing_file_and_bad_options(tmp_path: Path) -> None:
    code, _, err = await _smartnotes("process", str(tmp_path / "nope.vtt"))
    assert (code, "file not found" in err) == (2, True)
    call = tmp_path / "call.vtt"
    call.write_text(SHORT_VTT)
    code, _, err = await _smartnotes("process", str(call), "--timezone", "Mars/Olympus")
    assert code == 2
    assert err.strip() == "error: unknown time zone: Mars/Olympus"
    code, _, err = await _smartnotes("process", str(call), "--started-at", "last tuesday")
    assert code == 2
    assert "--started-at is not an ISO date-time" in err


async def test_missing_or_wrong_model_path_exits_3(tmp_path: Path) -> None:
    call = tmp_path / "call.vtt"
    call.write_text(SHORT_VTT)
    missing = str(tmp_path / "Meta-Llama-3-8B-Instruct.Q4_K_M.gguf")
    code, _, err = await _smartnotes(
        "process", str(call), env=_env(SMARTNOTES_SUMMARIZER_MODEL=missing)
    )
    assert code == 3
    assert err.strip() == f"error: summarizer model not found: {missing}"
    code, _, err = await _smartnotes(
        "process", str(call), env=_env(SMARTNOTES_SUMMARIZER_MODEL=str(call))
    )
    assert code == 3
    assert "is not a GGUF file" in err
    code, _, err = await _smartnotes(
        "process", str(call), env=_env(SMARTNOTES_ASR_MODEL=str(tmp_path))
    )
    assert code == 0  # a text call never needs the ASR model
    code, _, err = await _smartnotes(
        "process", str(call), env=_env(SMARTNOTES_DEFAULT_TIMEZONE="Nowhere/Land")
    )
    assert code == 3
    assert "SMARTNOTES_DEFAULT_TIMEZONE" in err


async def test_json_output_with_claude(tmp_path: Path) -> None:
    server = FakeAnthropic(
        tasks_reply(
            [
                {
                    "title": "Send revised annual quote",
                    "description": "",
                    "owner": "Maria Chen",
                    "due_text": "by Friday",
                    "due_date": "2026-11-20",
                    "priority": "high",
                    "priority_reason": "CFO review",
                    "related_to": "Contoso",
                    "quote": "I will send you a revised quote with the annual pricing by Friday",
                    "timestamp": "00:00:01",
                    "confidence": 0.9,
                }
            ]
        )
    )
    await server.start()
    try:
        call = tmp_path / "call.vtt"
        call.write_text(SHORT_VTT)
        code, out, err = await _smartnotes(
            "process",
            str(call),
            "--json",
            "--started-at",
            "2026-11-17T10:00:00",
            "--timezone",
            "America/Chicago",
            env=_env(ANTHROPIC_API_KEY=TEST_KEY, SMARTNOTES_ANTHROPIC_BASE_URL=server.base_url),
        )
    finally:
        await server.close()
    assert code == 0, err
    document = json.loads(out)
    assert document["complete"] is True
    assert document["summary"]
    assert document["extractor"] == {
        "name": "claude",
        "model": "claude-sonnet-4-6",
        "fallback_reason": None,
        "repairs": [],
        "notes": [],
    }
    [task] = document["tasks"]
    assert task["due_date"] == "2026-11-20"
    assert task["evidence"][0]["verified"] is True
    assert [s["step"] for s in document["steps"]] == ["summarizing", "analyzing", "creating_tasks"]
    assert all(s["status"] == "done" and s["seconds"] >= 0 for s in document["steps"])
    assert document["warnings"] == []


async def test_human_output_streams_summary_then_tasks(tmp_path: Path) -> None:
    call = tmp_path / "call.vtt"
    call.write_text(SHORT_VTT)
    code, out, err = await _smartnotes("process", str(call))
    assert code == 0, err
    assert out.startswith("Summary (AI generated)")
    assert "Tasks (" in out
    assert "revised quote" in out
    assert "Tasks come from the local extractor: no ANTHROPIC_API_KEY set." in err
    assert "call's start time is unknown" in err
    for step in ("Summarizing", "Analyzing", "Creating tasks"):
        assert f"✓ {step}" in err


async def test_serve_names_a_model_it_cannot_reach_instead_of_crashing(tmp_path: Path) -> None:
    env = _env(
        SMARTNOTES_DATA_DIR=str(tmp_path / "data"),
        SMARTNOTES_PORT="0",
        # Port 9 (discard) on loopback: nothing answers there.
        SMARTNOTES_SUMMARIZER_URL="http://127.0.0.1:9/v1",
    )
    code, _, err = await _smartnotes("serve", env=env)
    assert code == 3
    assert "error: the summarizer model server at http://127.0.0.1:9 did not list a model" in err
    assert "Traceback" not in err
