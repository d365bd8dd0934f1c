"""An MS band order or subset (e.g. "5,3,2") as a VRT over the original file: the input is never
copied or modified, and the engine still reads a plain path."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Optional, Sequence

from ..errors import PansharpenError


def parse_band_order(text: str | Sequence[int] | None, band_count: int) -> Optional[list[int]]:
    """'4,3,2,1' or '4 3 2 1' (or a list) -> [4, 3, 2, 1] (1-based); None for empty text or the file's
    own order."""
    if text is None:
        return None
    if isinstance(text, str):
        text = text.strip()
        if not text:
            return None
        try:
            order = [int(tok) for tok in re.split(r"[,\s;]+", text) if tok]
        except ValueError:
            raise PansharpenError(f"MS band order '{text}' is not a list of band numbers: write e.g. 3,2,1,4.") from None
    else:
        order = [int(b) for b in text]
    shown = text if isinstance(text, str) else ",".join(map(str, order))
    bad = [b for b in order if not 1 <= b <= band_count]
    if bad or not order:
        raise PansharpenError(f"MS band order '{shown}' names band {bad[0] if bad else '?'}, but the MS has bands "
                              f"1..{band_count}: fix the band order.")
    if len(set(order)) != len(order):
        raise PansharpenError(f"MS band order '{shown}' repeats a band: list each band at most once.")
    return None if order == list(range(1, band_count + 1)) else order


def band_order_vrt(ms_path: str | Path, order: Sequence[int], folder: Path) -> Path:
    """A VRT in ``folder`` holding the MS bands in ``order`` (1-based, alpha bands not counted),
    referring to the original file; the MS's alpha bands follow them, so the mask is kept."""
    from osgeo import gdal

    from .gdalio import open_raster

    _, info = open_raster(ms_path, "MS")
    bands = [info.band_list[b - 1] for b in order] + info.alpha_bands
    out = Path(folder) / "ms_bands.vrt"
    ds = gdal.Translate(str(out), str(Path(ms_path).absolute()), format="VRT", bandList=bands)
    if ds is None:
        raise PansharpenError(f"Cannot select bands {list(order)} of {ms_path}: check the file.")
    ds = None
    return out


def ms_band_count(ms_path: str | Path) -> int:
    from .gdalio import open_raster

    _, info = open_raster(ms_path, "MS")
    return info.bands
