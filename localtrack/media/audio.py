"""Audio for run.log(): numpy waveforms stored as 16-bit WAV, audio files kept as they are."""

from __future__ import annotations

import io
import os
import wave
from typing import Any

import numpy as np

from .sources import check_size, is_path, read_limited, sha256_hex, sniff_audio
from .types import Media

AUDIO_FORMATS = ("wav", "mp3", "ogg", "flac")


def _pcm16(array: np.ndarray) -> np.ndarray:
    """Frames × channels int16 samples from ints or floats in [-1, 1]."""
    if array.ndim == 2 and array.shape[0] in (1, 2) and array.shape[1] > 2:
        array = array.T  # channels × frames -> frames × channels
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2 or array.shape[1] not in (1, 2):
        raise ValueError(f"a waveform must be mono (N,) or stereo (N, 2), not shape {array.shape}")
    if array.shape[0] == 0:
        raise ValueError("a waveform must not be empty")
    if array.dtype == np.int16:
        return array.copy()
    if np.issubdtype(array.dtype, np.integer):
        bits = np.iinfo(array.dtype).bits
        return (array.astype(np.int64) >> max(0, bits - 16)).astype(np.int16)
    if not np.issubdtype(array.dtype, np.floating):
        raise ValueError(f"a waveform must hold numbers, not {array.dtype}")
    if not np.isfinite(array).all():
        raise ValueError("a waveform must not contain NaN or infinity")
    return np.rint(np.clip(array, -1.0, 1.0) * 32767).astype(np.int16)


def encode_wav(samples: np.ndarray, sample_rate: int) -> bytes:
    """WAV bytes for frames × channels int16 samples."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(samples.shape[1])
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(np.ascontiguousarray(samples).astype("<i2").tobytes())
    return buffer.getvalue()


class Audio(Media):
    """Audio from a numpy waveform (mono ``(N,)`` or stereo ``(N, 2)``; ints, or floats in
    [-1, 1]; ``sample_rate`` required) or a wav/mp3/ogg/flac file. Waveforms are stored as WAV."""

    kind = "audio"

    def __init__(
        self, data_or_path: Any, sample_rate: int | None = None, caption: str | None = None
    ) -> None:
        self.caption = None if caption is None else str(caption)
        self.sample_rate = sample_rate
        self._data = b""
        self._format = "wav"
        self._samples: np.ndarray | None = None
        try:
            self._load(data_or_path, sample_rate)
        except Exception as exc:
            self.error = f"not audio: {exc}"

    def _load(self, data: Any, sample_rate: int | None) -> None:
        if is_path(data):
            self._data = read_limited(data)
            found = sniff_audio(self._data)
            if found is None:
                raise ValueError(
                    f"{os.fspath(data)!r} is not a wav, mp3, ogg or flac file "
                    f"(its first bytes are {self._data[:8]!r})"
                )
            self._format = found
            return
        array = np.asarray(data)
        if sample_rate is None or int(sample_rate) <= 0:
            raise ValueError(
                "a numpy waveform needs sample_rate=, e.g. Audio(wave, sample_rate=16000)"
            )
        check_size(array.nbytes, "the waveform")
        self._samples = _pcm16(array)
        self.sample_rate = int(sample_rate)

    def encode(self) -> tuple[dict[str, Any], list[tuple[str, str, bytes]]]:
        record: dict[str, Any] = {"type": "audio", "format": self._format, "caption": self.caption}
        if self._samples is not None:
            assert self.sample_rate is not None
            data = encode_wav(self._samples, self.sample_rate)
            record.update(
                sample_rate=self.sample_rate,
                channels=int(self._samples.shape[1]),
                duration=round(self._samples.shape[0] / self.sample_rate, 6),
            )
        else:
            data = self._data
            if self._format == "wav":
                with wave.open(io.BytesIO(data)) as f:
                    record.update(
                        sample_rate=f.getframerate(),
                        channels=f.getnchannels(),
                        duration=round(f.getnframes() / f.getframerate(), 6),
                    )
        sha = sha256_hex(data)
        record["sha256"] = sha
        return record, [(sha, self._format, data)]
