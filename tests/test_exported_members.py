"""The public surface: what ``from voltlab... import *`` gives, pinned.

Changing one of these lists is an API change; make it on purpose, here and in the docs.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from types import ModuleType

import pytest

EXPORTED = {
    "voltlab": ["__version__"],
    "voltlab.simulator": [
        "ConnectorRef",
        "FrameSink",
        "RuntimeSnapshot",
        "StateSink",
        "Station",
        "StationOptions",
        "StationSpec",
    ],
    "voltlab.fleet": ["FleetBackend", "LocalFleet"],
}


def _public_names(module: ModuleType) -> list[str]:
    """Names a reader would take for the module's API: no submodules, no privates."""
    return sorted(
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and not isinstance(value, ModuleType)
        and type(value).__module__ != "__future__"  # ``from __future__ import annotations``
    )


@pytest.mark.parametrize("module_name", sorted(EXPORTED))
def test_the_exported_names_are_the_pinned_ones(module_name: str):
    module = importlib.import_module(module_name)
    assert module.__all__ == EXPORTED[module_name]


@pytest.mark.parametrize("module_name", sorted(EXPORTED))
def test_every_public_name_is_exported_and_every_export_exists(module_name: str):
    module = importlib.import_module(module_name)
    exported = [name for name in module.__all__ if not name.startswith("_")]
    assert exported == _public_names(module)
    for name in module.__all__:
        assert getattr(module, name) is not None


def test_the_package_version_is_the_installed_distribution_version():
    import voltlab

    assert voltlab.__version__ == importlib.metadata.version("voltlab")
