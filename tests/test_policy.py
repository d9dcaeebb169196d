"""The privacy policy: refused attributes give one clear error everywhere; the schema has no field for them."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

import discreet
from discreet.cli import app
from discreet.errors import PolicyError, ValidationError
from discreet.policy import POLICY_NAME, REFUSED_ATTRIBUTES, SUPPORTED_ATTRIBUTES, check_attributes
from discreet.results import ScanResult

NAMED_BY_THE_BRIEF = ["ethnicity", "race", "skin_tone", "religion", "gender", "age", "emotion", "identity", "beard", "headwear"]


@pytest.mark.parametrize("name", NAMED_BY_THE_BRIEF)
def test_refused_through_the_library(name, data_dir):
    with pytest.raises(PolicyError) as caught:
        discreet.scan(data_dir / "dlib-faces" / "2008_001009.jpg", attributes=[name])
    assert caught.value.code == "attribute_refused_by_policy"
    assert POLICY_NAME in caught.value.message and name in caught.value.message
    assert caught.value.http_status == 403


def test_spellings_are_normalized_and_refusal_wins_over_unknown():
    with pytest.raises(PolicyError):
        check_attributes(["Skin Tone"])
    with pytest.raises(PolicyError):
        check_attributes(["sparkle", "Head-Covering", "smile"])


def test_refused_through_the_cli_gives_the_same_error(data_dir):
    result = CliRunner().invoke(app, ["scan", str(data_dir / "dlib-faces" / "2008_001009.jpg"), "--attributes", "smile,ethnicity"])
    assert result.exit_code == 2
    with pytest.raises(PolicyError) as caught:
        check_attributes(["smile", "ethnicity"])
    assert f"attribute_refused_by_policy: {caught.value.message}" in " ".join(result.output.split())


def test_unknown_attribute_is_a_plain_validation_error():
    with pytest.raises(ValidationError) as caught:
        check_attributes(["sparkle"])
    assert caught.value.code == "unknown_attribute"
    assert not isinstance(caught.value, PolicyError)


def test_refused_and_supported_lists_are_disjoint():
    assert not set(REFUSED_ATTRIBUTES) & set(SUPPORTED_ATTRIBUTES)
    assert set(NAMED_BY_THE_BRIEF) <= set(REFUSED_ATTRIBUTES)


def _property_names(schema: dict) -> set[str]:
    names: set[str] = set()
    for definition in [schema, *schema.get("$defs", {}).values()]:
        names |= set(definition.get("properties", {}))
    return names


def test_schema_has_no_field_for_a_refused_attribute():
    names = _property_names(ScanResult.model_json_schema())
    assert "faces" in names and "box" in names
    assert not names & set(REFUSED_ATTRIBUTES), names & set(REFUSED_ATTRIBUTES)
    text = json.dumps(ScanResult.model_json_schema()).lower()
    for word in ("ethnic", "gender", "race\"", "emotion", "embedding"):
        assert word not in text


def test_results_refuse_extra_fields():
    with pytest.raises(Exception):
        ScanResult(width=1, height=1, faces=[], ethnicity="x")  # type: ignore[call-arg]


SEED_AND_GROUP_NAMES = [
    "uyghur", "uighur", "is_uighur", "Is-Uyghur", "uyghur_probability", "tibetan", "nationality",
    "ancestry", "caste", "political_opinion", "religious", "sensitive_person", "celebrity", "public_figure", "sface",
]
PLATE_READING_NAMES = ["plate_number", "plate_text", "license_plate_text", "alpr", "anpr", "vehicle_owner"]


@pytest.mark.parametrize("name", SEED_AND_GROUP_NAMES + PLATE_READING_NAMES)
def test_group_recognition_and_plate_reading_names_are_refused_not_unknown(name):
    with pytest.raises(PolicyError) as as_attribute:
        check_attributes([name])
    assert as_attribute.value.code == "attribute_refused_by_policy"
    with pytest.raises(PolicyError) as as_scene:
        discreet.Scanner([name])
    assert as_scene.value.code == "scene_refused_by_policy"
    assert POLICY_NAME in as_scene.value.message and as_scene.value.http_status == 403


def test_word_matching_leaves_every_supported_name_and_scene_alone():
    assert check_attributes(list(SUPPORTED_ATTRIBUTES)) == list(SUPPORTED_ATTRIBUTES)
    from discreet.analyzers import SCENES
    from discreet.pipeline import check_scenes

    assert check_scenes(list(SCENES)) == list(SCENES)
