"""Finding the reviewer function a command line names: ``MODULE:FUNCTION``."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

from .results import Reviewer


class LoadError(Exception):
    """The reviewer named on the command line cannot be loaded; the message is one line."""


def load_reviewer(spec: str) -> Reviewer:
    """``package.module:function`` (importable) or ``path/to/file.py:function``."""
    module_name, sep, attribute = spec.rpartition(":")
    if not sep or not module_name or not attribute:
        raise LoadError(f"{spec!r} is not MODULE:FUNCTION (e.g. mybots.tickets:review or bots/tickets.py:review)")
    module = _load_module(module_name)
    target: object = module
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise LoadError(f"{module_name} has no {attribute}") from None
    if not callable(target):
        raise LoadError(f"{module_name}:{attribute} is not a function")
    return target  # type: ignore[return-value]


def _load_module(name: str):
    if name.endswith(".py") or "/" in name:
        path = Path(name)
        if not path.is_file():
            raise LoadError(f"no file {name}")
        module_name = f"gatepass_reviewer_{path.stem}"
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            raise LoadError(f"cannot load {name}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module  # dataclasses and pickling look modules up by name
        try:
            spec.loader.exec_module(module)
        except Exception:
            del sys.modules[module_name]
            raise
        return module
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as error:
        if error.name and name.startswith(error.name):
            raise LoadError(f"no module {name} (is it on PYTHONPATH?)") from None
        raise
