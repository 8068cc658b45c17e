"""HTML for run.log(), shown in a sandboxed frame where scripts do not run."""

from __future__ import annotations

import os
import re
from typing import Any

from .sources import check_size, is_path, read_limited, sha256_hex
from .types import Media

_SCRIPT = re.compile(rb"<script\b", re.IGNORECASE)
_STYLE = b"<style>body{font-family:system-ui,sans-serif;margin:8px}</style>"


class Html(Media):
    """An HTML document from a string, a file path or an open file. ``inject=True`` adds a plain
    default style. The UI serves it with a ``sandbox`` policy: no scripts, no access to the app."""

    kind = "html"

    def __init__(self, data_or_path: Any, inject: bool = False) -> None:
        self._data = b""
        try:
            if hasattr(data_or_path, "read"):
                raw = data_or_path.read()
                self._data = raw.encode() if isinstance(raw, str) else bytes(raw)
            elif is_path(data_or_path) and os.path.isfile(data_or_path):
                self._data = read_limited(data_or_path)
            elif isinstance(data_or_path, str):
                self._data = data_or_path.encode()
            else:
                raise ValueError(f"{type(data_or_path).__name__} is not a string, path or file")
            self._data.decode("utf-8")
            check_size(len(self._data), "the HTML")
            if inject:
                self._data = _STYLE + self._data
        except UnicodeDecodeError:
            self.error = "not HTML: it is not UTF-8 text"
        except Exception as exc:
            self.error = f"not HTML: {exc}"

    def encode(self) -> tuple[dict[str, Any], list[tuple[str, str, bytes]]]:
        sha = sha256_hex(self._data)
        record = {
            "type": "html",
            "sha256": sha,
            "scripts": bool(_SCRIPT.search(self._data)),
            "size": len(self._data),
        }
        return record, [(sha, "html", self._data)]
