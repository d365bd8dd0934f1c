"""The tile-method protocol every fusion method implements, and the registry of methods by name.

A method is fitted once on a scene sample (global parameters), then fuses ratio-aligned tiles.
The pipeline (engine.pipeline, engine.tiling) pads tiles by reflection at the scene borders, adds
``halo(ratio)`` PAN pixels of context on each side, crops it away again and feather-blends the
overlaps, so a method that is pointwise after ``fit`` (or whose spatial support lies within its
halo) gives the same result on a whole scene as on its tiles.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Protocol, runtime_checkable

import numpy as np

from .errors import PansharpenError
from .sensors import Sensor


@runtime_checkable
class FusionMethod(Protocol):
    name: str

    def halo(self, ratio: int) -> int:
        """PAN pixels of context a tile needs on each side (0 for pointwise methods)."""
        ...

    def fit(self, pan: np.ndarray, ms_lr: np.ndarray, ratio: int, sensor: Sensor) -> None:
        """Scene-wide parameters from a scene sample: pan (H, W), ms_lr (H/r, W/r, B), aligned.
        Optional keyword ``valid=(pan_valid (H, W), ms_valid (H/r, W/r))``: given (by engine.tiling)
        only when the sample has nodata/masked pixels, which are then in-filled; a method that takes
        it computes its statistics from valid pixels only (engine.validity.fit_masks)."""
        ...

    def fuse_tile(self, pan: np.ndarray, ms_lr: np.ndarray, ratio: int, origin: tuple[int, int]) -> np.ndarray:
        """Fused (H, W, B) for one tile; origin = global (row, col) in PAN pixels of the tile's top-left
        in the processed region (negative inside the reflection padding at the scene's top/left).
        A method with ``context_aware = True`` also takes ``context=N``: the tiler discards N PAN
        pixels on each side of what it returns (its halo), so the method may skip computing them."""
        ...


# name -> module (relative to this package) whose class with that ``name`` attribute implements it.
_REGISTRY: dict[str, str] = {
    "exp": ".classical",
    "brovey": ".classical",
    "gsa": ".classical",
    "mtf-glp-hpm": ".classical",
    "bdsd-pc": ".classical",
    "bt-h": ".classical",
    "hfreqdiff": ".hfreqdiff",
}
METHOD_NAMES: tuple[str, ...] = tuple(_REGISTRY)

_ALIASES = {"mtf_glp_hpm": "mtf-glp-hpm", "mtfglphpm": "mtf-glp-hpm", "bdsd": "bdsd-pc", "bdsdpc": "bdsd-pc",
            "bdsd_pc": "bdsd-pc", "bth": "bt-h", "bt_h": "bt-h", "gs": "gsa", "hfd": "hfreqdiff"}


def canonical_name(name: str) -> str:
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    if key not in _REGISTRY:
        raise PansharpenError(f"Unknown method '{name}': use one of {', '.join(METHOD_NAMES)}.")
    return key


def _method_class(module, name: str) -> type:
    """The class in ``module`` whose ``name`` attribute is ``name`` (case-insensitively)."""
    for _, obj in inspect.getmembers(module, inspect.isclass):
        cls_name = getattr(obj, "name", None)
        if isinstance(cls_name, str) and cls_name.lower() == name and callable(getattr(obj, "fuse_tile", None)):
            return obj
    raise PansharpenError(f"Method '{name}' is not available in this installation ({module.__name__} has no such class).")


def get_method(name: str, **options) -> FusionMethod:
    """A fresh method instance by registry name; options are passed to its constructor."""
    key = canonical_name(name)
    module = importlib.import_module(_REGISTRY[key], __package__)
    cls = _method_class(module, key)
    try:
        return cls(**options)
    except TypeError as exc:
        raise PansharpenError(f"Bad options for method '{key}': {exc}; check the option names.") from exc
