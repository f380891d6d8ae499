"""Packaging: folders equal import names, and every package folder is in pyproject's list."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_folder_is_listed():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    found = set()
    for base in (ROOT / "plugin", ROOT / "components"):
        for init in base.rglob("__init__.py"):
            found.add(".".join(init.parent.relative_to(base).parts))
    assert found <= listed, f"packages missing from pyproject.toml: {sorted(found - listed)}"
    # Code folders are their import names; only the spec data folders are mapped.
    assert config["package-dir"] == {
        "": "plugin",
        "hwcomponents_sparsecim": "components/hwcomponents_sparsecim",
        "sparsecim.arch": "arch",
        "sparsecim.mappings": "mappings",
    }


def test_plugin_imports_nothing_of_sparsecim():
    for source in (ROOT / "components" / "hwcomponents_sparsecim").rglob("*.py"):
        text = source.read_text()
        assert "import sparsecim" not in text and "from sparsecim" not in text, source.name
