"""The QGIS/Qt face of PADM Pansharpening: plugin class, Processing provider and algorithms."""
