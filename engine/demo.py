"""In-memory aligned scenes, their GeoTIFF pair, and the synthetic demo scene of `build.py run`.

A :class:`Scene` is *aligned*: MS pixel (i, j) covers PAN rows r*i .. r*i+r-1 and columns
r*j .. r*j+r-1. The demo scene is generated, deterministically, with a known degradation, so a
run on it can be scored against its ground truth.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from .sensors import Sensor, get_sensor

GeoRef = tuple[tuple[float, ...], str]  # (PAN geotransform of the aligned crop, CRS WKT)


@dataclass
class Scene:
    name: str
    pan: np.ndarray  # (H, W) float64, DN
    ms_lr: np.ndarray  # (H/r, W/r, B) float64, DN
    ratio: int
    sensor: Sensor
    bits: int  # radiometric resolution used by PSNR / Q2n conventions
    georef: Optional[GeoRef] = None
    dtype: str = "uint16"  # storage type of the original MS
    notes: list[str] = field(default_factory=list)

    @property
    def n_bands(self) -> int:
        return self.ms_lr.shape[2]


def write_geotiffs(scene: Scene, folder: str | Path, ms_lr: Optional[np.ndarray] = None,
                   pan: Optional[np.ndarray] = None) -> tuple[Path, Path]:
    """Write (PAN, MS) GeoTIFFs of an aligned scene (or of arrays replacing its PAN/MS).

    Georeferenced scenes keep their CRS; the others are written as plain pixel grids.
    """
    from osgeo import gdal

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    pan = scene.pan if pan is None else pan
    ms_lr = scene.ms_lr if ms_lr is None else ms_lr
    ratio = round(pan.shape[0] / ms_lr.shape[0])
    gdal_type = {"uint8": gdal.GDT_Byte, "uint16": gdal.GDT_UInt16, "float32": gdal.GDT_Float32}[scene.dtype]
    gt, wkt = scene.georef if scene.georef else ((0.0, 1.0, 0.0, 0.0, 0.0, -1.0), "")
    paths = []
    for kind, arr, px in (("pan", pan, 1), ("ms", ms_lr, ratio)):
        arr3 = arr[:, :, None] if arr.ndim == 2 else arr
        if scene.dtype != "float32":
            info = np.iinfo(scene.dtype)
            arr3 = np.clip(np.round(arr3), info.min, info.max)
        path = folder / f"{scene.name}_{kind}.tif"
        ds = gdal.GetDriverByName("GTiff").Create(str(path), arr3.shape[1], arr3.shape[0], arr3.shape[2], gdal_type)
        if scene.georef:
            ds.SetGeoTransform((gt[0], gt[1] * px, gt[2] * px, gt[3], gt[4] * px, gt[5] * px))
            ds.SetProjection(wkt)
        for b in range(arr3.shape[2]):
            ds.GetRasterBand(b + 1).WriteArray(arr3[:, :, b])
        ds = None
        paths.append(path)
    return paths[0], paths[1]


# --- synthetic demo scene -------------------------------------------------------------------

# Land-cover classes: (name, B, G, R, NIR mean DN (11-bit), texture strength)
_CLASSES = (
    ("water", 260, 300, 210, 120, 0.03),
    ("forest", 180, 260, 190, 1150, 0.18),
    ("crop", 230, 380, 330, 1350, 0.10),
    ("bare soil", 420, 560, 680, 820, 0.08),
    ("urban", 620, 640, 660, 700, 0.12),
)
_ROOF = (520, 470, 610, 560)
_ROAD = (700, 720, 730, 760)
DEMO_SPECTRAL_WEIGHTS = (0.18, 0.30, 0.32, 0.20)  # PAN = sum w_b HRMS_b + c
DEMO_SPECTRAL_BIAS = 15.0
DEMO_PIXEL_SIZE = 0.5
DEMO_EPSG = 32633
DEMO_SENSOR, DEMO_RATIO = "GeoEye1", 4  # the demo degradation's sensor and ratio


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    n = gaussian_filter(rng.standard_normal(shape), sigma, mode="wrap")
    return (n - n.mean()) / (n.std() + 1e-12)


def demo_hrms(size: int = 512, seed: int = 0) -> np.ndarray:
    """A synthetic high-resolution 4-band (B, G, R, NIR) scene in 11-bit DN, (size, size, 4)."""
    rng = np.random.default_rng(seed)
    field_ = _smooth_noise(rng, (size, size), size / 10) + 0.5 * _smooth_noise(rng, (size, size), size / 40)
    edges = np.quantile(field_, [0.15, 0.40, 0.62, 0.80])
    labels = np.digitize(field_, edges)  # 0 water .. 4 urban
    img = np.zeros((size, size, 4))
    for k, (_, b, g, r, nir, tex) in enumerate(_CLASSES):
        texture = 1 + tex * (_smooth_noise(rng, (size, size), 1.5) + 0.7 * _smooth_noise(rng, (size, size), 6))
        mask = labels == k
        img[mask] = np.array([b, g, r, nir]) * texture[mask, None]
    # Buildings: bright rectangles with shadows, only in the urban class.
    urban = labels == 4
    for _ in range(size * size // 900):
        y, x = rng.integers(0, size - 12, 2)
        h, w = rng.integers(4, 12, 2)
        if urban[y:y + h, x:x + w].mean() > 0.8:
            img[y:y + h, x:x + w] = np.array(_ROOF) * rng.uniform(0.8, 1.25)
            img[y + h:y + h + 2, x + 1:x + w + 1] *= 0.45
    # Roads: straight bright lines, 2-3 pixels wide.
    for _ in range(max(2, size // 128)):
        if rng.random() < 0.5:
            y, width = rng.integers(0, size - 3), rng.integers(2, 4)
            img[y:y + width, :] = _ROAD
        else:
            x, width = rng.integers(0, size - 3), rng.integers(2, 4)
            img[:, x:x + width] = _ROAD
    return np.clip(img, 1, 2047)


def demo_arrays(size: int = 512, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The demo scene's (PAN, LR MS, HRMS truth) arrays, without georeferencing (no GDAL needed).

    Degradation: MS = GeoEye-1 MTF Gaussian blur + decimation by 4 (the Wald protocol's model);
    PAN = sum_b w_b HRMS_b + c (DEMO_SPECTRAL_WEIGHTS, DEMO_SPECTRAL_BIAS) blurred by the PAN MTF.
    """
    from .degradation import decimate, mtf_filter

    ratio = DEMO_RATIO
    size -= size % ratio
    sensor = get_sensor(DEMO_SENSOR)
    hrms = demo_hrms(size, seed)
    pan = hrms @ np.array(DEMO_SPECTRAL_WEIGHTS) + DEMO_SPECTRAL_BIAS
    pan = mtf_filter(pan, sensor.pan_gnyq * 2.5, ratio)  # mild PAN blur (PAN MTF is wider than MS's)
    ms_lr = decimate(mtf_filter(hrms, sensor.gains(4), ratio), ratio)
    return np.round(pan), np.round(ms_lr), hrms


def demo_scene(size: int = 512, seed: int = 0) -> tuple[Scene, np.ndarray]:
    """The synthetic demo scene (demo_arrays), georeferenced in UTM 33N with 0.5 m PAN pixels:
    (Scene, HRMS truth)."""
    from osgeo import osr

    pan, ms_lr, hrms = demo_arrays(size, seed)
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(DEMO_EPSG)
    gt = (500000.0, DEMO_PIXEL_SIZE, 0.0, 5000000.0, 0.0, -DEMO_PIXEL_SIZE)
    scene = Scene(f"demo_{pan.shape[0]}_seed{seed}", pan, ms_lr, DEMO_RATIO, get_sensor(DEMO_SENSOR), 11,
                  georef=(gt, srs.ExportToWkt()), notes=["synthetic demo scene with known ground truth"])
    return scene, hrms
