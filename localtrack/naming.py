"""Run ids and generated run names.

Ids are 12 random lowercase base-36 characters (about 62 bits): unique across machines and
clusters without any coordination, and safe in paths and URLs.
"""

from __future__ import annotations

import secrets

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
_ADJECTIVES = [
    "amber",
    "brave",
    "bright",
    "calm",
    "clever",
    "cosmic",
    "crisp",
    "daring",
    "eager",
    "fancy",
    "gentle",
    "golden",
    "happy",
    "hidden",
    "icy",
    "jolly",
    "keen",
    "lively",
    "lucky",
    "misty",
    "noble",
    "proud",
    "quiet",
    "rapid",
    "royal",
    "silent",
    "snowy",
    "solar",
    "stellar",
    "swift",
    "tidy",
    "vivid",
    "warm",
    "wild",
    "wise",
    "young",
    "zesty",
]
_NOUNS = [
    "aurora",
    "breeze",
    "canyon",
    "cloud",
    "comet",
    "dawn",
    "delta",
    "dune",
    "ember",
    "field",
    "forest",
    "galaxy",
    "glade",
    "harbor",
    "lake",
    "meadow",
    "moon",
    "nebula",
    "ocean",
    "orbit",
    "peak",
    "pine",
    "planet",
    "prairie",
    "rain",
    "river",
    "shadow",
    "sky",
    "spark",
    "star",
    "stone",
    "storm",
    "sun",
    "thunder",
    "valley",
    "wave",
    "wind",
]


def new_run_id() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(12))


def new_run_name() -> str:
    """A readable name like "swift-river-42"."""
    return f"{secrets.choice(_ADJECTIVES)}-{secrets.choice(_NOUNS)}-{secrets.randbelow(1000)}"
