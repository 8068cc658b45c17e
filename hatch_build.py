"""Hatchling build hook that vendors uPlot and dagre into ``webui/static/vendor/``.

uPlot (charts) and @dagrejs/dagre (the artifact lineage graph's layout, loaded only on that page)
are pinned in ``package.json`` / ``package-lock.json`` and installed from the npm registry at
build time; their files are never committed. The hook runs for every target (sdist, wheel, editable):

- the vendored files are already there (a previous build, or an unpacked sdist): nothing to do, so a
  wheel built from the sdist needs no npm;
- they are missing: ``npm ci --ignore-scripts`` in the project root, then copy the three files over;
- they are missing and npm is not on PATH: fail the build and say what to do.

``[tool.hatch.build] artifacts`` in ``pyproject.toml`` puts the git-ignored folder into both the
wheel and the sdist.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

VENDOR_DIR = Path("webui", "static", "vendor")

# Destination name in VENDOR_DIR -> source path inside node_modules/.
VENDOR_FILES = {
    "uPlot.iife.min.js": Path("uplot", "dist", "uPlot.iife.min.js"),
    "uPlot.min.css": Path("uplot", "dist", "uPlot.min.css"),
    "uPlot.LICENSE": Path("uplot", "LICENSE"),
    "dagre.min.js": Path("@dagrejs", "dagre", "dist", "dagre.min.js"),
    "dagre.LICENSE": Path("@dagrejs", "dagre", "LICENSE"),
}
UPLOT_FILES = VENDOR_FILES  # the name earlier versions of this hook used

# plotly.js and three.js draw the media tab's figures and 3D objects; media.js loads them only
# when such a card is shown. three's addons import the bare name 'three' and sibling folders:
# the copies are flattened here and their imports rewritten to these names (see _link_three).
THREE_ADDONS = {
    "three-OBJLoader.js": ("loaders", "OBJLoader.js"),
    "three-STLLoader.js": ("loaders", "STLLoader.js"),
    "three-GLTFLoader.js": ("loaders", "GLTFLoader.js"),
    "three-OrbitControls.js": ("controls", "OrbitControls.js"),
    "three-BufferGeometryUtils.js": ("utils", "BufferGeometryUtils.js"),
    "three-SkeletonUtils.js": ("utils", "SkeletonUtils.js"),
}
VENDOR_FILES.update(
    {
        "plotly.min.js": Path("plotly.js-dist-min", "plotly.min.js"),
        "plotly.LICENSE": Path("plotly.js-dist-min", "LICENSE"),
        "three.module.js": Path("three", "build", "three.module.js"),
        "three.core.js": Path("three", "build", "three.core.js"),
        "three.LICENSE": Path("three", "LICENSE"),
        **{
            name: Path("three", "examples", "jsm", folder, file)
            for name, (folder, file) in THREE_ADDONS.items()
        },
    }
)


class VendorBuildError(RuntimeError):
    """The vendored browser assets are missing and cannot be produced here."""


class UplotVendorHook(BuildHookInterface):
    """Make sure the vendored files are in ``webui/static/vendor/`` before anything is packed."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        root = Path(self.root)
        vendor = root / VENDOR_DIR
        missing = [name for name in VENDOR_FILES if not (vendor / name).is_file()]
        if not missing:
            _link_three(vendor)
            return
        self.app.display_info(f"localtrack: {', '.join(missing)} missing from {VENDOR_DIR}/")
        _install_uplot(root, self.app.display_info)
        _copy_vendored(root / "node_modules", vendor)
        _link_three(vendor)


def _install_uplot(root: Path, say: Callable[[str], None]) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise VendorBuildError(
            f"localtrack: {VENDOR_DIR}/ lacks uPlot or dagre and `npm` is not on PATH. "
            "Install Node.js and npm (e.g. `apt-get install npm`) and build again, "
            "or build from a localtrack sdist, which already contains these files."
        )
    if not (root / "package-lock.json").is_file():
        raise VendorBuildError(
            f"localtrack: {root / 'package-lock.json'} is missing; cannot run npm ci."
        )
    say(
        "localtrack: running `npm ci --ignore-scripts` to fetch uPlot and dagre "
        "(pinned in package-lock.json)"
    )
    try:
        subprocess.run(
            [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund"], cwd=root, check=True
        )
    except subprocess.CalledProcessError as exc:
        raise VendorBuildError(
            f"localtrack: `npm ci --ignore-scripts` failed with exit code {exc.returncode}; "
            "see npm's output above (is the npm registry reachable?)."
        ) from exc


def _copy_vendored(modules: Path, vendor: Path) -> None:
    vendor.mkdir(parents=True, exist_ok=True)
    for name, source in VENDOR_FILES.items():
        src = modules / source
        if not src.is_file():
            raise VendorBuildError(f"localtrack: npm ci finished but {src} does not exist.")
        # Copy to a partial name, then rename, so an interrupted build never leaves a torn file
        # that the "already vendored" check above would trust.
        partial = vendor / f".{name}.tmp"
        shutil.copyfile(src, partial)
        partial.replace(vendor / name)


def _link_three(vendor: Path) -> None:
    """Point the flattened three addons at ``three.module.js`` and at each other (idempotent)."""
    for name, (folder, _) in THREE_ADDONS.items():
        path = vendor / name
        text = path.read_text(encoding="utf-8")
        linked = text.replace("from 'three';", "from './three.module.js';")
        for other, (other_folder, other_file) in THREE_ADDONS.items():
            prefix = "./" if other_folder == folder else f"../{other_folder}/"
            linked = linked.replace(f"'{prefix}{other_file}'", f"'./{other}'")
        if linked != text:
            partial = vendor / f".{name}.tmp"
            partial.write_text(linked, encoding="utf-8")
            partial.replace(path)
