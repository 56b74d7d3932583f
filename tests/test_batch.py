"""Batches: folders, several models in one pass, a broken file does not stop the others."""

from __future__ import annotations

import json
import shutil

import numpy as np
from click.testing import CliRunner
from conftest import FIXTURES

import speakerspot
from speakerspot.batch import find_recordings
from speakerspot.cli import cli


def archive(tmp_path):
    """An archive folder: two good recordings in nested folders, a broken one, a non-media file."""
    root = tmp_path / "pvr"
    (root / "2026" / "11").mkdir(parents=True)
    shutil.copy(FIXTURES / "sample.ts", root / "2026" / "11" / "news.ts")
    shutil.copy(FIXTURES / "sample.ts", root / "late.ts")
    (root / "2026" / "broken.ts").write_bytes(b"\x47" + bytes(5000))
    (root / "notes.txt").write_text("not a recording")
    return root


def second_model(trained_model, tmp_path):
    other = speakerspot.load_model(trained_model.save(tmp_path / "first.pt"))
    other.name = "other"
    other.decision = other.decision.with_threshold(0.99)
    return other.save(tmp_path / "other.pt")


def test_folders_are_searched_recursively_in_a_stable_order(tmp_path):
    root = archive(tmp_path)
    found = [r.relative.as_posix() for r in find_recordings([root])]
    assert found == ["2026/11/news.ts", "2026/broken.ts", "late.ts"]
    assert [r.relative.as_posix() for r in find_recordings([root], ("*news*",))] == ["2026/11/news.ts"]


def test_several_models_in_one_pass_score_like_separate_scans(trained_model, tmp_path):
    other = speakerspot.load_model(second_model(trained_model, tmp_path))
    together = speakerspot.scan_many([trained_model, other], FIXTURES / "sample.ts")
    alone = [speakerspot.scan(trained_model, FIXTURES / "sample.ts"), speakerspot.scan(other, FIXTURES / "sample.ts")]
    for joint, single in zip(together, alone, strict=True):
        np.testing.assert_array_equal(joint.window_scores, single.window_scores)
        assert joint.segments == single.segments and joint.model == single.model
    assert together[1].threshold == 0.99


def test_a_batch_goes_on_past_a_broken_file_and_exits_non_zero(model_file, trained_model, tmp_path):
    root = archive(tmp_path)
    other = second_model(trained_model, tmp_path)
    out = tmp_path / "markers"
    result = CliRunner().invoke(cli, ["scan", str(root), "-m", str(model_file), "-m", str(other),
                                      "-f", "srt", "-f", "json", "--output-dir", str(out)])
    assert result.exit_code == 3, result.output
    assert "broken.ts" in result.output and "scanned 2 of 3 recordings, 1 failed" in result.output
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert written == ["2026/11/news.fixture.json", "2026/11/news.fixture.srt", "2026/11/news.other.json",
                       "2026/11/news.other.srt", "late.fixture.json", "late.fixture.srt", "late.other.json",
                       "late.other.srt"]
    assert json.loads((out / "late.fixture.json").read_text())["segments"]


def test_several_results_on_stdout_stay_parseable_as_json_lines(model_file, tmp_path):
    root = archive(tmp_path)
    (root / "2026" / "broken.ts").unlink()
    result = CliRunner().invoke(cli, ["scan", str(root), "-m", str(model_file), "-f", "json", "-q"])
    assert result.exit_code == 0, result.output
    documents = [json.loads(line) for line in result.stdout.splitlines()]
    assert [d["file"].endswith(name) for d, name in zip(documents, ["news.ts", "late.ts"], strict=True)]


def test_dash_o_refuses_several_outputs(model_file, tmp_path):
    result = CliRunner().invoke(cli, ["scan", str(FIXTURES / "sample.ts"), "-m", str(model_file), "-f", "txt",
                                      "-f", "srt", "-o", str(tmp_path / "x")])
    assert result.exit_code == 2 and "--output-dir" in result.output
