"""A trial's command line, from the sweep's ``command`` and W&B's macros.

Default: ``${env} ${interpreter} ${program} ${args}``. Macros: ``${env}`` (``/usr/bin/env``),
``${interpreter}`` (this Python), ``${program}``, ``${args}`` (``--name=value`` each),
``${args_no_hyphens}`` (``name=value``), ``${args_json}`` (one JSON argument) and
``${args_json_file}`` (the path of a JSON file holding the values).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import SweepError

DEFAULT_COMMAND = ("${env}", "${interpreter}", "${program}", "${args}")


def _arg_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value)


def build_command(
    command: Sequence[str] | None,
    program: str | None,
    params: Mapping[str, Any],
    json_file: Path,
) -> list[str]:
    """The argv for one trial; `params` are the flat (dotted) suggested values."""
    template = list(command or DEFAULT_COMMAND)
    if program is None and any("${program}" in part for part in template):
        raise SweepError(
            "this sweep has no program: add `program: train.py` to its config, or run "
            "localtrack.agent(sweep_id, function=train) in Python"
        )
    args = [f"--{k}={_arg_value(v)}" for k, v in params.items()]
    plain = [f"{k}={_arg_value(v)}" for k, v in params.items()]
    out: list[str] = []
    for part in template:
        if part == "${env}":
            if os.name != "nt":
                out.append("/usr/bin/env")
        elif part == "${args}":
            out.extend(args)
        elif part == "${args_no_hyphens}":
            out.extend(plain)
        elif part == "${args_json}":
            out.append(json.dumps(dict(params)))
        elif part == "${args_json_file}":
            json_file.write_text(json.dumps(dict(params)))
            out.append(str(json_file))
        else:
            out.append(
                part.replace("${interpreter}", sys.executable).replace("${program}", program or "")
            )
    return out
