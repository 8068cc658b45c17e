"""Video for run.log(): numpy frames encoded with PyAV (the ``video`` extra), else GIF via Pillow.

Arrays are ``T×C×H×W`` (W&B's order) or ``T×H×W×C``; a batch ``B×T×…`` is tiled into one frame
grid the way W&B does (the batch padded to a power of two, ``2**(log2(B)//2)`` rows). Files (mp4,
webm, gif) are kept as they are.
"""

from __future__ import annotations

import importlib.util
import io
import warnings
from typing import Any

import numpy as np

from .sources import check_size, is_path, read_limited, sha256_hex, sniff_video
from .types import Media

VIDEO_FORMATS = ("mp4", "webm", "gif")
_CODECS = {"mp4": "libx264", "webm": "libvpx-vp9"}
NO_PYAV = (
    "PyAV is not installed, so videos are stored as GIF (through Pillow); "
    "pip install 'localtrack[video]' for mp4 and webm"
)


def _channels_last(frames: np.ndarray) -> np.ndarray:
    """T×C×H×W or T×H×W×C -> T×H×W×C."""
    if frames.shape[1] in (1, 3, 4) and frames.shape[-1] not in (1, 3, 4):
        return np.transpose(frames, (0, 2, 3, 1))
    if frames.shape[-1] in (1, 3, 4):
        return frames
    raise ValueError(f"cannot find the channel axis (1, 3 or 4 channels) in shape {frames.shape}")


def tile_batch(batch: np.ndarray) -> np.ndarray:
    """B×T×H×W×C -> T×(rows·H)×(cols·W)×C, padded to a power of two like W&B."""
    b = batch.shape[0]
    size = 1 << (b - 1).bit_length()
    if size > b:
        pad = np.zeros((size - b, *batch.shape[1:]), dtype=batch.dtype)
        batch = np.concatenate([batch, pad])
    rows = 2 ** ((size.bit_length() - 1) // 2)
    cols = size // rows
    _, t, h, w, c = batch.shape
    grid = batch.reshape(rows, cols, t, h, w, c).transpose(2, 0, 3, 1, 4, 5)
    return grid.reshape(t, rows * h, cols * w, c)


def prepare_frames(array: np.ndarray) -> np.ndarray:
    """T×H×W×3 uint8 RGB frames from 4-d frames or a 5-d batch."""
    if array.ndim == 4:
        frames = _channels_last(array)
    elif array.ndim == 5:
        frames = tile_batch(np.stack([_channels_last(v) for v in array]))
    else:
        raise ValueError(
            f"a video array must be T×C×H×W, T×H×W×C or a batch B×T×C×H×W, not {array.ndim}-d "
            f"shape {array.shape}"
        )
    if 0 in frames.shape:
        raise ValueError(f"a video must have frames, not shape {array.shape}")
    if frames.dtype != np.uint8:
        if not np.issubdtype(frames.dtype, np.number):
            raise ValueError(f"video frames must hold numbers, not {frames.dtype}")
        values = np.nan_to_num(frames.astype(np.float32))
        if np.issubdtype(frames.dtype, np.floating) and values.min() >= 0 and values.max() <= 1:
            values = values * 255
        frames = np.clip(np.rint(values), 0, 255).astype(np.uint8)
    if frames.shape[-1] == 1:
        frames = np.repeat(frames, 3, axis=-1)
    return np.ascontiguousarray(frames[..., :3])


def encode_av(frames: np.ndarray, fps: float, fmt: str) -> bytes:
    import av

    _, h, w, _ = frames.shape
    # yuv420p wants even sides
    frames = np.pad(frames, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=fmt) as container:
        stream = container.add_stream(_CODECS[fmt], rate=max(1, round(fps)))
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


def encode_gif(frames: np.ndarray, fps: float) -> bytes:
    from PIL import Image as PILImage

    images = [PILImage.fromarray(f) for f in frames]
    buffer = io.BytesIO()
    images[0].save(
        buffer,
        format="GIF",
        save_all=True,
        append_images=images[1:],
        duration=max(20, round(1000 / fps)),
        loop=0,
    )
    return buffer.getvalue()


def has_pyav() -> bool:
    return importlib.util.find_spec("av") is not None


class Video(Media):
    """A video from frames (``T×C×H×W``, ``T×H×W×C`` or a batch ``B×T×C×H×W``, tiled) or an
    mp4/webm/gif file. ``format`` is mp4 (H.264), webm (VP9) or gif."""

    kind = "video"

    def __init__(
        self,
        data_or_path: Any,
        caption: str | None = None,
        fps: float = 4,
        format: str | None = None,
    ) -> None:
        self.caption = None if caption is None else str(caption)
        self.fps = fps
        self.format = (format or "mp4").lower()
        self._data = b""
        self._frames: np.ndarray | None = None
        try:
            self._load(data_or_path)
        except Exception as exc:
            self.error = f"not a video: {exc}"

    def _load(self, data: Any) -> None:
        if self.format not in VIDEO_FORMATS:
            raise ValueError(
                f"format must be one of {', '.join(VIDEO_FORMATS)}, not {self.format!r}"
            )
        if not (isinstance(self.fps, (int, float)) and 0 < self.fps <= 240):
            raise ValueError(f"fps must be a number in (0, 240], not {self.fps!r}")
        if is_path(data):
            self._data = read_limited(data)
            found = sniff_video(self._data)
            if found is None:
                raise ValueError(f"{data!r} is not an mp4, webm or gif file")
            self.format = found
            return
        array = np.asarray(data)
        check_size(array.nbytes, "the video array")
        self._frames = prepare_frames(array)
        if self.format != "gif" and not has_pyav():
            try:
                import PIL  # noqa: F401
            except ImportError:
                raise ValueError(
                    "encoding video needs PyAV (pip install 'localtrack[video]') or Pillow for GIF"
                ) from None
            warnings.warn(NO_PYAV, stacklevel=3)
            self.format = "gif"

    def encode(self) -> tuple[dict[str, Any], list[tuple[str, str, bytes]]]:
        record: dict[str, Any] = {"type": "video", "caption": self.caption}
        if self._frames is not None:
            frames = self._frames
            if self.format == "gif":
                data = encode_gif(frames, self.fps)
            else:
                data = encode_av(frames, self.fps, self.format)
            record.update(
                fps=self.fps,
                frames=int(frames.shape[0]),
                width=int(frames.shape[2]),
                height=int(frames.shape[1]),
                duration=round(frames.shape[0] / self.fps, 6),
            )
        else:
            data = self._data
        check_size(len(data), "the encoded video")
        sha = sha256_hex(data)
        record.update(format=self.format, sha256=sha)
        return record, [(sha, self.format, data)]
