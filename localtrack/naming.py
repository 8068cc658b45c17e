"""Run ids, generated run names, and project names as folder names.

Ids are 12 random lowercase base-36 characters (about 62 bits): unique across machines and
clusters without any coordination, and safe in paths and URLs.
"""

from __future__ import annotations

import secrets
import urllib.parse

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


def project_folder_name(project: str) -> str | None:
    """A project's name as one folder name of its own (percent-encoded, so "a/b" stays one
    folder), or None where no folder can stand for it: "" and names of only dots ("." and ".."
    would name the folder above, a traversal out of the store's per-project folders)."""
    if not project or project.strip(".") == "":
        return None
    return urllib.parse.quote(project, safe="")
