"""Readers for the shared real PAN/MS scenes in ../shared/data (never copied into the project).

Every scene is returned *aligned* (engine.demo.Scene), using the alignment each scene's README
documents (index offsets for the .mat crops, the geotransform for the GeoTIFF pairs).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import numpy as np

from padm_pansharpening.engine.demo import Scene
from padm_pansharpening.engine.errors import PansharpenError
from padm_pansharpening.engine.sensors import Sensor, get_sensor


def shared_data_dir() -> Path:
    """../shared/data next to the checkout, or $PADM_SHARED_DATA."""
    env = os.environ.get("PADM_SHARED_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "shared" / "data"  # lab/ -> repository -> ..


def _crop_to_ratio(pan: np.ndarray, ms: np.ndarray, ratio: int) -> tuple[np.ndarray, np.ndarray]:
    h = min(ms.shape[0], pan.shape[0] // ratio)
    w = min(ms.shape[1], pan.shape[1] // ratio)
    return pan[: h * ratio, : w * ratio], ms[:h, :w]


def wald_pair(scene: Scene) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(pan, ms, pan_lr, ms_lr): the scene cropped so its MS is a multiple of the ratio (the
    Wald-degraded pair then aligns, as engine.evaluation crops it), and that reduced-resolution pair."""
    from padm_pansharpening.engine.degradation import wald_degrade

    r = scene.ratio
    h, w = (scene.ms_lr.shape[0] // r) * r, (scene.ms_lr.shape[1] // r) * r
    pan, ms = scene.pan[: h * r, : w * r], scene.ms_lr[:h, :w]
    ms_lr, pan_lr = wald_degrade(ms, pan, scene.sensor, r)
    return pan, ms, pan_lr, ms_lr


def _loadmat(path: Path) -> dict:
    from scipy.io import loadmat

    if not path.exists():
        raise PansharpenError(f"Scene file {path} is missing: set PADM_SHARED_DATA to the shared data folder.")
    return loadmat(str(path))


def _read_gdal(path: Path) -> tuple[np.ndarray, tuple[float, ...], str, str]:
    """Whole small raster as (H, W) or (H, W, B) float64, geotransform, WKT, numpy dtype name."""
    from osgeo import gdal

    gdal.PushErrorHandler("CPLQuietErrorHandler")  # libtiff ExtraSamples notes on some shared files
    try:
        ds = gdal.Open(str(path))
    finally:
        gdal.PopErrorHandler()
    if ds is None:
        raise PansharpenError(f"Cannot open {path}: check the shared data folder.")
    arr = ds.ReadAsArray().astype(np.float64)
    if arr.ndim == 3:
        arr = np.moveaxis(arr, 0, 2)
    dtype = gdal.GetDataTypeName(ds.GetRasterBand(1).DataType).lower()
    return arr, ds.GetGeoTransform(), ds.GetProjection(), dtype


def _shift_geotransform(gt: tuple[float, ...], row: float, col: float) -> tuple[float, ...]:
    return (gt[0] + col * gt[1] + row * gt[2], gt[1], gt[2], gt[3] + col * gt[4] + row * gt[5], gt[4], gt[5])


def _ge1() -> Scene:
    m = _loadmat(shared_data_dir() / "ge1_grip_pnn" / "imgGE1.mat")
    return Scene("ge1_grip_pnn", m["I_PAN"].astype(np.float64), m["I_MS"].astype(np.float64), 4,
                 get_sensor("GeoEye1"), 8, dtype="uint8")


def _zpnn(variant: str) -> Callable[[], Scene]:
    def load() -> Scene:
        m = _loadmat(shared_data_dir() / "wv3_zpnn_example" / f"{variant}.mat")
        # README: MS row i matches PAN rows 4i-1 .. 4i+2 (one PAN row up); columns at zero offset.
        pan = m["I_PAN"].astype(np.float64)[3:-1]
        ms = m["I_MS_LR"].astype(np.float64)[1:]
        pan, ms = _crop_to_ratio(pan, ms, 4)
        name = "wv3_zpnn_example" + ("" if variant == "WV3_example" else "_6ba3dec")
        return Scene(name, pan, ms, 4, get_sensor("WV3"), 11)

    return load


def _fusebox(crop: int) -> Callable[[], Scene]:
    def load() -> Scene:
        folder = shared_data_dir() / "landsat7_etm_fusebox"
        ms = _loadmat(folder / f"{crop}_ms.mat")["cropped_im"].astype(np.float64)
        pan = _loadmat(folder / f"{crop}_pan.mat")["cropped_gray"].astype(np.float64)
        # README: a consistent 1-PAN-pixel offset; 2x2 blocks of PAN[1:-1, 1:-1] match MS[1:, 1:].
        pan, ms = _crop_to_ratio(pan[1:-1, 1:-1], ms[1:, 1:], 2)
        ms = ms[:, :, [2, 1, 0, 3, 4, 5]]  # stored R, G, B, NIR, SWIR1, SWIR2 -> sensor order B, G, R, ...
        return Scene(f"landsat7_etm_fusebox_{crop}", pan, ms, 2, get_sensor("Landsat7"), 8, dtype="uint8",
                     notes=["bands reordered to B, G, R, NIR, SWIR1, SWIR2"])

    return load


def _wv3_hpf() -> Scene:
    folder = shared_data_dir() / "wv3_hpf_geotiff"
    pan, gt, wkt, _ = _read_gdal(folder / "pan.tif")
    ms, _, _, _ = _read_gdal(folder / "mul.tif")
    # README: MS origin is +2 PAN columns / +1 PAN row from the PAN origin.
    pan, ms = _crop_to_ratio(pan[1:, 2:], ms, 4)
    return Scene("wv3_hpf_geotiff", pan, ms, 4, get_sensor("WV3"), 7, georef=(_shift_geotransform(gt, 1, 2), wkt),
                 dtype="float32", notes=["DOS-corrected reflectance-like floats (0..118), not raw DN: bits=7"])


def _landsat_oli() -> Scene:
    from padm_pansharpening.engine.raster.pair import open_pair

    folder = shared_data_dir() / "landsat_oli_istanbul_geotiff"
    # Read exactly as the engine reads the two GeoTIFFs (engine.raster.open_pair): Landsat's grids
    # are centre-aligned (each MS pixel centred on PAN pixel 2i of the file), so the engine drops the
    # first PAN row/column and takes the MS by index, MS pixel i on PAN pixel 2i+1 of the region —
    # the phase of interp23tap. No resampling: the MS keeps its integer DNs.
    pair = open_pair(folder / "pan.tif", folder / "ms.tif")
    pan, ms, _, _ = pair.read(0, 0, pair.height, pair.width)
    return Scene("landsat_oli_istanbul_geotiff", pan, ms, 2, get_sensor("Landsat8"), 16,
                 georef=(pair.geotransform, pair.pan.wkt), dtype="uint16",
                 notes=["centre-aligned grids: MS by index, first PAN row/column dropped (engine.raster)"])


def _vhr4b() -> Scene:
    folder = shared_data_dir() / "vhr4b_zhengzhou_geotiff"
    pan, gt, wkt, _ = _read_gdal(folder / "pan.tif")
    ms, _, _, _ = _read_gdal(folder / "ms.tif")
    # README: registered on plain indices despite an inconsistent geotransform; keep the PAN origin
    # with square 0.5 m pixels. Band order R, G, B, NIR -> B, G, R, NIR.
    pan, ms = _crop_to_ratio(pan, ms, 4)
    ms = ms[:, :, [2, 1, 0, 3]]
    gt_clean = (gt[0], 0.5, 0.0, gt[3], 0.0, -0.5)
    return Scene("vhr4b_zhengzhou_geotiff", pan, ms, 4, get_sensor("none"), 11, georef=(gt_clean, wkt),
                 notes=["sensor unknown: generic MTF gains", "bands reordered to B, G, R, NIR"])


def _wv2_rio() -> Scene:
    folder = shared_data_dir() / "wv2_rio_rr_geotiff"
    pan, _, _, _ = _read_gdal(folder / "WV2RioPAN.tif")
    ms, _, _, _ = _read_gdal(folder / "WV2RioMSLR.tif")
    return Scene("wv2_rio_rr_geotiff", pan, ms, 4, get_sensor("WV2"), 11, dtype="float32",
                 notes=["already a reduced-resolution simulation of the toolbox"])


_LOADERS: dict[str, Callable[[], Scene]] = {
    "ge1_grip_pnn": _ge1,
    "wv3_zpnn_example": _zpnn("WV3_example"),
    "wv3_zpnn_example_6ba3dec": _zpnn("WV3_example_6ba3dec"),
    "wv3_hpf_geotiff": _wv3_hpf,
    "landsat_oli_istanbul_geotiff": _landsat_oli,
    "vhr4b_zhengzhou_geotiff": _vhr4b,
    "landsat7_etm_fusebox_1": _fusebox(1),
    "landsat7_etm_fusebox_21": _fusebox(21),
    "landsat7_etm_fusebox_34": _fusebox(34),
    "wv2_rio_rr_geotiff": _wv2_rio,
}


def list_scenes() -> list[str]:
    return list(_LOADERS)


def load_scene(name: str) -> Scene:
    """A shared scene, aligned; from $PADM_SCENE_CACHE when that folder holds it (no GDAL needed)."""
    if name not in _LOADERS:
        raise PansharpenError(f"Unknown scene '{name}': use one of {', '.join(_LOADERS)}.")
    cache = os.environ.get("PADM_SCENE_CACHE")
    if cache and (Path(cache) / f"{name}.npz").exists():
        return read_scene_cache(Path(cache) / f"{name}.npz")
    return _LOADERS[name]()


def write_scene_cache(names: list[str], folder: str | Path) -> list[Path]:
    """Save loaded scenes as .npz (arrays + JSON metadata) for a machine without GDAL or the shared
    data (a lent GPU machine); point $PADM_SCENE_CACHE at the folder there."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in names:
        s = load_scene(name)
        meta = {"name": s.name, "ratio": s.ratio, "bits": s.bits, "dtype": s.dtype, "notes": s.notes,
                "sensor": asdict(s.sensor), "georef": list(s.georef) if s.georef else None}
        path = folder / f"{name}.npz"
        np.savez_compressed(path, pan=s.pan, ms_lr=s.ms_lr, meta=np.array(json.dumps(meta)))
        paths.append(path)
    return paths


def read_scene_cache(path: Path) -> Scene:
    """A scene saved by write_scene_cache."""
    with np.load(path) as z:
        meta = json.loads(str(z["meta"]))
        pan, ms = z["pan"], z["ms_lr"]
    sensor = Sensor(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in meta["sensor"].items()})
    georef = (tuple(meta["georef"][0]), meta["georef"][1]) if meta["georef"] else None
    return Scene(meta["name"], pan, ms, meta["ratio"], sensor, meta["bits"], georef, meta["dtype"], meta["notes"])
