"""Raster I/O with GDAL, one job per module: ``gdalio`` (one raster, windows, errors),
``alignment`` (MS onto the PAN/ratio grid), ``pair`` (the validated PAN/MS pair, read by window),
``writer`` (the atomic output GeoTIFF and its metadata), ``preview`` (PNG), ``evaluation_inputs``
(whole arrays for the metrics)."""
