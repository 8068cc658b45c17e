"""The W&B-shaped artifacts API over the store's artifact area (localtrack/store/artifacts).

::

    artifact.py     Artifact: a draft (add_file, add_dir, add_reference, new_file, add, remove)
                    or a logged version (download, file, verify, aliases, save, delete, lineage)
    spec.py         parsing "entity/project/name:alias" and friends
    runlink.py      run.log_artifact / use_artifact / link_artifact, delegated to from the run

Usage: docs/artifacts.md.
"""

from __future__ import annotations

from .artifact import Artifact

__all__ = ["Artifact"]
