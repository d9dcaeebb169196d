"""The discreet command: scan, anonymize, models and eval, with clear exits on bad inputs."""

from __future__ import annotations

import json
import shutil

from PIL import Image
from typer.testing import CliRunner

from discreet.cli import app

runner = CliRunner()


def test_scan_folder_keeps_going_past_unreadable_files(data_dir, tmp_path):
    shutil.copy(data_dir / "dlib-faces" / "2008_001009.jpg", tmp_path / "a.jpg")
    (tmp_path / "nested").mkdir()
    shutil.copy(data_dir / "dlib-faces" / "2009_004587.jpg", tmp_path / "nested" / "b.jpg")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    (tmp_path / "notes.txt").write_text("not an image, not looked at")
    result = runner.invoke(app, ["scan", str(tmp_path), "-o", "json"])
    assert result.exit_code == 1
    rows = json.loads(result.stdout)
    by_name = {r["path"].rsplit("/", 1)[-1]: r for r in rows}
    assert set(by_name) == {"a.jpg", "b.jpg", "broken.png"}
    assert len(by_name["a.jpg"]["faces"]) == 2 and len(by_name["b.jpg"]["faces"]) == 2
    assert by_name["broken.png"]["error"]["code"] == "image_unreadable"


def test_scan_jsonl_and_table(data_dir):
    image = str(data_dir / "dlib-faces" / "2008_002470.jpg")
    lines = runner.invoke(app, ["scan", image, "-o", "jsonl"]).stdout.strip().splitlines()
    assert len(lines) == 1 and len(json.loads(lines[0])["faces"]) == 6
    table = runner.invoke(app, ["scan", image, "--preset", "accurate"])
    assert table.exit_code == 0 and "faces" in table.stdout


def test_unknown_scene_and_preset_exit_2(data_dir):
    image = str(data_dir / "dlib-faces" / "2008_002470.jpg")
    assert runner.invoke(app, ["scan", image, "--scenes", "auras"]).exit_code == 2
    assert runner.invoke(app, ["scan", image, "--preset", "fastest"]).exit_code == 2


def test_anonymize_file_and_folder(data_dir, tmp_path):
    out = tmp_path / "out.jpg"
    result = runner.invoke(app, ["anonymize", str(data_dir / "dlib-faces" / "2008_001009.jpg"), str(out), "--method", "pixelate"])
    assert result.exit_code == 0, result.output
    assert Image.open(out).size == Image.open(data_dir / "dlib-faces" / "2008_001009.jpg").size
    source = tmp_path / "in"
    source.mkdir()
    for name in ("2008_001009.jpg", "2009_004587.jpg"):
        shutil.copy(data_dir / "dlib-faces" / name, source / name)
    result = runner.invoke(app, ["anonymize", str(source), str(tmp_path / "folder_out")])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "folder_out").iterdir()) == ["2008_001009.jpg", "2009_004587.jpg"]


def test_models_lists_the_face_model():
    result = runner.invoke(app, ["models"])
    assert result.exit_code == 0
    assert "retinaface" in result.stdout and "MIT" in result.stdout and "yes" in result.stdout


def test_eval_faces_json(data_dir):
    result = runner.invoke(app, ["eval", "faces", "--data", str(data_dir / "scenes"), "--json", "--limit", "10"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert set(report) == {"ap50", "images", "faces", "ms_median"}
    assert report["images"] == 10 and 0.5 < report["ap50"] <= 1 and report["ms_median"] > 0


def test_eval_anonymize_json(data_dir):
    result = runner.invoke(app, ["eval", "anonymize", "--data", str(data_dir / "scenes"), "--json", "--limit", "3"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["images"] == 3 and report["faces"] == sum(b["faces"] for b in report["bands"].values())
    # the first three scenes photos hold large unmasked faces: every one covered, none re-detected
    assert report["faces"] > 0 and report["uncovered"] == 0 and report["detected_after"] == 0
    assert 0 < report["spurious_cover_share"] < 0.2 and report["s_median"] > 0


def test_anonymize_writes_the_format_its_output_name_asks_for(data_dir, tmp_path):
    out = tmp_path / "out.png"
    result = runner.invoke(app, ["anonymize", str(data_dir / "dlib-faces" / "2008_002470.jpg"), str(out)])
    assert result.exit_code == 0, result.output
    assert Image.open(out).format == "PNG"
    (summary,) = result.stdout.strip().splitlines()
    regions = int(summary.split()[0])
    assert regions >= 6 and summary == f"{regions} regions covered -> {out}"


def test_anonymize_to_an_unknown_suffix_is_refused_before_any_work(data_dir, tmp_path):
    result = runner.invoke(app, ["anonymize", str(data_dir / "dlib-faces" / "2008_002470.jpg"), str(tmp_path / "out.xyz")])
    assert result.exit_code == 2
    assert "unknown_output_format" in result.stderr and ".png" in result.stderr
    assert not (tmp_path / "out.xyz").exists()


def test_scan_of_a_folder_without_images_says_so(tmp_path):
    (tmp_path / "notes.txt").write_text("not an image")
    result = runner.invoke(app, ["scan", str(tmp_path)])
    assert result.exit_code == 1
    assert "no images were found" in result.stderr


def test_piped_table_does_not_wrap_long_paths(data_dir, tmp_path):
    image = tmp_path / ("a-photo-with-a-name-long-enough-to-wrap-at-eighty-columns-" * 2 + ".jpg")
    shutil.copy(data_dir / "dlib-faces" / "2008_001009.jpg", image)
    result = runner.invoke(app, ["scan", str(image)])
    assert result.exit_code == 0, result.output
    assert any(str(image) in line for line in result.stdout.splitlines())
