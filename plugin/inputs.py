"""From what the user picked to what the engine reads: files, band order, extent.

Layers are resolved to their files in the main thread (``layer_file``). A band order other than
the file's, or an extent smaller than the layer, becomes a VRT in a temporary folder that refers
to the original file: the inputs are never copied or modified, and the engine still sees plain
paths. ``prepare_inputs`` runs in the worker thread (GDAL on files only, no QGIS objects).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence


Extent = tuple[float, float, float, float]  # xmin, ymin, xmax, ymax in the PAN's CRS


def layer_file(layer, role: str) -> str:
    """The GDAL file behind a raster layer; a one-line PansharpenError when there is none."""
    from qgis.core import QgsProviderRegistry

    from ..engine.errors import PansharpenError

    if layer is None:
        raise PansharpenError(f"No {role} raster chosen: pick a raster layer for {role}.")
    parts = QgsProviderRegistry.instance().decodeUri(layer.providerType(), layer.source())
    path = parts.get("path") or ""
    if layer.providerType() != "gdal" or not Path(path).is_file() or parts.get("layerName"):
        raise PansharpenError(f"{role} layer '{layer.name()}' is not a raster file ({layer.source()}): "
                              "save it as a GeoTIFF and use that file.")
    return path


@dataclass
class PreparedInputs:
    pan: str
    ms: str
    notes: list[str]


def _window(gt: Sequence[float], width: int, height: int, extent: Extent, pad: int) -> Optional[tuple[int, int, int, int]]:
    """Pixel window (xoff, yoff, xsize, ysize) covering ``extent`` plus ``pad`` pixels, inside the raster."""
    x0, px, _, y0, _, py = gt
    cols = sorted(((extent[0] - x0) / px, (extent[2] - x0) / px))
    rows = sorted(((extent[1] - y0) / py, (extent[3] - y0) / py))
    c0, c1 = max(0, math.floor(cols[0]) - pad), min(width, math.ceil(cols[1]) + pad)
    r0, r1 = max(0, math.floor(rows[0]) - pad), min(height, math.ceil(rows[1]) + pad)
    if c1 <= c0 or r1 <= r0:
        return None
    return c0, r0, c1 - c0, r1 - r0


def prepare_inputs(pan: str, ms: str, workdir: Path, band_order: Optional[list[int]] = None,
                   extent: Optional[Extent] = None, sensor: Optional[str] = None) -> PreparedInputs:
    """PAN and MS paths for the engine: the files themselves, or VRTs over them (band subset/order,
    extent) written in ``workdir``. The MS window is cut on its own pixel grid, one MS pixel wider
    than the extent on each side, and the PAN window covers the same ground, so the engine keeps
    the exact pixel-size ratio and aligns the grids as for the whole files. Picked bands keep their
    names (the file's descriptions, else the names of ``sensor`` or of the sensor the file says), so
    the output names them too."""
    from osgeo import gdal

    from ..engine.errors import PansharpenError

    notes: list[str] = []
    ms_out, pan_out = ms, pan
    if extent is not None:
        ms_ds, pan_ds = gdal.Open(ms), gdal.Open(pan)
        if ms_ds is None or pan_ds is None:
            raise PansharpenError(f"Cannot open {ms if ms_ds is None else pan}: check the file.")
        ms_win = _window(ms_ds.GetGeoTransform(), ms_ds.RasterXSize, ms_ds.RasterYSize, extent, pad=1)
        if ms_win is None:
            raise PansharpenError("The chosen extent does not overlap the MS raster: zoom the map onto the "
                                  "scene or process the whole layer.")
        mgt = ms_ds.GetGeoTransform()
        ground = (mgt[0] + ms_win[0] * mgt[1], mgt[3] + (ms_win[1] + ms_win[3]) * mgt[5],
                  mgt[0] + (ms_win[0] + ms_win[2]) * mgt[1], mgt[3] + ms_win[1] * mgt[5])
        pan_win = _window(pan_ds.GetGeoTransform(), pan_ds.RasterXSize, pan_ds.RasterYSize,
                          _shrink(ground, pan_ds.GetGeoTransform()), pad=0)
        if pan_win is None:
            raise PansharpenError("The chosen extent does not overlap the PAN raster: zoom the map onto the "
                                  "scene or process the whole layer.")
        ms_out = _vrt(ms, workdir / "ms_extent.vrt", srcWin=list(ms_win), bandList=band_order)
        pan_out = _vrt(pan, workdir / "pan_extent.vrt", srcWin=list(pan_win))
        notes.append(f"extent: PAN pixels {pan_win[0]}..{pan_win[0] + pan_win[2] - 1} x "
                     f"{pan_win[1]}..{pan_win[1] + pan_win[3] - 1} of {Path(pan).name}")
        ms_ds = pan_ds = None
    elif band_order is not None:
        ms_out = _vrt(ms, workdir / "ms_bands.vrt", bandList=band_order)
    if band_order is not None:
        notes.append(f"MS bands used, in this order: {', '.join(map(str, band_order))}")
        _name_bands(ms_out, ms, band_order, sensor)
    return PreparedInputs(pan_out, ms_out, notes)


def _name_bands(vrt: str, source: str, band_order: list[int], sensor: Optional[str]) -> None:
    """Describe the VRT's bands as the source's bands they are, where the source does not."""
    from osgeo import gdal

    src = gdal.Open(source)
    if src is None:
        return
    names = [src.GetRasterBand(b).GetDescription() for b in range(1, src.RasterCount + 1)]
    if not any(names):
        try:
            from ..engine.sensors import get_sensor

            chosen = get_sensor(sensor or detect_sensor(source)[0])
        except Exception:  # noqa: BLE001 - unnamed bands are only a display matter
            chosen = None
        if chosen is not None and len(chosen.band_names) == len(names):
            names = list(chosen.band_names)
    # nothing names them: say which source band each is (the legend then shows "MS band 5", not "Band 1")
    names = [n or f"MS band {b}" for b, n in enumerate(names, start=1)]
    ds = gdal.Open(vrt, gdal.GA_Update)
    for out_band, src_band in enumerate(band_order, start=1):
        if names[src_band - 1] and not ds.GetRasterBand(out_band).GetDescription():
            ds.GetRasterBand(out_band).SetDescription(names[src_band - 1])
    ds = src = None


def _shrink(bounds: Extent, gt: Sequence[float]) -> Extent:
    """Bounds moved inward by a hundredth of a pixel, so that rounding never adds a PAN column."""
    dx, dy = abs(gt[1]) / 100, abs(gt[5]) / 100
    return bounds[0] + dx, bounds[1] + dy, bounds[2] - dx, bounds[3] - dy


def _vrt(src: str, dst: Path, **options) -> str:
    from osgeo import gdal

    from ..engine.errors import PansharpenError

    ds = gdal.Translate(str(dst), src, format="VRT", **{k: v for k, v in options.items() if v is not None})
    if ds is None:
        raise PansharpenError(f"Cannot make a view of {src} ({gdal.GetLastErrorMsg() or 'GDAL error'}): check the file.")
    ds = None
    return str(dst)


def detect_sensor(ms_path: str) -> tuple[str, str]:
    """(sensor name, how it was found) as the engine would guess it from the MS file."""
    found = sensor_guess(ms_path)
    return found.sensor.name, found.reason


def sensor_guess(ms_path: str):
    """The engine's guess (engine.sensor_guess.SensorGuess) for the MS file: the sensor, the presets
    that fit, why; ``ambiguous`` when the user should choose."""
    from ..engine.raster.product import detect_sensor as detect

    return detect(ms_path)
