"""Where media come from: files read with a size limit, content sniffed by its magic bytes.

Every media item is held to ``MAX_ITEM_BYTES`` (its file, its HTML or JSON text, or its raw
array): a bigger one is refused when the object is built, so ``run.log()`` reports it like a bad
scalar and keeps the rest of the call. The writer thread checks the encoded bytes again.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

MAX_ITEM_BYTES = 32 * 1024 * 1024
"""The largest media item (file, text or raw array) one ``run.log()`` accepts: 32 MiB."""


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def mib(nbytes: int) -> str:
    return f"{nbytes / (1024 * 1024):.1f} MiB"


def check_size(nbytes: int, what: str) -> None:
    """ValueError when `what` is over the per-item limit, saying how to get under it."""
    if nbytes > MAX_ITEM_BYTES:
        raise ValueError(
            f"{what} is {mib(nbytes)}, over the {mib(MAX_ITEM_BYTES)} limit for one media "
            "item; downsample it, shorten it, or save it with run.save() / an Artifact instead"
        )


def is_path(data: Any) -> bool:
    return isinstance(data, (str, os.PathLike)) and not str(data).lstrip().startswith("<")


def read_limited(path: str | os.PathLike[str]) -> bytes:
    """The bytes of a media file, refused before reading when it is over the limit."""
    file = Path(path)
    check_size(file.stat().st_size, f"{file.name}")
    return file.read_bytes()


def suffix(path: str | os.PathLike[str]) -> str:
    """The lower-case extension, with ``.pts.json`` kept whole."""
    name = Path(path).name.lower()
    if name.endswith(".pts.json"):
        return "pts.json"
    return name.rsplit(".", 1)[-1] if "." in name else ""


def sniff_audio(data: bytes) -> str | None:
    """wav, mp3, ogg or flac by the file's magic bytes; None when it is none of them."""
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "wav"
    if data[:4] == b"OggS":
        return "ogg"
    if data[:4] == b"fLaC":
        return "flac"
    if data[:3] == b"ID3" or (len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0):
        return "mp3"
    return None


def sniff_video(data: bytes) -> str | None:
    """mp4, webm or gif by the file's magic bytes; None when it is none of them."""
    if data[4:8] == b"ftyp":
        return "mp4"
    if data[:4] == b"\x1a\x45\xdf\xa3":
        return "webm"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    return None
