"""The sensor table: MTF Nyquist gains (reference toolbox values) and band descriptors.

One place for everything that depends on the sensor. Names follow the reference toolbox
(QB, IKONOS, GeoEye1, WV2, WV3, WV4, GF2, Pleiades, none), matched case-insensitively; which one a
file is: engine.sensor_guess.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from .errors import PansharpenError

# Normalisation range for band descriptors: wavelength (nm) mapped to [0, 1] over 400..2500 nm.
_WL_MIN, _WL_MAX = 400.0, 2500.0


@dataclass(frozen=True)
class Sensor:
    name: str
    ms_gnyq: tuple[float, ...]  # MTF gain at Nyquist per MS band ("none": one value, repeated)
    pan_gnyq: float
    wavelengths_nm: tuple[float, ...]  # band centres in the sensor's usual band order
    band_names: tuple[str, ...]
    rgb: tuple[int, int, int]  # 0-based R, G, B band indices for display

    def gains(self, n_bands: int) -> list[float]:
        """MTF Nyquist gains for ``n_bands`` bands (the toolbox falls back to 0.3 per band)."""
        if len(self.ms_gnyq) == n_bands:
            return list(self.ms_gnyq)
        return [0.3] * n_bands

    def descriptors(self, n_bands: int) -> list[float]:
        """Normalised centre wavelength per band, the band descriptor of the band-aware models."""
        wl = self.wavelengths_nm if len(self.wavelengths_nm) == n_bands else _generic_wavelengths(n_bands)
        return [(w - _WL_MIN) / (_WL_MAX - _WL_MIN) for w in wl]

    def rgb_bands(self, n_bands: int) -> tuple[int, int, int]:
        if len(self.wavelengths_nm) == n_bands:
            return self.rgb
        return (min(2, n_bands - 1), min(1, n_bands - 1), 0)


def _generic_wavelengths(n_bands: int) -> tuple[float, ...]:
    """Evenly spread visible/NIR centres for an unknown sensor, blue first."""
    if n_bands == 1:
        return (650.0,)
    return tuple(450.0 + i * (850.0 - 450.0) / (n_bands - 1) for i in range(n_bands))


_VNIR4 = ("blue", "green", "red", "nir")
_WV8 = ("coastal", "blue", "green", "yellow", "red", "rededge", "nir1", "nir2")

SENSORS: dict[str, Sensor] = {
    s.name.lower(): s
    for s in (
        Sensor("QB", (0.34, 0.32, 0.30, 0.22), 0.15, (485, 560, 660, 830), _VNIR4, (2, 1, 0)),
        Sensor("IKONOS", (0.26, 0.28, 0.29, 0.28), 0.17, (480, 550, 665, 805), _VNIR4, (2, 1, 0)),
        Sensor("GeoEye1", (0.23,) * 4, 0.16, (480, 545, 672, 850), _VNIR4, (2, 1, 0)),
        Sensor("WV4", (0.23,) * 4, 0.16, (480, 545, 672, 850), _VNIR4, (2, 1, 0)),
        Sensor("WV2", (0.35,) * 7 + (0.27,), 0.11, (427, 478, 546, 608, 659, 724, 833, 949), _WV8, (4, 2, 1)),
        Sensor(
            "WV3",
            (0.325, 0.355, 0.360, 0.350, 0.365, 0.360, 0.335, 0.315),
            0.14,
            (425, 480, 545, 605, 660, 725, 833, 950),
            _WV8,
            (4, 2, 1),
        ),
        Sensor("GF2", (0.3,) * 4, 0.15, (485, 555, 660, 830), _VNIR4, (2, 1, 0)),
        Sensor("Pleiades", (0.3,) * 4, 0.15, (490, 550, 660, 850), _VNIR4, (2, 1, 0)),
        # Not in the reference toolbox: generic 0.3 / 0.15 gains, real band centres.
        Sensor("Landsat7", (0.3,) * 6, 0.15, (485, 560, 660, 835, 1650, 2220),
               ("blue", "green", "red", "nir", "swir1", "swir2"), (2, 1, 0)),
        Sensor("Landsat8", (0.3,) * 3, 0.15, (482, 561, 655), ("blue", "green", "red"), (2, 1, 0)),
        # SPOT 6/7 bands (Airbus): blue 455-525, green 530-590, red 625-695, NIR 760-890 nm.
        Sensor("SPOT67", (0.3,) * 4, 0.15, (490, 560, 660, 825), _VNIR4, (2, 1, 0)),
        Sensor("none", (0.3,), 0.15, (), (), (2, 1, 0)),
    )
}

# The presets above with generic gains: no published MTF for these sensors, only band centres.
GENERIC_GAINS = frozenset({"Landsat7", "Landsat8", "SPOT67"})


def get_sensor(name: Optional[str]) -> Sensor:
    """Look a sensor up by its toolbox name, case-insensitively; None means 'none'."""
    key = (name or "none").strip().lower().replace("-", "").replace("_", "")
    aliases = {"geoeye": "geoeye1", "ge1": "geoeye1", "quickbird": "qb", "worldview2": "wv2",
               "worldview3": "wv3", "worldview4": "wv4", "pleiadesphr": "pleiades", "spot6": "spot67",
               "spot7": "spot67"}
    key = aliases.get(key, key)
    if key not in SENSORS:
        known = ", ".join(s.name for s in SENSORS.values())
        raise PansharpenError(f"Unknown sensor '{name}': use one of {known}.")
    return SENSORS[key]
