"""The command line: help that teaches, and bad input as one line naming the file, with its exit code."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile
from click.testing import CliRunner
from conftest import FIXTURES, SPEECH

from speakerspot.cli import cli


def run(*arguments: str):
    return CliRunner().invoke(cli, list(arguments))


def test_help_lists_commands_examples_and_exit_codes():
    result = run("--help")
    assert result.exit_code == 0
    for text in ("train", "scan", "eval", "Exit codes", "speakerspot scan recording.ts --model"):
        assert text in result.output
    scan_help = run("scan", "--help").output
    assert "--threshold" in scan_help and "--audio-track" in scan_help and "Examples" in scan_help


def test_txt_output_is_one_line_per_segment(model_file):
    result = run("scan", str(FIXTURES / "sample.ts"), "-m", str(model_file), "-q")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines and all(len(line.split()) == 4 and line.split()[1] == "–" for line in lines)


def test_eval_prints_figures_as_json(model_file):
    result = run("eval", str(FIXTURES / "sample.ts"), "-m", str(model_file), "--truth",
                 str(FIXTURES / "sample_truth.json"), "-q", "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["frame_f1"] >= 0.8 and report["turns"] == 5


@pytest.fixture
def bad_inputs(tmp_path, model_file):
    (tmp_path / "notmedia.ts").write_text("hello\n" * 50)
    (tmp_path / "damaged.pt").write_bytes(model_file.read_bytes()[:3000])
    (tmp_path / "empty").mkdir()
    short = tmp_path / "short" / "short.wav"
    short.parent.mkdir()
    soundfile.write(short, np.random.default_rng(0).normal(0, 0.1, 8000).astype(np.float32), 16000)
    return tmp_path


CASES = [
    # (arguments with {d} for the folder and {m} for a good model, exit code, text in the message)
    (["scan", "{d}/missing.ts", "-m", "{m}"], 3, "missing.ts: no such file"),
    (["scan", "{d}/empty", "-m", "{m}"], 3, "empty: no media files found"),
    (["scan", "{d}/notmedia.ts", "-m", "{m}"], 3, "notmedia.ts: not a media file"),
    (["scan", str(FIXTURES / "sample.ts"), "-m", "{m}", "--audio-track", "2"], 3, "no audio track 2"),
    (["scan", str(FIXTURES / "sample.ts"), "-m", "{d}/damaged.pt"], 4, "damaged.pt"),
    (["scan", str(FIXTURES / "sample.ts"), "-m", "{d}/none.pt"], 4, "no such model file"),
    (["scan", str(FIXTURES / "sample.ts"), "-m", "{m}", "-o", "{d}/nodir/out.txt"], 6, "does not exist"),
    (["train", "--pos", "{d}/empty", "--neg", str(SPEECH / "train" / "slt"), "-o", "{d}/m.pt"], 5, "no positive clips"),
    (["train", "--pos", "{d}/short", "--neg", str(SPEECH / "train" / "slt"), "-o", "{d}/m.pt"], 5,
     "short.wav: positive clip is 0.50 s long"),
    (["train", "--pos", "{d}/nowhere", "--neg", "{d}/empty", "-o", "{d}/m.pt"], 5, "nowhere: no such folder"),
    (["train", "{d}", "-o", "{d}/m.pt"], 2, "needs --target"),
]


@pytest.mark.parametrize("arguments, exit_code, message", CASES)
def test_bad_input_gives_one_line_and_its_exit_code(bad_inputs, model_file, arguments, exit_code, message):
    result = run(*[a.format(d=bad_inputs, m=model_file) for a in arguments], "-q")
    assert result.exit_code == exit_code, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert not (bad_inputs / "nodir").exists() and not (bad_inputs / "m.pt").exists()


def test_info_lists_streams_and_the_default(tmp_path):
    from media import write_recording

    tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(32000) / 16000)).astype(np.float32)
    path = write_recording(tmp_path / "two.ts", tone, 16000, extra_tracks=(tone,), video=True)
    result = run("info", str(path))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split()[:3] == ["track", "codec", "channels"]
    assert len(lines) == 3 and "scanned by default" in lines[1] and "mp2" in lines[1]


def test_scan_output_file_is_complete_readable_and_alone(model_file, tmp_path):
    output = tmp_path / "out.txt"
    result = run("scan", str(FIXTURES / "sample.ts"), "-m", str(model_file), "-q", "-o", str(output))
    assert result.exit_code == 0, result.output
    assert output.read_text().count("\n") >= 1
    assert output.stat().st_mode & 0o044  # readable by others under the usual umask, like any new file
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]  # no temporary file left behind


def test_enroll_adds_clips_to_the_memory_bank_without_retraining(model_file, tmp_path):
    import speakerspot

    before = speakerspot.load_model(model_file)
    output = tmp_path / "enrolled.pt"
    result = run("enroll", str(model_file), str(SPEECH / "test" / "rms"), "-o", str(output))
    assert result.exit_code == 0, result.output
    after = speakerspot.load_model(output)
    assert after.memory_bank.shape[0] >= before.memory_bank.shape[0]
    assert after.decision == before.decision
    assert "5 clip(s)" in result.output
