"""PADM Pansharpening engine: raster I/O, tiling, metrics, classical methods, HFreqDiff, PADM.

Never imports QGIS or Qt. Heavy dependencies (torch, onnxruntime) are imported inside functions.
"""

__version__ = "0.1.0"
DEFAULT_TILE = 512  # PAN pixels per tile side (engine, CLI and plugin default)
