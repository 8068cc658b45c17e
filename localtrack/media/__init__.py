"""Rich values for run.log() and their encoders.

::

    types.py           Image, Table and Histogram: checked when built, encoded when logged
    audio.py           Audio: numpy waveforms as WAV, wav/mp3/ogg/flac files kept
    video.py           Video: frames encoded with PyAV (the ``video`` extra), GIF via Pillow
    html.py            Html: shown in a sandboxed frame
    plotly.py          Plotly: a figure's JSON
    object3d.py        Object3D: point clouds (W&B's lidar/beta) and mesh files
    gallery.py         how run.log() finds media in a value: plotly figures, lists as galleries
    plot.py, curves.py localtrack.plot presets (a Table plus the chart) and their numpy maths
    sources.py         the per-item size limit, files read under it, formats sniffed
    png.py             a minimal PNG encoder (no Pillow needed)
    table_encoding.py  how a Table becomes Parquet, Images as blob references

Where media land in a run directory is the store's business (``store/media.py``). Only
``types`` is imported here; the rest load when first used (``localtrack.Audio`` …).
"""

from __future__ import annotations

from .types import Histogram, Image, Table

__all__ = ["Histogram", "Image", "Table"]
