"""Rich values for run.log(): Image, Table and Histogram (W&B-shaped).

Each object checks its input when built but never raises there: a problem is remembered and
``run.log()`` reports it like a bad scalar — a warning naming the key (an error with
``strict=True``) — so nothing else of the call is lost. Encoding (PNG, Parquet) happens on the
writer thread, not the training thread; the content is copied when the object is built.
"""

from __future__ import annotations

import hashlib
import io
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np


class Media:
    """Base of every loggable rich value."""

    kind = "media"
    error: str | None = None

    def encode(self) -> tuple[dict[str, Any], list[tuple[str, str, bytes]]]:
        """(log record, [(sha256, extension, bytes), ...]); runs on the writer thread."""
        raise NotImplementedError


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _pixels_from_array(array: np.ndarray) -> np.ndarray:
    import numpy as np

    if array.ndim == 3 and array.shape[0] in (1, 3, 4) and array.shape[2] not in (1, 3, 4):
        array = np.transpose(array, (1, 2, 0))  # CHW (PyTorch) -> HWC
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (1, 3, 4)):
        raise ValueError(
            f"an image array must be HW or HWC with 1, 3 or 4 channels, not shape {array.shape}"
        )
    if array.size == 0:
        raise ValueError("an image array must not be empty")
    if array.dtype == np.uint8:
        return array.copy()
    if array.dtype == np.bool_:
        return array.astype(np.uint8) * 255
    if not np.issubdtype(array.dtype, np.number):
        raise ValueError(f"an image array must hold numbers, not {array.dtype}")
    values = np.nan_to_num(array.astype(np.float64), nan=0.0)
    if np.issubdtype(array.dtype, np.floating) and values.min() >= 0 and values.max() <= 1:
        values = values * 255  # floats in [0, 1]
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)


class Image(Media):
    """An image from a numpy array (HW, HWC or CHW; uint8, or float in [0, 1]), a PIL image, a
    matplotlib figure, or a PNG file path. Stored as PNG, once per distinct content."""

    kind = "image"

    def __init__(self, data: Any, caption: str | None = None) -> None:
        self.caption = None if caption is None else str(caption)
        self._png: bytes | None = None
        self._pixels: np.ndarray | None = None
        try:
            self._load(data)
        except Exception as exc:
            self.error = f"not an image: {exc}"

    def _load(self, data: Any) -> None:
        import numpy as np

        from .png import png_size

        if isinstance(data, (str, Path, bytes)):  # bytes: an encoded image (an artifact's PNG)
            raw = data if isinstance(data, bytes) else Path(data).read_bytes()
            if png_size(raw) is None:
                self._pixels = _pixels_via_pillow(raw)
            else:
                self._png = raw
        elif hasattr(data, "savefig"):  # matplotlib figure
            buffer = io.BytesIO()
            data.savefig(buffer, format="png")
            self._png = buffer.getvalue()
        elif hasattr(data, "mode") and hasattr(data, "size") and hasattr(data, "convert"):  # PIL
            image = data if data.mode in ("L", "LA", "RGB", "RGBA") else data.convert("RGBA")
            self._pixels = np.asarray(image).copy()
        elif isinstance(data, np.ndarray) or hasattr(data, "__array__"):
            self._pixels = _pixels_from_array(np.asarray(data))
        else:
            raise ValueError(f"{type(data).__name__} is not an array, PIL image, figure or path")

    def encode(self) -> tuple[dict[str, Any], list[tuple[str, str, bytes]]]:
        from .png import encode_png, png_size

        png = self._png if self._png is not None else encode_png(self._pixels)  # type: ignore[arg-type]
        width, height = png_size(png) or (0, 0)
        sha = _sha(png)
        record = {
            "type": "image",
            "sha256": sha,
            "width": width,
            "height": height,
            "caption": self.caption,
        }
        return record, [(sha, "png", png)]


def _pixels_via_pillow(raw: bytes) -> np.ndarray:
    try:
        from PIL import Image as PILImage
    except ImportError:
        raise ValueError(
            "only PNG files can be logged without Pillow; pip install pillow"
        ) from None
    import numpy as np

    with PILImage.open(io.BytesIO(raw)) as image:
        return np.asarray(image.convert("RGBA")).copy()


class Histogram(Media):
    """A histogram of values (`num_bins` equal bins), or precomputed ``np_histogram=(counts,
    edges)``. Stored as its bins."""

    kind = "histogram"

    def __init__(
        self,
        sequence: Any = None,
        np_histogram: tuple[Any, Any] | None = None,
        num_bins: int = 64,
    ) -> None:
        import numpy as np

        try:
            if np_histogram is not None:
                counts, edges = (np.asarray(a, dtype=np.float64) for a in np_histogram)
                if counts.ndim != 1 or edges.shape != (len(counts) + 1,):
                    raise ValueError(
                        "np_histogram needs counts of length N and edges of length N+1"
                    )
            else:
                if not 1 <= int(num_bins) <= 512:
                    raise ValueError(f"num_bins must be 1..512, not {num_bins}")
                values = np.asarray(sequence, dtype=np.float64).ravel()
                values = values[np.isfinite(values)]
                if values.size == 0:
                    raise ValueError("no finite values to histogram")
                counts, edges = np.histogram(values, bins=int(num_bins))
            self.counts = [float(c) for c in counts]
            self.edges = [float(e) for e in edges]
            if not all(math.isfinite(x) for x in self.counts + self.edges):
                raise ValueError("counts and edges must be finite")
        except Exception as exc:
            self.error = f"not a histogram: {exc}"

    def encode(self) -> tuple[dict[str, Any], list[tuple[str, str, bytes]]]:
        return {"type": "histogram", "edges": self.edges, "counts": self.counts}, []


class Table(Media):
    """Rows of numbers, strings, bools, None and Images. ``Table(columns=[...], data=[[...]])``,
    ``Table(dataframe=df)``, then ``add_data(*row)``. Stored as Parquet."""

    kind = "table"

    def __init__(
        self,
        columns: Sequence[str] | None = None,
        data: Sequence[Sequence[Any]] | None = None,
        dataframe: Any = None,
    ) -> None:
        self.columns: list[str] = []
        self.data: list[list[Any]] = []
        try:
            if dataframe is not None:
                self.columns = [str(c) for c in dataframe.columns]
                rows = dataframe.itertuples(index=False, name=None)
            else:
                self.columns = [str(c) for c in (columns or [])]
                rows = data or []
            if len(set(self.columns)) != len(self.columns):
                raise ValueError(f"column names must be unique: {self.columns}")
            for row in rows:
                self.add_data(*row)
        except Exception as exc:
            self.error = f"not a table: {exc}"

    def add_data(self, *row: Any) -> None:
        """Append one row; a row of the wrong width makes the table unloggable (reported by log)."""
        if self.error:
            return
        if not self.columns:
            self.columns = [f"col{i}" for i in range(len(row))]
        if len(row) != len(self.columns):
            self.error = f"row {len(self.data)} has {len(row)} cells but the table has {len(self.columns)} columns"
            return
        self.data.append([_cell(v) for v in row])

    def encode(self) -> tuple[dict[str, Any], list[tuple[str, str, bytes]]]:
        from .table_encoding import encode_table

        return encode_table(self.columns, self.data)


def _cell(value: Any) -> Any:
    numpy = sys.modules.get("numpy")  # not imported: the value cannot be a numpy scalar
    if numpy is not None and isinstance(value, numpy.generic):
        return value.item()
    return value
