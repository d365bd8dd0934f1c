#!/usr/bin/env python3
"""Render the dock beside a fused result on a map canvas, offscreen: resources/screenshot.png.

Run by `python3 build.py screenshot` (as `.venv/bin/python tools/screenshot.py [--pan P --ms M]
[--method hfreqdiff] [--out PNG]`). The dock really runs: layers are picked, Run is clicked, the
task fuses the scene in the background and the result is added to the canvas, as in QGIS. The
default scene is the shared WorldView-3 pair (../shared/data/wv3_hpf_geotiff); without it, the
project's synthetic demo scene. A build tool: it does not ship in the plugin zip.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# run as a script, tools/ is sys.path[0]: its packaging.py would shadow pip's `packaging`
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
SHARED_WV3 = ROOT.parent / "shared" / "data" / "wv3_hpf_geotiff"


class ScreenshotIface:
    """The two things the dock asks of QGIS's interface: the map canvas and the message bar."""

    def __init__(self, canvas, bar) -> None:
        self._canvas, self._bar = canvas, bar

    def mapCanvas(self):  # noqa: N802 - QGIS API
        return self._canvas

    def messageBar(self):  # noqa: N802 - QGIS API
        return self._bar


def _inputs(args, work: Path) -> tuple[str, str, str]:
    if args.pan and args.ms:
        return args.pan, args.ms, Path(args.pan).stem
    if (SHARED_WV3 / "pan.tif").is_file():
        return str(SHARED_WV3 / "pan.tif"), str(SHARED_WV3 / "mul.tif"), "WorldView-3"
    from padm_pansharpening.engine.demo import demo_scene, write_geotiffs

    scene, _ = demo_scene(512, seed=0)
    pan, ms = write_geotiffs(scene, work / "demo_inputs")
    return str(pan), str(ms), "demo scene"


def _wait(condition, app, timeout: float) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise SystemExit("screenshot: timed out waiting for the run")
        app.processEvents()
        time.sleep(0.02)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Render the PADM dock beside a fused result (offscreen PNG).")
    parser.add_argument("--pan")
    parser.add_argument("--ms")
    parser.add_argument("--method", default="hfreqdiff", help="dock method key (default hfreqdiff)")
    parser.add_argument("--out", default=str(ROOT / "resources" / "screenshot.png"))
    parser.add_argument("--size", default="1500x1000", help="window size WxH in pixels")
    args = parser.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ["GDAL_PAM_ENABLED"] = "NO"  # QGIS's statistics never land beside the (shared) inputs

    from qgis.core import QgsApplication, QgsProject, QgsRasterLayer
    from qgis.gui import QgsMapCanvas, QgsMessageBar
    from qgis.PyQt.QtCore import Qt
    from qgis.PyQt.QtWidgets import QMainWindow, QVBoxLayout, QWidget

    work = ROOT / "build" / "screenshot"
    work.mkdir(parents=True, exist_ok=True)
    app = QgsApplication([], True, str(work / "qgis-profile"))  # never the user's QGIS profile
    app.initQgis()
    from padm_pansharpening.plugin.dock import PadmDock

    pan, ms, label = _inputs(args, work)

    window = QMainWindow()
    window.setWindowTitle("QGIS — PADM Pansharpening")
    centre = QWidget()
    layout = QVBoxLayout(centre)
    layout.setContentsMargins(0, 0, 0, 0)
    bar = QgsMessageBar(centre)
    canvas = QgsMapCanvas(centre)
    canvas.setCanvasColor(Qt.white)
    layout.addWidget(bar)
    layout.addWidget(canvas, 1)
    window.setCentralWidget(centre)
    dock = PadmDock(ScreenshotIface(canvas, bar), window)
    window.addDockWidget(Qt.RightDockWidgetArea, dock)
    width, height = (int(v) for v in args.size.split("x"))
    window.resize(width, height)
    window.show()
    window.resizeDocks([dock], [dock.preferred_width()], Qt.Horizontal)  # the width the plugin opens it at

    pan_layer, ms_layer = QgsRasterLayer(pan, f"{label} PAN", "gdal"), QgsRasterLayer(ms, f"{label} MS", "gdal")
    if not (pan_layer.isValid() and ms_layer.isValid()):
        print(f"screenshot: cannot open {pan} / {ms}", file=sys.stderr)
        return 2
    QgsProject.instance().addMapLayers([pan_layer, ms_layer])
    canvas.setDestinationCrs(pan_layer.crs())
    dock.pan_combo.setLayer(pan_layer)
    dock.ms_combo.setLayer(ms_layer)
    dock.set_method(args.method)
    dock.steps.setValue(1)
    dock.output.setFilePath(str(work / f"{Path(pan).stem}_{args.method}.tif"))
    dock.confirm_long_run = lambda seconds: True  # no one to ask offscreen
    dock.confirm_overwrite = lambda path: True  # the previous screenshot's output
    task = dock.run()
    if task is None:
        print("screenshot: the dock refused to run: " + dock.stage_label.text(), file=sys.stderr)
        return 2
    _wait(lambda: dock.task is None, app, 1800)
    if not dock.added_layers:
        print("screenshot: the run failed: " + dock.stage_label.text(), file=sys.stderr)
        return 2
    fused = dock.added_layers[-1]
    for _ in range(20):  # let the window settle to its final size before choosing the view
        app.processEvents()
    window.resizeDocks([dock], [dock.preferred_width()], Qt.Horizontal)  # the fields as filled now
    for _ in range(20):
        app.processEvents()
    if dock.scroll.horizontalScrollBar().isVisible():
        print("screenshot: the dock is cut (horizontal scrollbar)", file=sys.stderr)
        return 2
    canvas.setLayers([fused])
    canvas.setExtent(fused.extent())
    canvas.refresh()
    _wait(lambda: not canvas.isDrawing(), app, 120)
    for _ in range(50):
        app.processEvents()
        time.sleep(0.01)
    _wait(lambda: not canvas.isDrawing(), app, 120)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not window.grab().save(str(out), "PNG"):
        print(f"screenshot: cannot write {out}", file=sys.stderr)
        return 2
    print(f"wrote {out} ({width}x{height}; {label}, {dock.method_combo.currentText()}, "
          f"{dock.device_label.text()})")
    QgsProject.instance().removeAllMapLayers()
    os._exit(0)  # QGIS 3.22 can crash in its C++ teardown; the PNG is written


if __name__ == "__main__":
    sys.exit(main())
