"""Rich values for run.log() (Image, Table, Histogram) and their encoders.

::

    types.py           Image, Table and Histogram: checked when built, encoded when logged
    png.py             a minimal PNG encoder (no Pillow needed)
    table_encoding.py  how a Table becomes Parquet, Images as blob references

Where media land in a run directory is the store's business (``store/media.py``).
"""

from __future__ import annotations

from .types import Histogram, Image, Table

__all__ = ["Histogram", "Image", "Table"]
