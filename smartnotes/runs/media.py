"""Call audio arriving with a webhook: which media types we take, and fetching an audio URL.

An ``audio_url`` is fetched only over HTTPS from hosts on the configured allow-list, without
following redirects (a redirect could leave the list), within a size and a time limit.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp

# Media type -> the file suffix the pipeline recognises the audio by.
AUDIO_TYPES = {
    "audio/wav": ".wav",
    "audio/wave": ".wav",
    "audio/x-wav": ".wav",
    "audio/vnd.wave": ".wav",
    "audio/mpeg": ".mp3",
    "audio/mp3": ".mp3",
    "audio/mp4": ".m4a",
    "audio/m4a": ".m4a",
    "audio/x-m4a": ".m4a",
    "audio/aac": ".aac",
    "audio/ogg": ".ogg",
    "audio/opus": ".opus",
    "audio/flac": ".flac",
    "audio/x-flac": ".flac",
    "audio/webm": ".webm",
    "video/mp4": ".mp4",
    "video/webm": ".webm",
}


class MediaError(Exception):
    """The audio cannot be taken; ``status`` is the HTTP answer the sender gets."""

    def __init__(self, status: int, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.status = status
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Audio:
    """A transcript or recording: in memory, or (large audio) in a file the store moves."""

    data: bytes | Path
    name: str


def audio_suffix(content_type: str, field: str) -> str:
    kind = content_type.split(";", 1)[0].strip().lower()
    suffix = AUDIO_TYPES.get(kind)
    if suffix is None:
        raise MediaError(
            415,
            field,
            f"unsupported media type {kind or '(none)'}; send one of: "
            + ", ".join(sorted(AUDIO_TYPES)),
        )
    return suffix


@dataclass(frozen=True)
class Downloader:
    hosts: frozenset[str]
    max_bytes: int
    timeout: float
    ca_file: Path | None = None

    def check(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme != "https":
            raise MediaError(422, "audio_url", "must be an https:// URL")
        if parts.username or parts.password:
            raise MediaError(422, "audio_url", "must not carry credentials")
        if (parts.hostname or "").lower() not in self.hosts:
            raise MediaError(422, "audio_url", f"host {parts.hostname!r} is not on the allow-list")

    async def fetch(self, url: str, into: Path) -> Audio:
        """The audio at ``url``, written to a file in the directory ``into`` as it arrives."""
        self.check(url)
        context = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as http,
                http.get(url, ssl=context, allow_redirects=False) as response,
            ):
                if response.status != 200:
                    raise MediaError(502, "audio_url", f"the audio host answered {response.status}")
                suffix = audio_suffix(response.headers.get("Content-Type", ""), "audio_url")
                if (response.content_length or 0) > self.max_bytes:
                    raise MediaError(413, "audio_url", f"larger than {self.max_bytes} bytes")
                path = into / f"audio{suffix}"
                size = 0
                with path.open("wb") as file:
                    async for chunk in response.content.iter_chunked(1 << 16):
                        size += len(chunk)
                        if size > self.max_bytes:
                            raise MediaError(
                                413, "audio_url", f"larger than {self.max_bytes} bytes"
                            )
                        file.write(chunk)
        except TimeoutError:
            raise MediaError(
                502, "audio_url", f"the download took longer than {self.timeout:g} s"
            ) from None
        except aiohttp.ClientError as exc:
            raise MediaError(502, "audio_url", f"the download failed: {exc}") from None
        return Audio(path, path.name)
