"""Processing algorithms of the PADM Pansharpening provider."""
