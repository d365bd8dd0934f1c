"""PADM Pansharpening: QGIS plugin entry point.

QGIS calls ``classFactory(iface)``; ``iface`` is None under qgis_process, which then calls only
``initProcessing()``. Nothing heavy is imported here, so loading the plugin stays fast.
"""


def classFactory(iface):  # noqa: N802 - the name QGIS looks for
    from .plugin.padm_plugin import PadmPlugin

    return PadmPlugin(iface)
