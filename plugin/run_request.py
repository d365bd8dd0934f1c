"""From the dock's form to a RunRequest, in the main thread: the files behind the layers, the band
order, the extent in the PAN's CRS, HFreqDiff's options, the output name; and how long it will take."""

from __future__ import annotations

import tempfile
import time
import uuid
from pathlib import Path
from typing import Optional

from qgis.core import QgsCoordinateTransform, QgsProject, QgsRasterLayer

from ..engine.definitions import HFREQDIFF
from ..engine.errors import PansharpenError
from ..engine.gpu import onnxruntime_has_cuda
from . import deps, estimate, models
from .dependency_panel import needed_for
from .dock_form import FINETUNE, DockForm
from ..engine.raster.bands import parse_band_order
from .inputs import Extent, layer_file
from .tasks import RunRequest


def build_request(form: DockForm, canvas=None) -> RunRequest:
    """A RunRequest from the widgets; PansharpenError with one line when the form is incomplete or a
    package the method needs is missing. ``canvas``: the map canvas, for the canvas extent."""
    pan_layer, ms_layer = form.pan_combo.currentLayer(), form.ms_combo.currentLayer()
    pan, ms = layer_file(pan_layer, "PAN"), layer_file(ms_layer, "MS")
    order = parse_band_order(form.band_order.text(), ms_layer.bandCount())
    key = form.method_key()
    options = form.hfreqdiff_options()
    missing = needed_for(key)
    if key == HFREQDIFF and options is not None and options.uses_torch():
        missing = deps.missing("hfreqdiff-torch")  # a torch model: onnxruntime is not needed
    if missing:
        raise PansharpenError(deps.missing_line(missing))
    extent = canvas_extent(canvas, pan_layer) if form.extent_combo.currentData() == "canvas" else None
    out = form.output.filePath().strip() or temporary_output(pan, key)
    if Path(out).suffix.lower() not in (".tif", ".tiff"):
        raise PansharpenError(f"Output {out} is not a GeoTIFF name: end it with .tif.")
    request = RunRequest(pan=pan, ms=ms, out=out, method=form.engine_method(), sensor=form.sensor_choice(),
                         tile=form.tile.value(), options=options, band_order=order, extent=extent)
    if key == FINETUNE:
        request.finetune_dir = str(models.new_model_folder(pan))
        request.finetune_minutes = float(form.budget.value())
    return request


def canvas_extent(canvas, pan_layer: QgsRasterLayer) -> Extent:
    """The part of the PAN layer the map canvas shows, in the PAN's CRS."""
    if canvas is None:
        raise PansharpenError("No map canvas to take the extent from: process the whole layer.")
    transform = QgsCoordinateTransform(canvas.mapSettings().destinationCrs(), pan_layer.crs(), QgsProject.instance())
    rect = transform.transformBoundingBox(canvas.extent()).intersect(pan_layer.extent())
    if rect.isEmpty():
        raise PansharpenError("The map canvas does not show any part of the PAN layer: zoom onto it or "
                              "process the whole layer.")
    return rect.xMinimum(), rect.yMinimum(), rect.xMaximum(), rect.yMaximum()


def temporary_output(pan: str, method: str) -> str:
    folder = Path(tempfile.gettempdir()) / "padm_pansharpening"
    folder.mkdir(parents=True, exist_ok=True)
    return str(folder / f"{Path(pan).stem}_{method}_{time.strftime('%Y%m%d-%H%M%S')}_{uuid.uuid4().hex[:6]}.tif")


def estimate_seconds(request: RunRequest, pan_layer: Optional[QgsRasterLayer]) -> float:
    """The run's expected duration on this machine (estimate's rates), fine-tuning included."""
    if request.extent is not None and pan_layer is not None:
        x0, y0, x1, y1 = request.extent
        mp = (x1 - x0) / pan_layer.rasterUnitsPerPixelX() * (y1 - y0) / pan_layer.rasterUnitsPerPixelY() / 1e6
    else:
        mp = pan_layer.width() * pan_layer.height() / 1e6 if pan_layer is not None else 0.0
    opts = request.options
    provider = "cuda" if opts is not None and opts.device != "cpu" and onnxruntime_has_cuda() else "cpu"
    return estimate.estimate_seconds(mp, request.method, (opts.steps or 1) if opts else 1, opts.samples if opts else 1,
                                     provider, request.finetune_minutes if request.finetune_dir else 0.0)
