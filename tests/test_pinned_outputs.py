"""Fused outputs stay byte-identical to the ones pinned before the layout change (issue 13): same
pixels for every classical method and for HFreqDiff (default = the fast preset, 2 steps / seed 3, and
the best preset; re-pinned with issue 14) on crops of two real shared scenes, through the whole file
pipeline (read, align, tile, fuse, write)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal

from padm_pansharpening.engine.pipeline import fuse_files

PINNED = json.loads((Path(__file__).parent / "data" / "pinned_outputs.json").read_text())["outputs"]
SCENES = {"wv3_hpf": ("wv3_hpf_geotiff", "pan.tif", "mul.tif"),
          "landsat8": ("landsat_oli_istanbul_geotiff", "pan.tif", "ms.tif")}
RUNS = {"gsa": ("gsa", {}), "mtf-glp-hpm": ("mtf-glp-hpm", {}), "bdsd-pc": ("bdsd-pc", {}), "brovey": ("brovey", {}),
        "hfreqdiff": ("hfreqdiff", {}), "hfreqdiff_s2": ("hfreqdiff", {"steps": 2, "seed": 3, "ensemble": "none"}),
        "hfreqdiff_best": ("hfreqdiff", {"quality": "best"})}
CROP = (64, 64, 160)  # PAN row/column offset and side; the MS crop is the same area


def _crop(shared_data: Path, key: str, folder: Path) -> tuple[Path, Path]:
    scene, pan_name, ms_name = SCENES[key]
    pan_ds, ms_ds = gdal.Open(str(shared_data / scene / pan_name)), gdal.Open(str(shared_data / scene / ms_name))
    r = round(ms_ds.GetGeoTransform()[1] / pan_ds.GetGeoTransform()[1])
    off, _, side = CROP
    pan, ms = folder / f"{key}_pan.tif", folder / f"{key}_ms.tif"
    gdal.Translate(str(pan), pan_ds, srcWin=[off, off, side, side])
    gdal.Translate(str(ms), ms_ds, srcWin=[off // r, off // r, side // r, side // r])
    return pan, ms


@pytest.mark.parametrize("key", list(SCENES))
def test_outputs_match_the_pinned_checksums(shared_data, tmp_path, key):
    pan, ms = _crop(shared_data, key, tmp_path)
    changed = []
    for run, (method, options) in RUNS.items():
        out = tmp_path / f"{key}_{run}.tif"
        fuse_files(pan, ms, out, method=method, tile=96, method_options=options)
        pixels = np.ascontiguousarray(gdal.Open(str(out)).ReadAsArray())
        if hashlib.sha256(pixels.tobytes()).hexdigest() != PINNED[f"{key}/{run}"]:
            changed.append(run)
    assert not changed, f"outputs changed on {key}: {changed}"
