"""Renderers for the layers the plugin adds: the fused image in natural or false colour with a
cumulative-cut stretch, and the uncertainty (spread of the samples) as a pseudocolour ramp; and
the names they get in the Layers panel.

The colours follow what each band is, never its position: the red, green and blue (and NIR) bands
are found from the output's band names (the engine writes the MS descriptions or the sensor's band
names), else from the sensor's band centres of the MS bands the run used (band order 5,3,2 of a
WorldView-3 MS is red, green, blue), and only else from the usual layout for that many bands."""

from __future__ import annotations

import re
from pathlib import Path
from statistics import mean
from typing import Optional, Sequence

from qgis.core import (
    QgsContrastEnhancement,
    QgsMultiBandColorRenderer,
    QgsRasterLayer,
    QgsRasterMinMaxOrigin,
    QgsSingleBandPseudoColorRenderer,
    QgsStyle,
)

from ..engine.definitions import CLASSICAL_METHODS, HFREQDIFF
from ..engine.sensor_guess import band_names
from ..engine.sensors import SENSORS, Sensor, get_sensor

NATURAL, FALSE_COLOUR = "natural", "false"
CUT = (0.02, 0.98)  # cumulative cut of the stretch, as QGIS's default

# display layout assumed for an unknown sensor, by band count (the usual band orders)
_LAYOUT_BY_BANDS = {8: "WV3", 6: "Landsat7", 4: "GeoEye1", 3: "Landsat8"}
# (target centre, lowest, highest) in nm of the bands shown as red, green, blue, and NIR
_RED, _GREEN, _BLUE, _NIR = (660, 600, 700), (550, 500, 600), (480, 430, 520), (833, 760, 1000)


def _name_centres() -> dict[str, float]:
    """Centre wavelength (nm) of each band name of the sensor table, averaged over the sensors."""
    seen: dict[str, list[float]] = {}
    for sensor in SENSORS.values():
        for name, wl in zip(sensor.band_names, sensor.wavelengths_nm):
            seen.setdefault("nir" if name == "nir1" else name, []).append(float(wl))
    return {name: mean(values) for name, values in seen.items()}


_CENTRES = _name_centres()


def wavelength_of(description: str) -> Optional[float]:
    """A band's centre (nm) from its description: '665 nm', 'red', 'B8 (NIR-2)'; None when unknown."""
    text = re.sub(r"^\s*band\s*\d+\s*:?\s*", "", description or "", flags=re.IGNORECASE)
    number = re.search(r"(\d{3,4}(?:\.\d+)?)\s*nm", text, flags=re.IGNORECASE)
    if number:
        return float(number.group(1))
    named = band_names([text]) if text.strip() else None
    return _CENTRES.get("nir" if named and named[0] == "nir1" else named[0]) if named else None


def source_wavelengths(sensor: Sensor, source_bands: int) -> list[Optional[float]]:
    """Band centres of an MS with ``source_bands`` bands: the sensor's, or for an unknown sensor
    those of the usual layout with that many bands (e.g. 8: WorldView); Nones when none fits."""
    if sensor.name == "none" and source_bands in _LAYOUT_BY_BANDS:
        sensor = get_sensor(_LAYOUT_BY_BANDS[source_bands])
    if len(sensor.wavelengths_nm) == source_bands:
        return [float(w) for w in sensor.wavelengths_nm]
    return [None] * source_bands


def _nearest(wavelengths: Sequence[Optional[float]], target: tuple[int, int, int]) -> Optional[int]:
    centre, lo, hi = target
    fits = [(abs(w - centre), i) for i, w in enumerate(wavelengths) if w is not None and lo <= w <= hi]
    return min(fits)[1] if fits else None


def bands_by_wavelength(wavelengths: Sequence[Optional[float]], mode: str = NATURAL) -> Optional[tuple[int, int, int]]:
    """1-based bands to show as R, G, B: red, green, blue (false colour: NIR, red, green) found by
    centre wavelength; None when one of them is not there."""
    wanted = (_NIR, _RED, _GREEN) if mode == FALSE_COLOUR else (_RED, _GREEN, _BLUE)
    found = [_nearest(wavelengths, target) for target in wanted]
    if None in found:
        return None
    return tuple(i + 1 for i in found)  # type: ignore[return-value]


def display_bands(sensor: Sensor, bands: int, mode: str = NATURAL, descriptions: Sequence[str] = (),
                  band_order: Optional[Sequence[int]] = None, source_bands: Optional[int] = None) -> tuple[int, int, int]:
    """1-based band numbers for R, G, B of an output with ``bands`` bands: by band names
    (``descriptions``), else by the sensor's centres of the MS bands used (``band_order``, 1-based,
    of an MS with ``source_bands`` bands), else the usual layout for that many bands."""
    if len(descriptions) == bands:
        by_name = bands_by_wavelength([wavelength_of(d) for d in descriptions], mode)
        if by_name is not None:
            return by_name
    source = source_wavelengths(sensor, source_bands or (max(band_order) if band_order else bands))
    used = [source[b - 1] if 0 < b <= len(source) else None for b in band_order] if band_order else source
    if len(used) == bands:
        by_centre = bands_by_wavelength(used, mode)
        if by_centre is None and mode == FALSE_COLOUR:
            by_centre = bands_by_wavelength(used, NATURAL)
        if by_centre is not None:
            return by_centre
    if bands < 3:
        return 1, min(2, bands), 1
    r, g, b = sensor.rgb_bands(bands)
    return r + 1, g + 1, b + 1


def band_descriptions(layer: QgsRasterLayer) -> list[str]:
    """The band descriptions of a GDAL layer ('' where none): QGIS names such bands 'Band 1: red'."""
    names = []
    for band in range(1, layer.bandCount() + 1):
        name = layer.bandName(band)
        names.append(name.split(":", 1)[1].strip() if ":" in name else "")
    return names


def band_count(path: str) -> Optional[int]:
    """Bands of a raster file (the MS a run used), None when it cannot be read."""
    from osgeo import gdal

    ds = gdal.OpenEx(str(path), gdal.OF_RASTER)
    return ds.RasterCount if ds is not None else None


def _stretch(layer: QgsRasterLayer) -> None:
    layer.setContrastEnhancement(QgsContrastEnhancement.StretchToMinimumMaximum, QgsRasterMinMaxOrigin.CumulativeCut)


def style_fused(layer: QgsRasterLayer, sensor_name: Optional[str] = None, mode: str = NATURAL,
                band_order: Optional[Sequence[int]] = None, source_bands: Optional[int] = None) -> tuple[int, int, int]:
    """Multiband colour renderer (natural or false colour) with a 2-98 % cumulative-cut stretch; the
    bands chosen as display_bands says, from the layer's band names first."""
    sensor = get_sensor(sensor_name or "none")
    bands = layer.bandCount()
    if bands < 3:  # nothing to combine: grey stretch of the first band
        layer.setRenderer(QgsSingleBandPseudoColorRenderer(layer.dataProvider(), 1))
        _pseudocolour(layer, 1, "Greys")
        return 1, 1, 1
    rgb = display_bands(sensor, bands, mode, band_descriptions(layer), band_order, source_bands)
    layer.setRenderer(QgsMultiBandColorRenderer(layer.dataProvider(), *rgb))
    _stretch(layer)
    layer.triggerRepaint()
    return rgb


def _pseudocolour(layer: QgsRasterLayer, band: int, ramp_name: str) -> None:
    provider = layer.dataProvider()
    lo, hi = provider.cumulativeCut(band, CUT[0], CUT[1], sampleSize=int(QgsRasterLayer.SAMPLE_SIZE))
    renderer = QgsSingleBandPseudoColorRenderer(provider, band)
    renderer.setClassificationMin(float(lo))
    renderer.setClassificationMax(float(max(hi, lo + 1e-9)))
    renderer.createShader(QgsStyle.defaultStyle().colorRamp(ramp_name))
    layer.setRenderer(renderer)
    layer.triggerRepaint()


def style_uncertainty(layer: QgsRasterLayer, band: int = 1) -> None:
    """Pseudocolour (viridis) of one band's spread, stretched over its 2-98 % range."""
    _pseudocolour(layer, band, "Viridis")


# -- names in the Layers panel ----------------------------------------------------------------------
_PAN_WORDS = re.compile(r"(^|[_\-. ])(pan|panchromatic|p)($|[_\-. ])", re.IGNORECASE)


def scene_name(name: str) -> str:
    """A short name of the scene from the PAN layer's name or file: 'pan' dropped where a name is
    left ('scene_PAN' -> 'scene', 'WorldView-3 PAN' -> 'WorldView-3'; 'pan_512' stays), the folder's
    name for a file called just pan.tif ('wv3_hpf/pan.tif' -> 'wv3_hpf')."""
    path = Path(name)
    stem = path.stem if path.suffix.lower() in (".tif", ".tiff", ".vrt", ".jp2", ".img") else name
    short = _PAN_WORDS.sub(lambda m: m.group(1) if m.group(3) else "", stem).strip("_-. ")
    if re.search(r"[A-Za-z]", short):
        return short
    if not short and path.suffix and path.parent.name:
        return path.parent.name
    return stem


def method_label(method: str) -> str:
    """HFreqDiff, GSA, MTF-GLP-HPM, ...: the method as the dock's list names it."""
    if method == HFREQDIFF:
        return "HFreqDiff"
    label = CLASSICAL_METHODS.get(method, method)
    return label.split(":")[0].strip()


def layer_name(scene: str, method: str, what: str = "") -> str:
    """'<scene> · <method>' (and ' · uncertainty' for the spread layer); ``scene``: the PAN layer's
    name or file."""
    return " · ".join(part for part in (scene_name(scene), method_label(method), what) if part)
