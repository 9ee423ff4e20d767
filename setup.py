"""Package discovery for the one import package ``ems`` (the metadata lives in pyproject.toml).

The top-level folders ``api/``, ``schemas/``, ``streams/``... install as ``ems.api``, ``ems.schemas``...
Their subpackages are found by walking each folder (``find_packages``), so a new one cannot be left
out of a regular ``pip install .`` the way a hand-written list can.
"""

from __future__ import annotations

from pathlib import Path

from setuptools import find_packages, setup

ROOT = Path(__file__).resolve().parent
# Top-level folder -> import name. `ems` itself holds the CLI and the service entry points.
FOLDERS = {
    "ems": "ems",
    "schemas": "ems.schemas",
    "streams": "ems.streams",
    "agents": "ems.agents",
    "projections": "ems.projections",
    "api": "ems.api",
    "infra": "ems.infra",
    "bench": "ems.bench",
    "collectors": "ems.collectors",
    "ml": "ems.ml",
    "itsm": "ems.itsm",
    "noise": "ems.noise",
    "notify": "ems.notify",
    "apm": "ems.apm",
}


def package_dir() -> dict[str, str]:
    """Import name -> folder of every mapped top-level folder (subpackages follow their parent)."""
    return {name: folder for folder, name in FOLDERS.items()}


def packages() -> list[str]:
    """Every package under the mapped folders, by import name, sorted."""
    found = set(FOLDERS.values())
    for folder, name in FOLDERS.items():
        found.update(f"{name}.{sub}" for sub in find_packages(where=str(ROOT / folder)))
    return sorted(found)


if __name__ == "__main__":  # setuptools' build backend runs this file as __main__
    setup(package_dir=package_dir(), packages=packages())
