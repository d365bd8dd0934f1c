"""Which sensor preset a product is, from what its files say (engine.raster.product reads them).

In order: the satellite the product names (GDAL's IMAGERY domain, a DIMAP MISSION, a Landsat MTL
SPACECRAFT_ID), then sensor names in any metadata text or the file name, then the bands: their
count, their descriptions (coastal, blue, ..., nir2) or centre wavelengths, and the MS pixel size.
The result says which presets fit, which one is used, and why, in one line; when several fit and
one is assumed (8 bands: WorldView-3 or WorldView-2) it is ``ambiguous`` and the dock asks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional, Sequence

from .sensors import GENERIC_GAINS, SENSORS, Sensor


@dataclass(frozen=True)
class ProductFacts:
    """What one raster file says about its sensor (all optional but the band count)."""

    bands: int
    satellite: str = ""  # the product's own name for it: "WV02", "PHR 1A", "LANDSAT_8"
    source: str = ""  # where that name was read, e.g. "GDAL IMAGERY domain (Maxar/DigitalGlobe x.IMD)"
    descriptions: tuple[str, ...] = ()
    wavelengths_nm: tuple[Optional[float], ...] = ()  # centre per band, where the file gives one
    pixel_m: Optional[float] = None  # pixel size in metres (projected CRS in metres only)
    text: str = ""  # all metadata as text, for sensor names written anywhere in it
    name: str = ""  # the file's name, which may say the sensor too


@dataclass(frozen=True)
class SensorGuess:
    sensor: Sensor
    candidates: tuple[str, ...]  # the presets that fit (the used one first); () when none does
    why: str  # what was found and what it means, e.g. "8 bands, ...: WV2 has the same bands"
    hint: str = ""  # what to pass to the command line to change it, e.g. "pass --sensor WV2 if it is WV2"
    basis: str = ""  # what the bands told, when the guess comes from them
    from_product: bool = False  # named by the product's metadata (not inferred from the bands)

    @property
    def ambiguous(self) -> bool:
        """A preset was assumed among several that fit: the user should choose."""
        return self.sensor.name != "none" and len(self.candidates) > 1

    @property
    def reason(self) -> str:
        """One line: 'sensor WV3 (why; hint)'."""
        name = self.sensor.name if self.sensor.name != "none" else "'none'"
        return f"sensor {name} ({'; '.join(x for x in (self.why, self.hint) if x)})"

    def note(self) -> str:
        return f"assumed {self.reason}"

    def question(self) -> str:
        """The one-line question the dock asks when ambiguous ('' otherwise)."""
        if not self.ambiguous:
            return ""
        return f"{' or '.join(self.candidates)}? Choose the sensor ({self.basis})."


# The product's satellite name (upper case, letters and digits only) -> preset; None: no preset.
_SATELLITES: dict[str, Optional[str]] = {
    "WV02": "WV2", "WORLDVIEW2": "WV2", "WV03": "WV3", "WORLDVIEW3": "WV3", "WV04": "WV4",
    "WORLDVIEW4": "WV4", "WV01": None, "WORLDVIEW1": None, "GE01": "GeoEye1", "GEOEYE1": "GeoEye1",
    "QB02": "QB", "QUICKBIRD": "QB", "QUICKBIRD2": "QB", "IK02": "IKONOS", "IKONOS": "IKONOS",
    "IKONOS2": "IKONOS", "PHR1A": "Pleiades", "PHR1B": "Pleiades", "PLEIADES1A": "Pleiades",
    "PLEIADES1B": "Pleiades", "SPOT6": "SPOT67", "SPOT7": "SPOT67", "LANDSAT7": "Landsat7",
    "LANDSAT8": "Landsat8", "LANDSAT9": "Landsat8", "GF2": "GF2", "GAOFEN2": "GF2",
}
# Sensor names written in metadata text or file names (substrings, lower case) -> preset.
_TEXT_HINTS: Sequence[tuple[str, str]] = (
    ("worldview-3", "WV3"), ("worldview3", "WV3"), ("wv03", "WV3"), ("wv3", "WV3"),
    ("worldview-2", "WV2"), ("worldview2", "WV2"), ("wv02", "WV2"), ("wv2", "WV2"),
    ("worldview-4", "WV4"), ("geoeye", "GeoEye1"), ("ge01", "GeoEye1"),
    ("quickbird", "QB"), ("ikonos", "IKONOS"), ("gaofen-2", "GF2"), ("gf2", "GF2"),
    ("pleiades", "Pleiades"), ("phr1", "Pleiades"), ("landsat_8", "Landsat8"),
    ("landsat8", "Landsat8"), ("lc08", "Landsat8"), ("lc09", "Landsat8"),
    ("landsat_7", "Landsat7"), ("le07", "Landsat7"), ("spot6", "SPOT67"), ("spot7", "SPOT67"),
)
# Band description words -> the band names of the sensor table ("nir" and "nir1" are one band).
_BAND_WORDS: Sequence[tuple[str, str]] = (
    ("coastal", "coastal"), ("aerosol", "coastal"), ("deepblue", "coastal"), ("yellow", "yellow"),
    ("rededge", "rededge"), ("nir2", "nir2"), ("nir1", "nir"), ("nearinfrared", "nir"), ("nir", "nir"),
    ("swir1", "swir1"), ("swir2", "swir2"), ("red", "red"), ("green", "green"), ("blue", "blue"),
)
_WL_TOL_NM = 30.0  # a band's centre within this of the preset's
# Native MS pixel at nadir (m, DigitalGlobe/Maxar specifications), to tell apart presets with the
# same bands: a product's MS pixel is not finer than its sensor's native one (10 % tolerance).
_NATIVE_MS_PIXEL_M: dict[str, float] = {"WV3": 1.24, "WV2": 1.85}
_DISTINCT_COUNTS = (8,)  # band counts that alone narrow the sensor (8: WorldView-2/3's bands)
_PREFERRED = ("WV3", "WV2")  # assumed, in this order (or the nearest native pixel), when several fit


def guess(ms: ProductFacts, pan: Optional[ProductFacts] = None) -> SensorGuess:
    """The sensor of an MS file (and its PAN): from the product's metadata, else from the bands."""
    for facts in (ms, pan):
        if facts is not None and facts.satellite:
            return _from_satellite(facts, ms.bands)
    files = [f for f in (ms, pan) if f is not None]
    for needle, name in _TEXT_HINTS:
        if any(needle in f.text.lower() for f in files):
            return _named(name, ms.bands, "from the file metadata")
        named = next((f.name for f in files if needle in f.name.lower()), None)
        if named:
            return _named(name, ms.bands, f"from the file name {named}")
    return _from_bands(ms)


_GENERIC = "generic MTF gains 0.3, PAN 0.15"
_SET_IT = "pass --sensor to set it"


def _from_satellite(facts: ProductFacts, n_bands: int) -> SensorGuess:
    key = re.sub(r"[^A-Z0-9]", "", facts.satellite.upper())
    where = f"{facts.satellite}, {facts.source}" if facts.source else facts.satellite
    name = _SATELLITES.get(key)
    if name is None:
        return SensorGuess(SENSORS["none"], (), f"{_GENERIC}: the product is {where}, which has no preset",
                           _SET_IT, from_product=True)
    return _named(name, n_bands, f"from the product: {where}")


def _named(name: str, n_bands: int, why: str) -> SensorGuess:
    sensor = SENSORS[name.lower()]
    if len(sensor.wavelengths_nm) != n_bands:
        why += (f"; its {len(sensor.wavelengths_nm)}-band preset does not fit the file's {n_bands} bands: generic "
                "gains and band centres")
    elif sensor.name in GENERIC_GAINS:
        why += "; no published MTF: generic gains 0.3, PAN 0.15, its real band centres"
    return SensorGuess(sensor, (sensor.name,), why, from_product=True)


def band_names(descriptions: Sequence[str]) -> Optional[tuple[str, ...]]:
    """The table's band name of each description ('Coastal', 'NIR-2', 'B8 (Red Edge)'), or None
    when any description names no band."""
    names = []
    for d in descriptions:
        flat = re.sub(r"[^a-z0-9]", "", d.lower())
        name = next((band for word, band in _BAND_WORDS if word in flat), None)
        if name is None:
            return None
        names.append(name)
    return tuple(names)


def _canonical(names: Sequence[str]) -> tuple[str, ...]:
    return tuple("nir" if n == "nir1" else n for n in names)


def _from_bands(ms: ProductFacts) -> SensorGuess:
    n = ms.bands
    presets = [s for s in SENSORS.values() if s.name != "none" and len(s.wavelengths_nm) == n]
    told: list[str] = []
    named = band_names(ms.descriptions) if len(ms.descriptions) == n and any(ms.descriptions) else None
    order_hint = ""
    if named:
        same = [s for s in presets if _canonical(s.band_names) == named]
        if not same and any(sorted(_canonical(s.band_names)) == sorted(named) for s in presets):
            order_hint = " in this order (give the bands in the preset's order to use one)"
        presets = same
        told.append(f"bands named {_span(named)}")
    wl = ms.wavelengths_nm
    if len(wl) == n and all(w is not None for w in wl):
        presets = [s for s in presets if all(abs(a - b) <= _WL_TOL_NM for a, b in zip(s.wavelengths_nm, wl))]
        told.append(f"band centres {_span([f'{w:.0f}' for w in wl])} nm")
    basis = f"{n} band{'s' if n != 1 else ''}, {', '.join(told) or 'no band names'}, no sensor metadata"
    if not told and n not in _DISTINCT_COUNTS:
        names = ", ".join(s.name for s in presets)
        why = (f"{n} bands alone do not tell the sensor ({names} {'has' if len(presets) == 1 else 'have'} {n})"
               if presets else f"no preset has {n} band{'s' if n != 1 else ''}")
        return _generic(basis, why, tuple(s.name for s in presets))
    if ms.pixel_m is not None and len(presets) > 1 and all(s.name in _NATIVE_MS_PIXEL_M for s in presets):
        px, native = ms.pixel_m, _NATIVE_MS_PIXEL_M
        coarser = [s.name for s in presets if native[s.name] > 1.1 * px]
        presets = sorted((s for s in presets if s.name not in coarser), key=lambda s: abs(native[s.name] - px))
        basis += f", MS pixel {px:.2f} m" + "".join(f", finer than {c}'s native {native[c]} m" for c in coarser)
    else:
        presets.sort(key=lambda s: _PREFERRED.index(s.name) if s.name in _PREFERRED else len(_PREFERRED))
    names = tuple(s.name for s in presets)
    if not names:
        return _generic(basis, f"no preset fits{order_hint}", ())
    if len(names) == 1:
        return SensorGuess(SENSORS[names[0].lower()], names, f"{basis}: only {names[0]} fits", basis=basis)
    if names[0] not in _PREFERRED:
        return _generic(basis, f"{', '.join(names)} fit", names)
    alt = " or ".join(names[1:])
    return SensorGuess(SENSORS[names[0].lower()], names,
                       f"{basis}: {alt} {'has' if len(names) == 2 else 'have'} the same bands",
                       f"pass --sensor {names[1]} if it is {alt}", basis)


def _generic(basis: str, why: str, candidates: tuple[str, ...]) -> SensorGuess:
    return SensorGuess(SENSORS["none"], candidates, f"{_GENERIC}; {basis}: {why}", _SET_IT, basis)


def _span(items: Sequence[str]) -> str:
    return ",".join(items) if len(items) <= 4 else f"{items[0]}..{items[-1]}"
