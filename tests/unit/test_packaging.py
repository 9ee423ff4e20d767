"""setup.py ships every package and data file of the checkout (a regular install once lacked ems.api.formats).

The wheel itself is built and run in tests/integration/test_install.py; these checks need no build.
"""

from __future__ import annotations

import importlib.util
import tomllib
from fnmatch import fnmatch
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]
# Non-Python files under the mapped folders that the installed code does not read.
NOT_SHIPPED = {"infra/install.sh"}  # run from a checkout by `make servers`


def _setup_py() -> ModuleType:
    spec = importlib.util.spec_from_file_location("ems_setup_py", ROOT / "setup.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # not __main__: setup() is not called
    return module


def _source_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts]


def test_every_top_level_package_folder_is_mapped_under_ems() -> None:
    folders = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests"}
    assert folders == set(_setup_py().FOLDERS)


def test_every_folder_with_an_init_file_is_a_discovered_package() -> None:
    setup_py = _setup_py()
    expected = set()
    for folder, name in setup_py.FOLDERS.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            parts = init.parent.relative_to(ROOT / folder).parts
            expected.add(".".join((name, *parts)))
    assert "ems.api.formats" in expected
    assert expected == set(setup_py.packages())


def test_package_dir_maps_each_import_name_to_its_folder() -> None:
    mapping = _setup_py().package_dir()
    assert mapping["ems.api"] == "api" and mapping["ems"] == "ems"
    assert all((ROOT / folder / "__init__.py").is_file() for folder in mapping.values())


def test_pyproject_leaves_the_package_list_to_setup_py() -> None:
    tool = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "packages" not in tool and "package-dir" not in tool


def _folder_of(package: str, folders: dict[str, str]) -> Path:
    """Checkout folder of an import name (`ems.api.formats` -> api/formats)."""
    name, folder = max((n, f) for f, n in folders.items() if package == n or package.startswith(n + "."))
    return ROOT / folder / Path(*package[len(name) :].split(".")[1:])


def test_every_data_file_under_the_packages_is_shipped_or_known_not_needed() -> None:
    """A new data file (an SQL migration, a template...) must be declared as package data."""
    folders = _setup_py().FOLDERS
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    shipped = [(_folder_of(package, folders), patterns) for package, patterns in globs.items()]
    missing = []
    for path in (p for folder in folders for p in _source_files(ROOT / folder)):
        rel = path.relative_to(ROOT).as_posix()
        if path.suffix == ".py" or rel in NOT_SHIPPED:
            continue
        if not any(
            path.is_relative_to(base) and fnmatch(path.relative_to(base).as_posix(), pattern)
            for base, patterns in shipped
            for pattern in patterns
        ):
            missing.append(rel)
    assert missing == []
