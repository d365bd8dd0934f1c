"""What a raster file says about the satellite that took it (engine.sensor_guess decides the preset).

GDAL's metadata readers fill the IMAGERY domain (SATELLITEID) when a delivery's sidecar sits beside
the image under the name they expect: Maxar/DigitalGlobe ``<image>.IMD`` or ``<image>.XML``
(``<isd>``), Airbus DIMAP (``DIM_<x>.XML`` beside ``IMG_<x>_R1C1.TIF``, SPOT's ``METADATA.DIM``),
Landsat ``<scene>_MTL.txt`` beside ``<scene>_B8.TIF`` (Collection 1 keys only: Collection 2's
SPACECRAFT_ID stays in the IMD domain), GeoEye ``<x>_metadata.txt``. GDAL's DIMAP driver (a DIM
file opened itself) puts MISSION and MISSION_INDEX in the default domain and the band spectral
ranges in the band metadata. Sidecars GDAL did not attach (a renamed image) are looked for beside
the file: ``*_MTL.txt``, ``DIM_*.XML``, ``METADATA.DIM``, ``*.IMD``, Maxar ``<isd>`` XML.
"""

from __future__ import annotations

import math
import os
import re
from typing import Optional

from osgeo import gdal, osr

from ..sensor_guess import ProductFacts, SensorGuess, guess
from .gdalio import RasterInfo, open_raster

# GDAL's METADATATYPE (default domain) -> the kind of product its reader parsed
_KINDS = {"DG": "Maxar/DigitalGlobe", "DIMAP": "Airbus DIMAP", "ODL": "Landsat MTL", "GE": "GeoEye",
          "OV": "OrbView", "ALOS": "ALOS", "EROS": "EROS", "KOMPSAT": "KOMPSAT", "RDK1": "Resurs-DK1"}
_SIDECAR_MAX_BYTES = 2_000_000  # read no more of a sidecar: the satellite is near its top


def read_facts(ds: gdal.Dataset, info: RasterInfo) -> ProductFacts:
    """The facts of one open raster: the satellite its product names, and its bands."""
    satellite, source = _satellite(ds, info.path)
    return ProductFacts(bands=info.bands, satellite=satellite, source=source,
                        descriptions=tuple(info.descriptions), wavelengths_nm=_wavelengths(ds, info),
                        pixel_m=_pixel_m(info), text=info.metadata_text, name=os.path.basename(info.path))


def detect_sensor(ms_path: str, pan_path: Optional[str] = None) -> SensorGuess:
    """The sensor of an MS file (and its PAN, where given), as a run with the sensor unset uses it."""
    facts = []
    for path, role in ((ms_path, "MS"), (pan_path, "PAN")):
        if path:
            ds, info = open_raster(path, role)
            facts.append(read_facts(ds, info))
            ds = None
    return guess(facts[0], facts[1] if len(facts) > 1 else None)


def _satellite(ds: gdal.Dataset, path: str) -> tuple[str, str]:
    """(the satellite as the product names it, where that was read); ('', '') when nothing does."""
    sidecars = ", ".join(os.path.basename(f) for f in (ds.GetFileList() or [])[1:])
    satellite = ((ds.GetMetadata("IMAGERY") or {}).get("SATELLITEID") or "").strip()
    if satellite:
        kind = _KINDS.get((ds.GetMetadataItem("METADATATYPE") or "").upper(), "")
        return satellite, f"GDAL IMAGERY domain ({' '.join(x for x in (kind, sidecars) if x)})"
    for key, value in (ds.GetMetadata("IMD") or {}).items():
        if key.upper().endswith(".SPACECRAFT_ID") and value.strip('" '):
            return value.strip('" '), f"Landsat MTL ({sidecars})"
    md = ds.GetMetadata() or {}
    if md.get("MISSION"):
        return f"{md['MISSION']} {md.get('MISSION_INDEX', '')}".strip(), f"DIMAP {os.path.basename(path)}"
    return _sidecar(path)


_SIDECARS = (  # (file name test, what its first 4 kB must hold, regular expressions of the satellite's parts)
    (lambda n: n.endswith("_MTL.TXT"), "SPACECRAFT_ID", (r'SPACECRAFT_ID\s*=\s*"?([A-Za-z0-9_]+)',)),
    (lambda n: (n.startswith("DIM_") and n.endswith(".XML")) or n == "METADATA.DIM", "Dimap_Document",
     (r"<MISSION>\s*([^<]+?)\s*</MISSION>", r"<MISSION_INDEX>\s*([^<]+?)\s*</MISSION_INDEX>")),
    (lambda n: n.endswith(".IMD"), "", (r'satId\s*=\s*"?([A-Za-z0-9_]+)',)),
    (lambda n: n.endswith(".XML") and not n.endswith(".AUX.XML"), "<isd>", (r"<SATID>\s*([^<]+?)\s*</SATID>",)),
)


def _sidecar(path: str) -> tuple[str, str]:
    """The satellite named by the delivery sidecars beside the file ('' when none names one, or
    when they name several)."""
    folder = os.path.dirname(os.path.abspath(path))
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return "", ""
    found: dict[str, str] = {}
    for name in names:
        upper = name.upper()
        kind = next(((head, patterns) for test, head, patterns in _SIDECARS if test(upper)), None)
        if kind is None:
            continue
        head, patterns = kind
        try:
            with open(os.path.join(folder, name), encoding="utf-8", errors="replace") as f:
                text = f.read(4096)
                if head not in text:  # another kind of file with that name ending
                    continue
                text += f.read(_SIDECAR_MAX_BYTES)
        except OSError:
            continue
        matches = [re.search(p, text) for p in patterns]
        if matches[0]:  # the first part is the satellite; the second (DIMAP's MISSION_INDEX) optional
            found.setdefault(" ".join(m.group(1) for m in matches if m), name)
    if len(found) != 1:
        return "", ""
    satellite, name = found.popitem()
    return satellite, f"{name} beside the file"


def _wavelengths(ds: gdal.Dataset, info: RasterInfo) -> tuple[Optional[float], ...]:
    """Centre wavelength (nm) per band from the band metadata GDAL exposes: CENTRAL_WAVELENGTH_UM
    (IMAGERY domain, GDAL >= 3.10), ENVI's wavelength (+ wavelength_units), DIMAP's
    SPECTRAL_RANGE_MIN/MAX; else a description like "Red (665 nm)"; None for a band without."""
    units = (ds.GetMetadataItem("wavelength_units") or "").lower()
    out = []
    for i in info.band_list or range(1, ds.RasterCount + 1):  # the bands read (alpha bands left out)
        band = ds.GetRasterBand(i)
        md = {k.upper(): v for k, v in {**(band.GetMetadata() or {}), **(band.GetMetadata("IMAGERY") or {})}.items()}
        value, unit = None, units
        try:
            if "CENTRAL_WAVELENGTH_UM" in md:
                value, unit = float(md["CENTRAL_WAVELENGTH_UM"]), "um"
            elif "WAVELENGTH" in md:
                value = float(md["WAVELENGTH"])
                unit = md.get("WAVELENGTH_UNITS", unit).lower()
            elif "SPECTRAL_RANGE_MIN" in md and "SPECTRAL_RANGE_MAX" in md:
                value = (float(md["SPECTRAL_RANGE_MIN"]) + float(md["SPECTRAL_RANGE_MAX"])) / 2
                unit = md.get("SPECTRAL_RANGE_MEASURE_UNIT", "").lower()
        except ValueError:
            value = None
        number = re.search(r"(\d{3,4}(?:\.\d+)?)\s*nm\b", band.GetDescription() or "", re.IGNORECASE)
        if value is None and number:  # a description such as "Red (665 nm)"
            value, unit = float(number.group(1)), "nm"
        if value is not None and ("micro" in unit or unit in ("um", "µm") or (not unit and value < 10)):
            value *= 1000.0
        out.append(value)
    return tuple(out)


def _pixel_m(info: RasterInfo) -> Optional[float]:
    """Pixel width in metres: a projected CRS in metres, or a geographic one (degrees of longitude
    at the raster's centre latitude); else None."""
    if not info.georeferenced or not info.wkt:
        return None
    srs = osr.SpatialReference(wkt=info.wkt)
    gt = info.geotransform
    if srs.IsProjected():
        return abs(gt[1]) or None if abs(srs.GetLinearUnits() - 1.0) < 1e-9 else None
    if srs.IsGeographic():
        lat = gt[3] + gt[5] * info.height / 2  # GDAL's traditional order: x longitude, y latitude
        return abs(gt[1]) * math.pi / 180 * srs.GetSemiMajor() * math.cos(math.radians(lat)) or None
    return None
