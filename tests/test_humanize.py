"""Durations and plurals for people: the Python formatter and its JS twin in core.js agree."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from pathlib import Path

import pytest

from localtrack.humanize import format_duration, plural

CORE_JS = Path(__file__).resolve().parent.parent / "webui" / "static" / "js" / "core.js"

CASES = [
    (None, "—"),
    (math.nan, "—"),
    (-3.0, "0.0s"),
    (0, "0.0s"),
    (0.25, "0.3s"),
    (2.25, "2.3s"),
    (42.25, "42.3s"),
    (59.94, "59.9s"),
    (59.96, "1m 00s"),
    (60, "1m 00s"),
    (185, "3m 05s"),
    (3599.96, "1h 00m"),
    (7380, "2h 03m"),
    (47 * 3600 + 59 * 60, "47h 59m"),
    (48 * 3600, "2d 00h"),
    (200000, "2d 07h"),
]

# Inputs that are awkward for rounding: the two sides must agree on every one.
AWKWARD = [x / 100 for x in range(0, 700, 5)] + [59.95, 3599.95, 0.05, 1e9, 1234567.89]


@pytest.mark.parametrize(("seconds", "text"), CASES)
def test_format_duration_words_seconds_minutes_hours_days(seconds: float | None, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize(
    ("count", "noun", "text"),
    [
        (0, "run", "0 runs"),
        (1, "run", "1 run"),
        (2, "problem", "2 problems"),
        (1, "blob", "1 blob"),
    ],
)
def test_plural_says_one_without_s(count: int, noun: str, text: str) -> None:
    assert plural(count, noun) == text


_NODE_HARNESS = """
const fs = require("fs"), vm = require("vm");
const document = {
  body: { dataset: {} }, getElementById: () => null, querySelector: () => null,
  querySelectorAll: () => [], addEventListener() {},
};
const sandbox = { window: {}, document, Intl, console, setTimeout };
vm.createContext(sandbox);
vm.runInContext(fs.readFileSync(process.argv[1], "utf8"), sandbox);
const inputs = JSON.parse(fs.readFileSync(0, "utf8"));
process.stdout.write(JSON.stringify(inputs.map((s) => sandbox.window.LT.fmtDuration(s))));
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node to run core.js")
def test_format_duration_js_twin_gives_the_same_text() -> None:
    inputs = [c for c, _ in CASES if c is None or math.isfinite(c)] + AWKWARD
    out = subprocess.run(
        ["node", "-e", _NODE_HARNESS, str(CORE_JS)],
        input=json.dumps(inputs),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(out.stdout) == [format_duration(s) for s in inputs]
