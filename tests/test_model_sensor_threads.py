"""A scene model carries its sensor (issue 15 item 3); fine-tuning threads use the cores (item 4)."""

import json
import os

import pytest

from padm_pansharpening.engine.cli.padm import auto_threads
from padm_pansharpening.engine.errors import PansharpenError
from padm_pansharpening.engine.model_files import scene_model_sensor, sensor_for_model


def _scene_meta(sensor: str) -> dict:
    return {"training": json.dumps({"finetuned_from": "hfreqdiff.pt", "scene": {"sensor": sensor, "ratio": 4}})}


def test_scene_model_sensor_is_read_from_its_training_record():
    assert scene_model_sensor(_scene_meta("GeoEye1")) == "GeoEye1"
    assert scene_model_sensor({"training": json.dumps({"steps_trained": 5})}) is None  # the shipped model
    assert scene_model_sensor({}) is None and scene_model_sensor({"training": "not json"}) is None


def test_sensor_for_model_uses_it_and_refuses_a_contradiction():
    assert sensor_for_model(_scene_meta("GeoEye1"), None, None)[0] == "GeoEye1"
    assert sensor_for_model(_scene_meta("GeoEye1"), "ge1", None)[0] == "GeoEye1"  # an alias of the same sensor
    with pytest.raises(PansharpenError, match="contradicts the scene model"):
        sensor_for_model(_scene_meta("GeoEye1"), "WV3", None)
    assert sensor_for_model({}, "WV3", None) == ("WV3", [])  # the shipped model: as given


def test_threads_are_the_cores_not_cores_minus_load(monkeypatch):
    cores = len(os.sched_getaffinity(0))
    monkeypatch.setattr(os, "getloadavg", lambda: (50.0, 50.0, 50.0))  # a busy machine changes nothing
    assert auto_threads(0) == cores
    assert auto_threads(1) == 1  # a cap
    assert auto_threads(cores + 8) == cores  # never more than the cores
