"""From the dock's form to a RunRequest, in the main thread: the files behind the layers, the band
order, the extent in the PAN's CRS, HFreqDiff's options, the output name; and how long it will take."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Optional

from qgis.core import QgsCoordinateTransform, QgsProject, QgsRasterLayer, QgsSettings

from ..engine.definitions import HFREQDIFF
from ..engine.errors import PansharpenError
from ..engine.gpu import onnxruntime_has_cuda
from . import deps, estimate, models, styling
from .dependency_panel import needed_for
from .dock_form import FINETUNE, DockForm
from ..engine.raster.bands import parse_band_order
from .inputs import Extent, layer_file
from .tasks import RunRequest
from .widgets import SETTINGS


def build_request(form: DockForm, canvas=None) -> RunRequest:
    """A RunRequest from the widgets; PansharpenError with one line when the form is incomplete or a
    package the method needs is missing. ``canvas``: the map canvas, for the canvas extent."""
    pan_layer, ms_layer = form.pan_combo.currentLayer(), form.ms_combo.currentLayer()
    pan, ms = layer_file(pan_layer, "PAN"), layer_file(ms_layer, "MS")
    order = parse_band_order(form.band_order.text(), ms_layer.bandCount())
    found = form.sensor_found
    if form.sensor_choice() is None and found is not None and found.ambiguous:
        raise PansharpenError(f"The MS could be {' or '.join(found.candidates)} ({found.basis}): choose the sensor "
                              "in the Sensor list.")
    key = form.method_key()
    options = form.hfreqdiff_options()
    missing = needed_for(key)
    if key == HFREQDIFF and options is not None and options.uses_torch():
        missing = deps.missing("hfreqdiff-torch")  # a torch model: onnxruntime is not needed
    if missing:
        raise PansharpenError(deps.missing_line(missing))
    extent = canvas_extent(canvas, pan_layer) if form.extent_combo.currentData() == "canvas" else None
    out = form.output.filePath().strip() or default_output(pan, key)
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


def output_folder() -> Path:
    """Where a run without an output name writes: the saved project's folder, else the folder of
    the last output the user named (remembered), else <QGIS profile>/padm_pansharpening/outputs;
    never a temporary folder that a reboot empties."""
    project = QgsProject.instance().absolutePath()
    if project and Path(project).is_dir():
        return Path(project)
    remembered = str(QgsSettings().value(SETTINGS + "output_folder", "") or "")
    if remembered and Path(remembered).is_dir():
        return Path(remembered)
    return deps.profile_folder() / "outputs"


def default_output(scene: str, method: str, folder: Optional[Path] = None) -> str:
    """<folder>/<scene>_<method>.tif, numbered (-2, -3...) rather than replacing a file."""
    folder = Path(folder) if folder is not None else output_folder()
    folder.mkdir(parents=True, exist_ok=True)
    stem = re.sub(r"[^\w.-]+", "_", f"{styling.scene_name(scene)}_{method}").strip("_") or "pansharpened"
    path, n = folder / f"{stem}.tif", 1
    while path.exists():
        n += 1
        path = folder / f"{stem}-{n}.tif"
    return str(path)


def remember_output(path: str) -> None:
    """A folder the user chose becomes the default of later runs (when no project is saved)."""
    QgsSettings().setValue(SETTINGS + "output_folder", str(Path(path).parent))


def estimate_seconds(request: RunRequest, pan_layer: Optional[QgsRasterLayer],
                     ms_layer: Optional[QgsRasterLayer] = None) -> float:
    """The run's expected duration on this machine (estimate's rates), fine-tuning included; for
    HFreqDiff from the work of its tiles (bands, halo, quality preset), kept in request.work."""
    width, height = _region_size(request, pan_layer)
    mp = width * height / 1e6
    opts = request.options
    provider = "cuda" if opts is not None and opts.device != "cpu" and onnxruntime_has_cuda() else "cpu"
    if request.method == HFREQDIFF and opts is not None and pan_layer is not None and ms_layer is not None:
        request.work = hfreqdiff_work(request, width, height, pan_layer, ms_layer)
    return estimate.estimate_seconds(mp, request.method, (opts.steps or 1) if opts else 1, opts.samples if opts else 1,
                                     provider, request.finetune_minutes if request.finetune_dir else 0.0,
                                     work=request.work)


def _region_size(request: RunRequest, pan_layer: Optional[QgsRasterLayer]) -> tuple[int, int]:
    if pan_layer is None:
        return 0, 0
    if request.extent is not None:
        x0, y0, x1, y1 = request.extent
        return (round((x1 - x0) / pan_layer.rasterUnitsPerPixelX()),
                round((y1 - y0) / pan_layer.rasterUnitsPerPixelY()))
    return pan_layer.width(), pan_layer.height()


def hfreqdiff_work(request: RunRequest, width: int, height: int, pan_layer: QgsRasterLayer,
                   ms_layer: QgsRasterLayer):
    """engine.hfreqdiff.cost.Work of the run: its bands, ratio, tiles and network passes."""
    from ..engine.hfreqdiff.cost import tiled_work

    opts = request.options
    bands = len(request.band_order) if request.band_order else ms_layer.bandCount()
    ratio = max(1, round(ms_layer.rasterUnitsPerPixelX() / max(pan_layer.rasterUnitsPerPixelX(), 1e-12)))
    scene_model = bool(request.finetune_dir) or bool(opts.model)  # fine-tuned models run without flips
    flips = opts.ensemble == "flips" or (opts.ensemble is None and opts.quality != "fast" and not scene_model)
    return tiled_work(height, width, bands, ratio, request.tile, 4 if flips else 1, opts.steps or 1, opts.samples)
