"""Walking the JSON `terraform show -json` prints: nested keys, every resource of every module."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def module_resources(module: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every resource of a module and of its child modules, depth first."""
    yield from module.get("resources") or []
    for child in module.get("child_modules") or []:
        yield from module_resources(child)


def get_path(data: object, *keys: str) -> Any:
    """data[keys[0]][keys[1]]..., or None where a level is missing or not an object."""
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data
