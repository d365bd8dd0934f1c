"""Renderers for the layers the plugin adds: the fused image in natural or false colour with a
cumulative-cut stretch, and the uncertainty (spread of the samples) as a pseudocolour ramp."""

from __future__ import annotations

from typing import Optional

from qgis.core import (
    QgsContrastEnhancement,
    QgsMultiBandColorRenderer,
    QgsRasterLayer,
    QgsRasterMinMaxOrigin,
    QgsSingleBandPseudoColorRenderer,
    QgsStyle,
)

from ..engine.sensors import Sensor, get_sensor

NATURAL, FALSE_COLOUR = "natural", "false"
CUT = (0.02, 0.98)  # cumulative cut of the stretch, as QGIS's default


# display layout assumed for an unknown sensor, by band count (the usual band orders)
_LAYOUT_BY_BANDS = {8: "WV3", 6: "Landsat7", 4: "GeoEye1", 3: "Landsat8"}


def display_bands(sensor: Sensor, bands: int, mode: str = NATURAL) -> tuple[int, int, int]:
    """1-based band numbers for R, G, B: the sensor's red/green/blue, or NIR/red/green for false colour.
    An unknown sensor is displayed as the common layout with that many bands (e.g. 8: WorldView)."""
    if sensor.name == "none" and bands in _LAYOUT_BY_BANDS:
        sensor = get_sensor(_LAYOUT_BY_BANDS[bands])
    r, g, b = sensor.rgb_bands(bands)
    if mode == FALSE_COLOUR and bands >= 4:
        names = [n.lower() for n in sensor.band_names] if len(sensor.band_names) == bands else []
        nir = next((i for i, n in enumerate(names) if n.startswith("nir")), bands - 1 if not names else None)
        if nir is not None:
            return nir + 1, r + 1, g + 1
    if bands < 3:
        return 1, min(2, bands), 1
    return r + 1, g + 1, b + 1


def _stretch(layer: QgsRasterLayer) -> None:
    layer.setContrastEnhancement(QgsContrastEnhancement.StretchToMinimumMaximum, QgsRasterMinMaxOrigin.CumulativeCut)


def style_fused(layer: QgsRasterLayer, sensor_name: Optional[str] = None, mode: str = NATURAL) -> tuple[int, int, int]:
    """Multiband colour renderer (natural or false colour) with a 2-98 % cumulative-cut stretch."""
    sensor = get_sensor(sensor_name or "none")
    bands = layer.bandCount()
    if bands < 3:  # nothing to combine: grey stretch of the first band
        layer.setRenderer(QgsSingleBandPseudoColorRenderer(layer.dataProvider(), 1))
        _pseudocolour(layer, 1, "Greys")
        return 1, 1, 1
    rgb = display_bands(sensor, bands, mode)
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
