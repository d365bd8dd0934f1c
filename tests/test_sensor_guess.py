"""The sensor from the product (issue 17 item 1): the satellite GDAL reads from a delivery's sidecar
(Maxar .IMD / <isd> XML, Airbus DIMAP, Landsat MTL, GeoEye metadata), sidecars GDAL does not
attach, and, without any, the band count, names, centre wavelengths and pixel size; the real shared
WorldView-3 scene resolves from its bands, and 8 unnamed bands without pixel size stay ambiguous."""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import pytest
from osgeo import gdal, osr

from padm_pansharpening.engine.raster.gdalio import open_raster
from padm_pansharpening.engine.raster.pair import guess_pair_sensor, open_pair, resolve_sensor
from padm_pansharpening.engine.raster.product import detect_sensor
from padm_pansharpening.engine.sensor_guess import ProductFacts, band_names, guess
from padm_pansharpening.engine.sensors import get_sensor

WV8 = ["Coastal", "Blue", "Green", "Yellow", "Red", "Red Edge", "NIR1", "NIR2"]


def tif(path: Path, bands: int, pixel: Optional[float] = None, size: int = 8,
        descriptions: Sequence[str] = (), band_md: Sequence[dict] = ()) -> Path:
    """A small uint16 GeoTIFF; georeferenced in UTM 33N with ``pixel`` metres when given."""
    ds = gdal.GetDriverByName("GTiff").Create(str(path), size, size, bands, gdal.GDT_UInt16)
    if pixel is not None:
        ds.SetGeoTransform((400000.0, pixel, 0.0, 5000000.0, 0.0, -pixel))
        srs = osr.SpatialReference()
        srs.ImportFromEPSG(32633)
        ds.SetProjection(srs.ExportToWkt())
    for b in range(bands):
        band = ds.GetRasterBand(b + 1)
        band.WriteArray(np.full((size, size), 100 + b, np.uint16))
        if descriptions:
            band.SetDescription(descriptions[b])
        if band_md:
            band.SetMetadata(band_md[b])
    ds = None
    return path


def imagery(path: Path) -> dict:
    return gdal.Open(str(path)).GetMetadata("IMAGERY") or {}


# -- products whose sidecar GDAL reads: the IMAGERY domain -------------------------------------------

def test_maxar_imd_is_worldview2_from_the_imagery_domain(tmp_path):
    ms = tif(tmp_path / "16MAR01-M2AS-012345678901_01_P001.TIF", 8)
    (tmp_path / "16MAR01-M2AS-012345678901_01_P001.IMD").write_text(
        'version = "28.3";\nBEGIN_GROUP = IMAGE_1\n\tsatId = "WV02";\n\tcloudCover = 0.01;\n'
        "END_GROUP = IMAGE_1\nEND;\n")
    assert imagery(ms)["SATELLITEID"] == "WV02"
    found = detect_sensor(str(ms))
    assert found.sensor.name == "WV2" and found.candidates == ("WV2",) and not found.ambiguous
    assert found.from_product and "WV02, GDAL IMAGERY domain (Maxar/DigitalGlobe" in found.reason
    _, info = open_raster(ms, "MS")
    assert "SATELLITEID=WV02" in info.metadata_text  # asked for by name: GDAL lists IMAGERY late


def test_maxar_isd_xml_is_worldview3(tmp_path):
    ms = tif(tmp_path / "scene.tif", 8)
    (tmp_path / "scene.xml").write_text('<?xml version="1.0"?>\n<isd><IMD><IMAGE><SATID>WV03</SATID>'
                                        "</IMAGE></IMD></isd>\n")
    assert imagery(ms)["SATELLITEID"] == "WV03"
    assert detect_sensor(str(ms)).sensor.name == "WV3"


def _dimap(mission: str, index: str, source: str = "Source_Identification", strip: str = "Strip_Source",
           raster: str = "") -> str:
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<Dimap_Document><Metadata_Identification>'
            f'<METADATA_FORMAT version="2.0">DIMAP</METADATA_FORMAT></Metadata_Identification>'
            f"<Dataset_Sources><{source}><{strip}><MISSION>{mission}</MISSION><MISSION_INDEX>{index}"
            f"</MISSION_INDEX><IMAGING_DATE>2019-01-01</IMAGING_DATE></{strip}></{source}></Dataset_Sources>"
            f"{raster}</Dimap_Document>\n")


def test_airbus_dimap_pleiades_and_spot(tmp_path):
    phr = tmp_path / "phr"
    phr.mkdir()
    ms = tif(phr / "IMG_PHR1A_MS_201901011000000_SEN_1234567101-001_R1C1.TIF", 4)
    (phr / "DIM_PHR1A_MS_201901011000000_SEN_1234567101-001.XML").write_text(_dimap("PHR", "1A"))
    assert imagery(ms)["SATELLITEID"] == "PHR 1A"
    assert detect_sensor(str(ms)).sensor.name == "Pleiades"
    spot = tmp_path / "spot"
    spot.mkdir()
    ms = tif(spot / "IMG_SPOT6_MS_201501011000000_SEN_1234567101_R1C1.TIF", 4)
    (spot / "DIM_SPOT6_MS_201501011000000_SEN_1234567101.XML").write_text(_dimap("SPOT", "6"))
    assert imagery(ms)["SATELLITEID"] == "SPOT 6"
    found = detect_sensor(str(ms))
    # SPOT 6/7: real band centres, generic gains (no published MTF), and the note says so
    assert found.sensor.name == "SPOT67" and found.sensor.gains(4) == [0.3] * 4
    assert found.sensor.wavelengths_nm == (490, 560, 660, 825) and "no published MTF" in found.reason
    spot5 = tmp_path / "spot5"
    spot5.mkdir()
    ms = tif(spot5 / "IMAGERY.TIF", 4)
    (spot5 / "METADATA.DIM").write_text(_dimap("SPOT", "5", "Source_Information", "Scene_Source"))
    assert imagery(ms)["SATELLITEID"] == "SPOT 5"
    found = detect_sensor(str(ms))
    assert found.sensor.name == "none" and "SPOT 5" in found.reason and "no preset" in found.reason


def test_dimap_document_opened_by_gdal_dimap_driver(tmp_path):
    tif(tmp_path / "IMG_PHR1B_MS_001_R1C1.TIF", 4)
    band = ("<Band_Spectral_Range><BAND_ID>B{i}</BAND_ID><MEASURE_UNIT>micrometer</MEASURE_UNIT>"
            "<MIN>{lo}</MIN><MAX>{hi}</MAX></Band_Spectral_Range>")
    ranges = [(0.43, 0.55), (0.49, 0.61), (0.60, 0.72), (0.75, 0.95)]
    raster = ('<Raster_Data><Data_Access><DATA_FILE_FORMAT>image/tiff</DATA_FILE_FORMAT><Data_Files>'
              '<Data_File tile_R="1" tile_C="1"><DATA_FILE_PATH href="IMG_PHR1B_MS_001_R1C1.TIF"/></Data_File>'
              "</Data_Files></Data_Access><Raster_Dimensions><NROWS>8</NROWS><NCOLS>8</NCOLS><NBANDS>4</NBANDS>"
              "</Raster_Dimensions></Raster_Data><Radiometric_Data><Radiometric_Calibration><Instrument_Calibration>"
              "<Band_Measurement_List>" + "".join(band.format(i=i, lo=lo, hi=hi) for i, (lo, hi) in enumerate(ranges))
              + "</Band_Measurement_List></Instrument_Calibration></Radiometric_Calibration></Radiometric_Data>")
    dim = tmp_path / "DIM_PHR1B_MS_001.XML"
    dim.write_text(_dimap("PHR", "1B", raster=raster))
    ds = gdal.Open(str(dim))
    assert ds.GetDriver().ShortName == "DIMAP" and ds.GetMetadataItem("MISSION") == "PHR"
    assert ds.GetRasterBand(1).GetMetadataItem("SPECTRAL_RANGE_MIN") == "0.43"
    found = detect_sensor(str(dim))
    assert found.sensor.name == "Pleiades" and "PHR 1B, DIMAP" in found.reason


def _mtl(group: str, attributes: str, spacecraft: str) -> str:
    return (f"GROUP = {group}\n  GROUP = {attributes}\n    SPACECRAFT_ID = \"{spacecraft}\"\n"
            f"    DATE_ACQUIRED = 2020-01-01\n  END_GROUP = {attributes}\nEND_GROUP = {group}\nEND\n")


def test_landsat_mtl_collection_1_and_2(tmp_path):
    c1 = tmp_path / "c1"
    c1.mkdir()
    pan = tif(c1 / "LC08_L1TP_180032_20200101_20200113_01_T1_B8.TIF", 1)
    (c1 / "LC08_L1TP_180032_20200101_20200113_01_T1_MTL.txt").write_text(
        _mtl("L1_METADATA_FILE", "PRODUCT_METADATA", "LANDSAT_8"))
    assert imagery(pan)["SATELLITEID"] == "LANDSAT_8"
    assert detect_sensor(str(pan)).sensor.name == "Landsat8"
    c2 = tmp_path / "c2"
    c2.mkdir()
    ms = tif(c2 / "LC09_L1TP_180032_20220101_20220113_02_T1_B2.TIF", 3)
    (c2 / "LC09_L1TP_180032_20220101_20220113_02_T1_MTL.txt").write_text(
        _mtl("LANDSAT_METADATA_FILE", "IMAGE_ATTRIBUTES", "LANDSAT_9"))
    ds = gdal.Open(str(ms))  # GDAL 3.6 fills IMAGERY from Collection 1 keys only: C2's stays in IMD
    assert "SATELLITEID" not in (ds.GetMetadata("IMAGERY") or {})
    assert ds.GetMetadataItem("LANDSAT_METADATA_FILE.IMAGE_ATTRIBUTES.SPACECRAFT_ID", "IMD") == '"LANDSAT_9"'
    found = detect_sensor(str(ms))
    assert found.sensor.name == "Landsat8" and "LANDSAT_9, Landsat MTL" in found.reason


def test_geoeye_metadata_txt(tmp_path):
    ms = tif(tmp_path / "po_123456_rgb_0000000.tif", 4)
    (tmp_path / "po_123456_metadata.txt").write_text(
        "Version Number: 2.0\n" + "=" * 70 + "\nSource Image Metadata\nNumber of Source Images: 1\n"
        "Sensor: GeoEye-1\nAcquisition Date/Time: 2009-06-01 10:00 GMT\n")
    assert imagery(ms)["SATELLITEID"] == "GeoEye-1"
    found = detect_sensor(str(ms))
    assert found.sensor.name == "GeoEye1" and found.sensor.gains(4) == [0.23] * 4


# -- sidecars GDAL does not attach (a renamed image) -------------------------------------------------

def test_sidecar_beside_a_renamed_file(tmp_path):
    ms = tif(tmp_path / "ms.tif", 6)
    (tmp_path / "LE07_L1TP_180032_20020101_20200916_02_T1_MTL.txt").write_text(
        _mtl("LANDSAT_METADATA_FILE", "IMAGE_ATTRIBUTES", "LANDSAT_7"))
    assert imagery(ms) == {}
    found = detect_sensor(str(ms))
    assert found.sensor.name == "Landsat7" and "MTL.txt beside the file" in found.reason
    # sidecars of two satellites beside it: neither is believed, the bands decide
    (tmp_path / "DIM_PHR1A_MS_001.XML").write_text(_dimap("PHR", "1A"))
    found = detect_sensor(str(ms))
    assert found.sensor.name == "none" and not found.from_product


def test_maxar_sidecars_beside_a_renamed_file(tmp_path):
    ms = tif(tmp_path / "ms.tif", 8)
    (tmp_path / "style.xml").write_text("<qgis><SATID>WV02</SATID></qgis>\n")  # not Maxar's <isd>: ignored
    (tmp_path / "16MAR01-M2AS-012345678901_01_P001.XML").write_text(
        '<?xml version="1.0"?>\n<isd><IMD><IMAGE><SATID>WV03</SATID></IMAGE></IMD></isd>\n')
    found = detect_sensor(str(ms))
    assert found.sensor.name == "WV3" and not found.ambiguous and "P001.XML beside the file" in found.reason
    (tmp_path / "other.IMD").write_text('BEGIN_GROUP = IMAGE_1\n\tsatId = "WV02";\nEND_GROUP = IMAGE_1\nEND;\n')
    assert detect_sensor(str(ms)).ambiguous  # WV03 and WV02 beside it: the bands decide


def test_unknown_satellite_has_no_preset(tmp_path):
    ms = tif(tmp_path / "k3.tif", 8)
    (tmp_path / "k3.IMD").write_text('BEGIN_GROUP = IMAGE_1\n\tsatId = "KOMPSAT3";\nEND_GROUP = IMAGE_1\nEND;\n')
    found = detect_sensor(str(ms))  # 8 bands, but the product names another satellite: no WorldView guess
    assert found.sensor.name == "none" and "KOMPSAT3" in found.reason and not found.ambiguous


# -- no sensor metadata: band count, names, wavelengths, pixel size ----------------------------------

def test_band_names_parse_the_usual_spellings():
    assert band_names(WV8) == ("coastal", "blue", "green", "yellow", "red", "rededge", "nir", "nir2")
    assert band_names(["B1 (Coastal Aerosol)", "Near Infrared", "SWIR-1"]) == ("coastal", "nir", "swir1")
    assert band_names(["b0", "b1"]) is None


def test_eight_named_bands_are_worldview_2_or_3_and_ask(tmp_path):
    ms = tif(tmp_path / "ms.tif", 8, descriptions=WV8)
    found = detect_sensor(str(ms))
    assert found.sensor.name == "WV3" and found.candidates == ("WV3", "WV2") and found.ambiguous
    assert "bands named coastal..nir2" in found.reason and "pass --sensor WV2 if it is WV2" in found.reason
    assert found.question().startswith("WV3 or WV2? Choose the sensor (8 bands, bands named coastal..nir2")
    assert found.note().startswith("assumed sensor WV3 (")


def test_pixel_size_tells_worldview_3_from_2(tmp_path):
    fine = detect_sensor(str(tif(tmp_path / "a.tif", 8, pixel=1.24)))
    assert (fine.sensor.name, fine.candidates, fine.ambiguous) == ("WV3", ("WV3",), False)
    assert "MS pixel 1.24 m, finer than WV2's native 1.85 m" in fine.reason
    coarse = detect_sensor(str(tif(tmp_path / "b.tif", 8, pixel=2.0)))  # either, WV2's own size first
    assert (coarse.sensor.name, coarse.candidates, coarse.ambiguous) == ("WV2", ("WV2", "WV3"), True)


def test_no_metadata_at_all(tmp_path):
    four = detect_sensor(str(tif(tmp_path / "a.tif", 4, pixel=2.0)))
    assert four.sensor.name == "none" and not four.ambiguous and {"QB", "GeoEye1", "Pleiades"} <= set(four.candidates)
    assert four.note().startswith("assumed sensor 'none' (generic MTF gains 0.3, PAN 0.15; 4 bands")
    three = detect_sensor(str(tif(tmp_path / "b.tif", 3)))  # Landsat 8 has 3, but so has any RGB
    assert three.sensor.name == "none" and "3 bands alone do not tell the sensor" in three.reason
    eight = detect_sensor(str(tif(tmp_path / "c.tif", 8)))
    assert eight.sensor.name == "WV3" and eight.ambiguous and "no band names" in eight.reason


def test_band_names_and_wavelengths_pick_one_preset(tmp_path):
    landsat7 = tif(tmp_path / "l7.tif", 6, descriptions=["Blue", "Green", "Red", "NIR", "SWIR1", "SWIR2"])
    assert detect_sensor(str(landsat7)).candidates == ("Landsat7",)
    # ENVI-style wavelength items in micrometres: Landsat 8's blue, green, red
    md = [{"wavelength": str(w), "wavelength_units": "Micrometers"} for w in (0.482, 0.561, 0.655)]
    found = detect_sensor(str(tif(tmp_path / "l8.tif", 3, band_md=md)))
    assert found.sensor.name == "Landsat8" and "band centres 482,561,655 nm" in found.reason
    found = detect_sensor(str(tif(tmp_path / "d.tif", 3, descriptions=["B2 (482 nm)", "B3 (561 nm)", "B4 (655 nm)"])))
    assert found.sensor.name == "Landsat8"  # centres written in the descriptions
    # VNIR names fit seven 4-band presets: generic gains, the candidates listed; a reversed order fits none
    vnir = detect_sensor(str(tif(tmp_path / "v.tif", 4, descriptions=["Blue", "Green", "Red", "NIR"])))
    assert vnir.sensor.name == "none" and len(vnir.candidates) == 7
    rev = detect_sensor(str(tif(tmp_path / "r.tif", 4, descriptions=["Red", "Green", "Blue", "NIR"])))
    assert rev.candidates == () and "in this order" in rev.reason


def test_facts_of_the_pan_count_too():
    ms = ProductFacts(bands=8)
    pan = ProductFacts(bands=1, satellite="WV02", source="GDAL IMAGERY domain (Maxar/DigitalGlobe p.IMD)")
    assert guess(ms, pan).sensor.name == "WV2"
    assert guess(ms, ProductFacts(bands=1, text="SENSOR=WorldView-3")).reason.startswith(
        "sensor WV3 (from the file metadata")


# -- real shared scenes ---------------------------------------------------------------------------------

def test_shared_worldview3_scene_resolves_from_its_bands(shared_data):
    folder = shared_data / "wv3_hpf_geotiff"
    ds, info = open_raster(folder / "mul.tif", "MS")
    # what the files hold: 8 unnamed bands, no sensor metadata, 1.2 m pixels in UTM
    assert info.bands == 8 and info.descriptions == [""] * 8 and not ds.GetMetadata("IMAGERY")
    ds = None
    pair = open_pair(folder / "pan.tif", folder / "mul.tif")
    try:
        sensor, notes = resolve_sensor(pair, None)
        found = guess_pair_sensor(pair)
    finally:
        pair.close()
    assert sensor is get_sensor("WV3") and not found.ambiguous
    assert notes == ["assumed sensor WV3 (8 bands, no band names, no sensor metadata, MS pixel 1.20 m, finer than "
                     "WV2's native 1.85 m: only WV3 fits)"]


def test_shared_worldview2_scene_by_name_and_without(shared_data, tmp_path):
    folder = shared_data / "wv2_rio_rr_geotiff"
    named = detect_sensor(str(folder / "WV2RioMSLR.tif"))
    assert named.sensor.name == "WV2" and "from the file name WV2RioMSLR.tif" in named.reason
    shutil.copy(folder / "WV2RioMSLR.tif", tmp_path / "ms.tif")  # the same pixels, no name, no georeferencing
    shutil.copy(folder / "WV2RioPAN.tif", tmp_path / "pan.tif")
    pair = open_pair(tmp_path / "pan.tif", tmp_path / "ms.tif")
    try:
        found = guess_pair_sensor(pair)
    finally:
        pair.close()
    assert found.ambiguous and found.candidates == ("WV3", "WV2")


@pytest.mark.parametrize("scene, ms_name, expected", [
    ("landsat_oli_istanbul_geotiff", "ms.tif", "none"), ("vhr4b_zhengzhou_geotiff", "ms.tif", "none")])
def test_other_shared_scenes_stay_generic(shared_data, scene, ms_name, expected):
    found = detect_sensor(str(shared_data / scene / ms_name))
    assert found.sensor.name == expected and not found.ambiguous


def test_pixel_size_in_a_geographic_crs(tmp_path):
    path = tif(tmp_path / "g.tif", 8)
    ds = gdal.Open(str(path), gdal.GA_Update)
    deg = 1.2 / (math.pi / 180 * 6378137.0 * math.cos(math.radians(45.0)))  # 1.2 m at 45 degrees north
    ds.SetGeoTransform((10.0, deg, 0.0, 45.0 + 4 * deg, 0.0, -deg))
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(4326)
    ds.SetProjection(srs.ExportToWkt())
    ds = None
    found = detect_sensor(str(path))
    assert found.sensor.name == "WV3" and not found.ambiguous and "MS pixel 1.20 m" in found.reason
