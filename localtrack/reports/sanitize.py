"""A report's markdown as safe HTML: markdown-it-py renders it, nh3 (the Rust ``ammonia``
sanitiser) cleans the result.

Raw HTML in a report is allowed through markdown-it and then cleaned against nh3's allow list:
``<script>``, ``<style>``, ``<iframe>``, every ``on…=`` handler and ``javascript:`` / ``data:``
links are dropped, so neither the UI nor an exported file runs anything a report's text says.
Links get ``rel="noopener noreferrer"``.
"""

from __future__ import annotations

import nh3
from markdown_it import MarkdownIt

_MD = MarkdownIt("commonmark", {"html": True, "linkify": False}).enable(["table", "strikethrough"])
_URL_SCHEMES = {"http", "https", "mailto"}


def markdown_html(text: str) -> str:
    """`text` (markdown, maybe with raw HTML) as HTML holding nothing that can run."""
    return nh3.clean(
        _MD.render(text),
        url_schemes=_URL_SCHEMES,
        link_rel="noopener noreferrer",
        strip_comments=True,
    )
