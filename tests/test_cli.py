"""The command line: help that teaches, and bad input as one line naming the file, with its exit code."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile
from click.testing import CliRunner
from conftest import FIXTURES, SPEECH, read_clip, words_between_music
from media import write_recording

import speakerspot
from speakerspot.cli import cli
from speakerspot.training import base_path


def run(*arguments: str):
    return CliRunner().invoke(cli, list(arguments))


def test_help_lists_commands_examples_and_exit_codes():
    result = run("--help")
    assert result.exit_code == 0
    for text in ("train", "scan", "eval", "Exit codes", "speakerspot scan recording.ts --model"):
        assert text in result.output
    listed = result.output.split("Commands:")[1].split("Exit codes")[0].split("\n")
    commands = [line.split()[0] for line in listed if line.strip()]
    assert commands[:2] == ["train", "scan"] and len(commands) == 8  # in order of use, each with its summary
    assert not any(line.endswith("...") for line in listed)  # summaries whole, not cut off
    scan_help = run("scan", "--help").output
    assert "--threshold" in scan_help and "--audio-track" in scan_help and "Examples" in scan_help


def test_txt_output_is_one_line_per_segment(model_file):
    result = run("scan", str(FIXTURES / "sample.ts"), "-m", str(model_file), "-q")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines and all(len(line.split()) == 4 and line.split()[1] == "–" for line in lines)


def test_eval_prints_figures_as_json_or_writes_them(model_file, tmp_path):
    result = run("eval", str(FIXTURES / "sample.ts"), "-m", str(model_file), "--truth",
                 str(FIXTURES / "sample_truth.json"), "-q", "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["frame_f1"] >= 0.8 and report["turns"] == 5
    written = tmp_path / "figures.json"  # JSON, as its name says
    result = run("eval", str(FIXTURES / "sample.ts"), "-m", str(model_file), "--truth",
                 str(FIXTURES / "sample_truth.json"), "-q", "-o", str(written))
    assert result.exit_code == 0 and result.output == "" and json.loads(written.read_text()) == report
    printed = run("eval", SAMPLE, "-m", str(model_file), "--truth", TRUTH, "-q")
    assert printed.exit_code == 0, printed.output
    assert printed.output.splitlines() == [
        f"frame precision {report['frame_precision']:.3f}  recall {report['frame_recall']:.3f}  "
        f"F1 {report['frame_f1']:.3f}",
        f"turns found {report['turns_found']}/5  false alarms {report['false_alarm_segments']} "
        f"({report['false_alarms_per_hour']:.1f}/hour)  window EER {report['eer']:.1%}  "
        f"(threshold {report['threshold']:.3f})"]
    run("eval", SAMPLE, "-m", str(model_file), "--truth", TRUTH, "-q", "-o", str(tmp_path / "figures.txt"))
    assert (tmp_path / "figures.txt").read_text() == printed.output
    import speakerspot  # the Python API gives the same figures

    scanned = speakerspot.scan(speakerspot.load_model(model_file), FIXTURES / "sample.ts")
    figures = speakerspot.evaluate_scan(scanned, speakerspot.read_truth(FIXTURES / "sample_truth.json"))
    assert {key: report[key] for key in figures.to_dict()} == figures.to_dict()


def test_eval_sweep_scores_other_thresholds_as_a_scan_at_them_would(model_file):
    common = (SAMPLE, "-m", str(model_file), "--truth", TRUTH, "-q", "-f", "json")
    swept = json.loads(run("eval", *common, "--sweep").output)
    rows = swept["sweep"]
    assert len(rows) == 13 and [row["threshold"] for row in rows] == sorted(row["threshold"] for row in rows)
    assert rows[6]["threshold"] == pytest.approx(swept["threshold"]) and rows[6]["frame_f1"] == swept["frame_f1"]
    assert len({row["frame_f1"] for row in rows}) > 2  # the levels matter on this recording
    best = max(rows, key=lambda row: row["frame_f1"])["frame_f1"]
    assert [row["frame_f1"] for row in rows if row["threshold"] == swept["best_threshold"]] == [best]
    assert next(row for row in rows if row["threshold"] == swept["best_threshold_every_turn"])["turns_found"] == 5
    for row in (rows[1], rows[11]):  # the windows decided again find what a scan at that threshold finds
        scanned = json.loads(run("eval", *common, "-t", str(row["threshold"])).output)
        assert {key: scanned[key] for key in row} == row
    assert run("eval", *common, "--sweep", "--speech-edges").exit_code == 2


def test_eval_of_several_recordings_pools_their_frames_turns_and_windows(model_file, tmp_path, caplog):
    # A threshold is better chosen on several annotated recordings than on one: eval took one.
    single = json.loads(run("eval", SAMPLE, "-m", str(model_file), "--truth", TRUTH, "-q", "-f", "json",
                            "--sweep").output)
    first_two = tmp_path / "first_two.json"  # the same recording, where the target's last three turns go unmarked
    intervals = json.loads(Path(TRUTH).read_text())["intervals"]
    first_two.write_text(json.dumps({"intervals": intervals[:2]}))
    both = run("eval", SAMPLE, SAMPLE, "-m", str(model_file), "--truth", TRUTH, "--truth", TRUTH, "-q", "-f", "json",
               "--sweep")
    assert both.exit_code == 0, both.output
    pooled = json.loads(both.output)
    assert [r["turns"] for r in pooled["recordings"]] == [5, 5] and pooled["turns"] == 10
    assert pooled["turns_found"] == 2 * single["turns_found"]
    for figure in ("frame_precision", "frame_recall", "frame_f1", "false_alarms_per_hour", "eer"):
        assert pooled[figure] == single[figure], figure  # twice the same: the same ratios
        assert pooled["recordings"][1][figure] == single[figure]
    assert [row["frame_f1"] for row in pooled["sweep"]] == [row["frame_f1"] for row in single["sweep"]]
    mixed = json.loads(run("eval", SAMPLE, SAMPLE, "-m", str(model_file), "--truth", TRUTH, "--truth",
                           str(first_two), "-q", "-f", "json").output)
    assert mixed["turns"] == 7 and mixed["false_alarm_segments"] > single["false_alarm_segments"]
    assert mixed["frame_precision"] < single["frame_precision"]  # the unmarked turns count against it
    printed = run("eval", SAMPLE, SAMPLE, "-m", str(model_file), "--truth", TRUTH, "--truth", str(first_two), "-q")
    lines = printed.output.splitlines()
    assert lines[0].startswith(f"{SAMPLE}: frame precision ") and ", turns found 5/5" in lines[0]
    assert lines[2] == "all 2 recordings:" and lines[4].startswith("turns found ")
    refused = run("eval", SAMPLE, SAMPLE, "-m", str(model_file), "--truth", TRUTH, "-q")
    assert refused.exit_code == 2 and "give one --truth per recording, in the same order: 2 recording(s), " \
        "1 truth file(s)" in refused.output
    # Without --truth, each recording's truth is the file beside it named after it.
    shutil.copy(SAMPLE, tmp_path / "monday.ts")
    shutil.copy(TRUTH, tmp_path / "monday.truth.json")
    shutil.copy(SAMPLE, tmp_path / "tuesday.ts")
    (tmp_path / "tuesday.labels.txt").write_text("".join(f"{start}\t{end}\tanna\n" for start, end in intervals[:2]))
    assert speakerspot.truth_beside(tmp_path / "monday.ts") == tmp_path / "monday.truth.json"  # the Python API's
    beside = run("eval", str(tmp_path / "monday.ts"), str(tmp_path / "tuesday.ts"), "-m", str(model_file), "-q",
                 "-f", "json")
    assert beside.exit_code == 0, beside.output
    assert {key: value for key, value in json.loads(beside.output).items() if key != "recordings"} == \
        {key: value for key, value in mixed.items() if key != "recordings"}
    # A folder: its recordings with a truth beside them, those without left out with a warning.
    folder = tmp_path / "annotated"
    folder.mkdir()
    for name in ("monday.ts", "monday.truth.json", "tuesday.ts", "tuesday.labels.txt"):
        shutil.copy(tmp_path / name, folder / name)
    shutil.copy(SAMPLE, folder / "unannotated.ts")
    with caplog.at_level(logging.WARNING, "speakerspot"):
        in_folder = run("eval", str(folder), "-m", str(model_file), "-q", "-f", "json")
    assert in_folder.exit_code == 0, in_folder.output
    assert {key: value for key, value in json.loads(in_folder.stdout).items() if key != "recordings"} == \
        {key: value for key, value in mixed.items() if key != "recordings"}
    assert f"1 recording(s) without a truth beside them left out: {folder / 'unannotated.ts'}" in caplog.text
    assert run("eval", str(folder), "-m", str(model_file), "--truth", TRUTH, "-q").exit_code == 2
    empty = tmp_path / "unannotated"
    empty.mkdir()
    shutil.copy(SAMPLE, empty / "news.ts")
    none_there = run("eval", str(empty), "-m", str(model_file), "-q")
    assert none_there.exit_code == 2 and "holds no recording with a truth file beside it" in none_there.output
    (tmp_path / "tuesday.labels.txt").unlink()
    unlabelled = run("eval", str(tmp_path / "monday.ts"), str(tmp_path / "tuesday.ts"), "-m", str(model_file), "-q")
    assert unlabelled.exit_code == 2 and f"none beside {tmp_path / 'tuesday.ts'} (tuesday.labels.txt, " \
        "tuesday.truth.json, tuesday.rttm)" in unlabelled.output
    # One that cannot be read is told in one line and left out; the others are scored, and the exit code says so.
    (tmp_path / "tuesday.ts").write_text("not a recording\n")
    with_unread = run("eval", str(tmp_path / "tuesday.ts"), str(tmp_path / "monday.ts"), "-m", str(model_file),
                      "--truth", TRUTH, "--truth", TRUTH, "-q", "-f", "json")
    assert with_unread.exit_code == 3
    told = with_unread.stderr.splitlines()
    assert len(told) == 1 and told[0].startswith(f"speakerspot: error: {tmp_path / 'tuesday.ts'}: ")
    scored = json.loads(with_unread.stdout)
    assert scored["recordings"][0] == {"file": str(tmp_path / "tuesday.ts"), "error": told[0].split(": ", 3)[3]}
    assert scored["recordings"][1]["file"] == str(tmp_path / "monday.ts") and scored["turns"] == 5
    assert {key: scored[key] for key in single if key not in ("file", "sweep", "best_threshold",
                                                             "best_threshold_every_turn")} == \
        {key: value for key, value in single.items() if key not in ("file", "sweep", "best_threshold",
                                                                     "best_threshold_every_turn")}
    printed = run("eval", str(tmp_path / "tuesday.ts"), str(tmp_path / "monday.ts"), "-m", str(model_file),
                  "--truth", TRUTH, "--truth", TRUTH, "-q")
    assert printed.exit_code == 3 and f"the 1 recording(s) read, as one (1 of 2 could not be read: " \
        f"{tmp_path / 'tuesday.ts'}):" in printed.stdout.splitlines()
    none_read = run("eval", str(tmp_path / "tuesday.ts"), "-m", str(model_file), "--truth", TRUTH, "-q")
    assert none_read.exit_code == 3 and none_read.stdout == "" and len(none_read.stderr.splitlines()) == 1


def test_speech_edges_keep_music_out_of_a_segment_in_scan_and_eval(reference_model, model_file, tmp_path):
    signal, (first_word, last_word) = words_between_music(reference_model.front_end)
    soundfile.write(tmp_path / "music.wav", signal, reference_model.front_end.sample_rate)
    (tmp_path / "truth.json").write_text(json.dumps({"intervals": [[first_word, last_word]]}))
    common = (str(tmp_path / "music.wav"), "-m", str(model_file), "-t", "-10", "-q")  # every window above it
    for edges, precise in ((["--speech-edges"], True), ([], False)):
        (segment,) = json.loads(run("scan", *common, "-f", "json", *edges).output)["segments"]
        assert (segment["start"] > first_word - 2.5 and segment["end"] < last_word + 2.5) == precise
        report = json.loads(run("eval", *common, "--truth", str(tmp_path / "truth.json"), "-f", "json", *edges).output)
        assert (report["frame_precision"] > 0.8) == precise


@pytest.fixture
def bad_inputs(tmp_path, model_file):
    """A folder of broken things: each case of the table below uses one."""
    import torch
    from media import add_video_stream, encode_video_second

    (tmp_path / "notmedia.ts").write_text("hello\n" * 50)
    (tmp_path / "empty.ts").write_bytes(b"")
    (tmp_path / "truncated.ts").write_bytes((FIXTURES / "sample.ts").read_bytes()[:188 * 3])
    with av.open(str(tmp_path / "video.ts"), "w") as container:  # video, no audio
        stream = add_video_stream(container, tmp_path / "video.ts")
        encode_video_second(container, stream, 0, 0.0)
        for packet in stream.encode(None):
            container.mux(packet)
    (tmp_path / "damaged.pt").write_bytes(model_file.read_bytes()[:3000])
    (tmp_path / "text.pt").write_text("not a model")
    (tmp_path / "twin.pt").write_bytes(model_file.read_bytes())  # a copy keeps the model's name
    (tmp_path / "bases").mkdir()  # a folder of models holding only the base encoder train fine-tunes
    (tmp_path / "bases" / "base.pt").write_bytes(base_path("default").read_bytes())
    newer = torch.load(model_file, weights_only=True)
    newer["format_version"] = 99
    torch.save(newer, tmp_path / "newer.pt")
    (tmp_path / "empty").mkdir()
    (tmp_path / "linked").mkdir()  # a clip of the negatives linked in among the positives
    (tmp_path / "linked" / "clip.wav").symlink_to(sorted((SPEECH / "train" / "slt").iterdir())[0])
    (tmp_path / "notadb.sqlite").write_text("not a database " * 100)
    rng = np.random.default_rng(0)
    for folder, seconds, level in (("short", 0.5, 0.1), ("silent", 4.0, 0.0)):
        (tmp_path / folder).mkdir()
        soundfile.write(tmp_path / folder / f"{folder}.wav", rng.normal(0, 1, int(16000 * seconds)) * level, 16000)
    return tmp_path


SAMPLE = str(FIXTURES / "sample.ts")
SLT = str(SPEECH / "train" / "slt")
TRUTH = str(FIXTURES / "sample_truth.json")


CASES = [
    # (arguments with {d} for the folder of broken things and {m} for a good model, exit code, text in the message)
    (["scan", "{d}/missing.ts", "-m", "{m}"], 3, "missing.ts: no such file"),
    (["scan", "{d}/empty", "-m", "{m}"], 3, "empty: no media files found"),
    (["scan", "{d}", "-m", "{m}", "--glob", "*.mkv", "--glob", "*.mxf"], 3, "no files matching *.mkv or *.mxf"),
    (["eval", "{d}/empty", "-m", "{m}", "--truth", TRUTH], 2, "a folder's recordings are scored against the truth "
     "beside each"),
    (["eval", "{d}/empty", "-m", "{m}"], 2, "empty: holds no recording with a truth file beside it"),
    (["scan", "{d}/notmedia.ts", "-m", "{m}"], 3, "notmedia.ts: not a media file"),
    (["scan", "{d}/empty.ts", "-m", "{m}"], 3, "empty.ts: is empty"),
    (["scan", "{d}/truncated.ts", "-m", "{m}"], 3, "truncated.ts: its audio stream holds no decodable audio"),
    (["scan", "{d}/video.ts", "-m", "{m}"], 3, "video.ts: has no audio stream"),
    (["scan", SAMPLE, "-m", "{m}", "--audio-track", "2"], 3, "no audio track 2"),
    (["scan", SAMPLE, "-m", "{m}", "--language", "xyz"], 3, "no audio stream in language 'xyz'"),
    (["scan", SAMPLE, "-m", "{d}/damaged.pt"], 4, "damaged.pt"),
    (["scan", SAMPLE, "-m", "{d}/text.pt"], 4, "text.pt: not a speakerspot model file"),
    (["scan", SAMPLE, "-m", "{d}/newer.pt"], 4, "newer.pt: model format version 99 is not supported"),
    (["scan", SAMPLE, "-m", "{d}/none.pt"], 4, "no such model file"),
    (["scan", SAMPLE, "-m", "{d}/empty"], 2, "no model files"),
    (["scan", SAMPLE, "-m", "{m}", "-m", "{d}/twin.pt"], 2, "twin.pt are models of one name, 'fixture'"),
    (["scan", SAMPLE, "-m", "{d}/bases/base.pt"], 4, "base.pt: is a base encoder, what `train` fine-tunes"),
    (["scan", SAMPLE, "-m", "{d}/bases"], 2, "no model of a voice in"),
    (["enroll", "{d}/bases/base.pt", SLT], 4, "base: is a base encoder"),
    (["scan", "http://receiver:8001/1:0:19:283D", "-m", "{m}"], 3,
     "http://receiver:8001/1:0:19:283D: a URL, not a file: pipe the stream in, `curl -sN 'http://receiver:8001/"),
    (["eval", "udp://239.1.1.1:1234", "-m", "{m}", "--truth", TRUTH], 3,
     "`ffmpeg -nostdin -i 'udp://239.1.1.1:1234' -map 0:a:0 -c copy -f mpegts"),
    (["scan", SAMPLE, "-m", "{m}", "-o", "{d}/nodir/out.txt"], 6, "does not exist"),
    (["scan", SAMPLE, "-m", "{m}", "-o", "{d}/notmedia.ts/out.txt"], 6, "does not exist"),
    (["scan", SAMPLE, "-m", "{m}", "--db", "{d}/nodir/results.sqlite"], 6, "does not exist"),
    (["scan", SAMPLE, "-m", "{m}", "--db", "{d}/notadb.sqlite"], 6, "notadb.sqlite: not a usable results index"),
    (["eval", SAMPLE, "-m", "{m}", "--truth", "{d}/notmedia.ts"], 1, "notmedia.ts: not a truth file"),
    (["train", "--pos", "{d}/empty", "--neg", SLT, "-o", "{d}/m.pt"], 5, "empty: no positive clips found"),
    (["train", "--pos", SLT, "--neg", "{d}/empty", "-o", "{d}/m.pt"], 5, "empty: no negative clips found"),
    (["train", "--pos", "{d}/short", "--neg", SLT, "-o", "{d}/m.pt"], 5, "short.wav (0.50 s)"),
    (["train", "--pos", "{d}/silent", "--neg", SLT, "-o", "{d}/m.pt"], 5, "silent.wav (silent)"),
    (["train", "--pos", SLT, "--neg", SLT, "-o", "{d}/m.pt"], 5, "both as a positive and as a negative"),
    (["train", "--pos", "{d}/linked", "--neg", SLT, "-o", "{d}/m.pt"], 5, "both as a positive and as a negative"),
    (["train", "--pos", "{d}/nowhere", "--neg", "{d}/empty", "-o", "{d}/m.pt"], 5, "nowhere: no such file or folder"),
    (["enroll", "{m}", "{d}/nowhere.wav"], 5, "nowhere.wav: no such file or folder"),
    (["enroll", "{m}", "{d}/empty"], 5, "empty: no positive clips found"),
    (["tune", "{d}/text.pt", "-t", "0"], 4, "text.pt: not a speakerspot model file"),
    (["tune", "{m}", "-t", "0", "-o", "{d}/nodir/anna.pt"], 6, "does not exist"),
    (["train", "{d}", "-o", "{d}/m.pt"], 2, "needs --target"),
    (["train", "--pos", SLT, "--neg", SLT, "--target", "slt", "-o", "{d}/m.pt"], 2, "--target names a subfolder"),
    (["train", "--neg", SLT, "-o", "{d}/m.pt"], 2, "give --pos (and --neg)"),
    # --pos and --neg add to a labeled folder's clips: here the same clips come on both sides.
    (["train", str(SPEECH / "train"), "--target", "rms", "--neg", str(SPEECH / "train" / "rms"), "-o", "{d}/m.pt"],
     5, "both as a positive and as a negative"),
    (["train", str(SPEECH / "train"), "--target", "rms", "--pos", SLT, "-o", "{d}/m.pt"],
     5, "both as a positive and as a negative"),
    # A device this machine lacks (cuda:99: none has a 100th GPU), or a name torch does not know.
    (["scan", SAMPLE, "-m", "{m}", "--device", "cuda:99"], 2, "device 'cuda:99': no CUDA device"),
    (["scan", SAMPLE, "-m", "{m}", "--device", "gpu"], 2, "'gpu' is not a torch device"),
    (["eval", SAMPLE, "-m", "{m}", "--truth", TRUTH, "--device", "cuda:99"], 2, "no CUDA device"),
    (["train", "--pos", SLT, "--neg", "{d}/short", "-o", "{d}/m.pt", "--device", "cuda:99"], 2, "no CUDA device"),
    # --live prints one recording's segments on stdout as they are decided, one line each
    (["scan", SAMPLE, "{d}/video.ts", "-m", "{m}", "--live"], 2, "--live follows one recording or stream; here 2"),
    (["scan", SAMPLE, "-m", "{m}", "--live", "-f", "srt"], 2, "--live prints one format of one line per segment"),
    (["scan", SAMPLE, "-m", "{m}", "--live", "-o", "{d}/out.txt"], 2, "--live prints on stdout"),
    (["scan", SAMPLE, "-m", "{m}", "--live", "--speech-edges"], 2, "--live and --speech-edges"),
    # Said before training starts (training these clips would fail, exit 5), not after it.
    (["train", "--pos", "{d}/short", "--neg", SLT, "-o", "{d}/nodir/m.pt"], 6, "nodir does not exist"),
]


@pytest.mark.parametrize("arguments, exit_code, message", CASES)
def test_bad_input_gives_one_line_and_its_exit_code(bad_inputs, model_file, arguments, exit_code, message):
    result = run(*[a.format(d=bad_inputs, m=model_file) for a in arguments], "-q")
    assert result.exit_code == exit_code, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert not (bad_inputs / "nodir").exists() and not (bad_inputs / "m.pt").exists()


def test_a_recording_shorter_than_a_window_is_said_to_be_unscanned(model_file, tmp_path, caplog):
    samples, rate = soundfile.read(sorted((SPEECH / "test" / "rms").iterdir())[0])
    soundfile.write(tmp_path / "short.wav", samples[:int(1.5 * rate)], rate)
    result = run("scan", str(tmp_path / "short.wav"), "-m", str(model_file), "-q")
    assert result.exit_code == 0, result.output
    assert result.output == ""  # no segment
    assert "short.wav: 1.5 s of audio, shorter than one window (2.04 s): nothing was scanned" in caplog.text


def test_info_lists_streams_and_the_default(tmp_path):
    from media import write_recording

    tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(32000) / 16000)).astype(np.float32)
    path = write_recording(tmp_path / "two.ts", tone, 16000, extra_tracks=(tone,), video=True)
    result = run("info", str(path))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split()[:4] == ["track", "pid", "codec", "channels"]
    assert len(lines) == 3 and "scanned by default" in lines[1] and "mp2" in lines[1]
    assert [line.split()[1] for line in lines[1:]] == ["0x101", "0x102"]  # after the video's 0x100
    # MPEG audio by its frames' layer, as ffprobe names it: before 2026-12-07 the sample's MP2 was listed as
    # mp3, FFmpeg's MPEG-TS demuxer's first guess
    assert run("info", SAMPLE).output.splitlines()[1].split()[2] == "mp2"
    mp3 = write_recording(tmp_path / "mp3.ts", tone, 16000, codec="libmp3lame")
    assert run("info", str(mp3)).output.splitlines()[1].split()[2] == "mp3"  # not its decoder's "mp3float"
    mkv = write_recording(tmp_path / "one.mkv", tone, 16000)
    mkv_stream = run("info", str(mkv)).output.splitlines()[1].split()
    assert mkv_stream[1] == "-"  # only MPEG-TS streams have a PID
    assert mkv_stream[6:8] == ["2.0", "s"]  # Matroska gives a stream no duration: the file's (before: "?")
    # `-` is the standard input, as for scan (before 2026-12-06: "-: no such file")
    piped = subprocess.run([sys.executable, "-m", "speakerspot", "info", "-"], input=path.read_bytes(),
                           capture_output=True, timeout=120)
    assert piped.returncode == 0, piped.stderr
    assert [line.split()[1] for line in piped.stdout.decode().splitlines()[1:]] == ["0x101", "0x102"]



def test_info_ends_on_a_pipe_that_never_ends_whose_audio_stream_carries_nothing(tmp_path):
    # A live channel whose programme lists an MPEG audio stream that sends no packet (a dormant PID): the
    # codec's name is looked for in its packets, for a bounded number of packets of any stream. Looking
    # in that stream's packets alone, `info` waited for ever.
    from fractions import Fraction

    from media import add_video_stream, encode_video_second

    path = tmp_path / "dormant.ts"
    with av.open(str(path), "w") as container:
        video = add_video_stream(container, path)
        dormant = container.add_stream("mp2", rate=48000)
        dormant.layout, dormant.time_base = "stereo", Fraction(1, 48000)
        for second in range(4):
            encode_video_second(container, video, second, 0.0)
        for packet in video.encode(None):
            container.mux(packet)
    fifo = tmp_path / "channel.fifo"
    os.mkfifo(fifo)

    def send_for_ever() -> None:
        with contextlib.suppress(BrokenPipeError), open(fifo, "wb") as channel:
            while True:
                channel.write(path.read_bytes())

    threading.Thread(target=send_for_ever, daemon=True).start()
    listed = subprocess.run([sys.executable, "-m", "speakerspot", "info", str(fifo)], capture_output=True,
                            timeout=120)
    assert listed.returncode == 0, listed.stderr
    # FFmpeg's guess at the codec, unread; channels and rate not known
    assert listed.stdout.decode().splitlines()[1].split()[:5] == ["0", "0x101", "mp3", "?", "?"]

def test_scan_output_file_is_complete_readable_and_alone(model_file, tmp_path):
    output = tmp_path / "out.txt"
    result = run("scan", str(FIXTURES / "sample.ts"), "-m", str(model_file), "-q", "-o", str(output))
    assert result.exit_code == 0, result.output
    assert output.read_text().count("\n") >= 1
    assert output.stat().st_mode & 0o044  # readable by others under the usual umask, like any new file
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]  # no temporary file left behind


def test_a_model_given_twice_scans_once(model_file):
    once = run("scan", SAMPLE, "-m", str(model_file), "-q")
    twice = run("scan", SAMPLE, "-m", str(model_file), "-m", str(model_file.parent / "." / model_file.name), "-q")
    assert twice.exit_code == 0, twice.output
    assert twice.output == once.output and once.output.count("\n") >= 2  # not two models of one name, refused


def test_train_without_negatives_trains_against_the_shipped_voices_of_others(tmp_path, caplog):
    import speakerspot

    with caplog.at_level(logging.WARNING, "speakerspot"):
        result = run("train", "--pos", str(SPEECH / "train" / "rms"), "-o", str(tmp_path / "rms.pt"), "--epochs", "1",
                     "--force", "-q")
    assert result.exit_code == 0, result.output
    assert "no negative clips given: training against the 36 voices of other people shipped" in caplog.text
    summary = speakerspot.load_model(tmp_path / "rms.pt").training_summary
    assert summary["negative_clips"] == 36 and summary["negative_seconds"] > 300  # LibriSpeech readers, 7.6 min
    described = run("info", str(tmp_path / "rms.pt")).output
    assert f"36 negative ({summary['negative_seconds']} s, the voices of others shipped with speakerspot)" in described


def test_train_takes_the_target_turns_a_truth_file_marks_in_a_recording(tmp_path):
    # A programme checked by hand (the scan's labels corrected in Audacity) trained on as it is: until
    # 2026-12-07 its turns had to be cut into clips with ffmpeg first.
    import speakerspot
    from speakerspot.audio import load_audio
    from speakerspot.clips import Excerpt, excerpt_samples

    turns = json.loads((FIXTURES / "sample_truth.json").read_text())["intervals"]
    labels = tmp_path / "sample.labels.txt"  # Audacity's label track: the target's turns, and a jingle
    labels.write_text("".join(f"{start:.6f}\t{end:.6f}\trms\n" for start, end in turns[:3])
                      + "20.000000\t24.000000\tjingle\n")
    result = run("train", "--turns", SAMPLE, str(labels), "--speaker", "rms", "--neg", str(SPEECH / "train" / "awb"),
                 "-o", str(tmp_path / "rms.pt"), "--epochs", "1", "--force", "-q")
    assert result.exit_code == 0, result.output
    summary = speakerspot.load_model(tmp_path / "rms.pt").training_summary
    assert summary["positive_clips"] == 3 and summary["positive_turns"] == 3  # the jingle's region is not the target's
    assert f"3 positive clips, 3 of them turns in 1 recording ({summary['positive_seconds']} s, " in result.output
    assert summary["positive_seconds"] == pytest.approx(sum(end - start for start, end in turns[:3]), abs=0.1)
    # Each turn is the audio the scan reads at those times.
    whole = load_audio(SAMPLE, 22050)
    cut = excerpt_samples([Excerpt(Path(SAMPLE), *turn) for turn in turns], 22050)
    for (start, end), samples in zip(turns, cut.values(), strict=True):
        assert len(samples) == round((end - start) * 22050)
        np.testing.assert_array_equal(samples, whole[round(start * 22050):round(start * 22050) + len(samples)])
    # The turns come from the audio stream the scan read: --audio-track picks it, as for the scan.
    speech = np.concatenate([read_clip(SPEECH / "train" / "rms" / f"0{n}.ogg")[0] for n in range(3)])
    two = write_recording(tmp_path / "two.ts", np.zeros_like(speech), 16000, extra_tracks=(speech,))
    spoken = tmp_path / "two.json"
    spoken.write_text(json.dumps({"intervals": [[0.5, len(speech) / 16000 - 0.5]]}))
    silent = run("train", "--turns", str(two), str(spoken), "-o", str(tmp_path / "silent.pt"), "-q")
    assert silent.exit_code == 5 and "silent" in silent.output and not (tmp_path / "silent.pt").exists()
    picked = run("train", "--turns", str(two), str(spoken), "--audio-track", "1", "--neg",
                 str(SPEECH / "train" / "awb"), "-o", str(tmp_path / "picked.pt"), "--epochs", "1", "--force", "-q")
    assert picked.exit_code == 0, picked.output
    assert speakerspot.load_model(tmp_path / "picked.pt").training_summary["positive_speech_seconds"] > 3
    assert run("train", "--pos", str(SPEECH / "train" / "rms"), "--audio-track", "1", "-o", str(tmp_path / "y.pt"),
               "-q").exit_code == 2  # the stream of --turns' recordings, without --turns
    # A truth file of another recording, whose turns lie past this one's end, is refused before training.
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"intervals": [[30.0, 34.0], [600.0, 604.5]]}))
    refused = run("train", "--turns", SAMPLE, str(other), "-o", str(tmp_path / "x.pt"), "-q")
    assert refused.exit_code == 5 and not (tmp_path / "x.pt").exists()
    assert f"{SAMPLE}: turns given past its end (91.7 s): 1 of 2, the first ending at 604.5 s: is the truth file " \
           "this recording's?" in refused.output


def test_a_model_named_without_pt_is_found_as_train_named_it(model_file):
    with_pt = run("scan", SAMPLE, "-m", str(model_file), "-q")
    without = run("scan", SAMPLE, "-m", str(model_file.with_suffix("")), "-q")  # train -o models/anna: anna.pt
    assert without.exit_code == 0, without.output
    assert without.output == with_pt.output and with_pt.output.count("\n") >= 2


def test_output_dash_is_the_standard_output(model_file, tmp_path, monkeypatch):
    to_stdout = run("scan", SAMPLE, "-m", str(model_file), "-q", "-f", "csv")
    monkeypatch.chdir(tmp_path)
    to_dash = run("scan", SAMPLE, "-m", str(model_file), "-q", "-f", "csv", "-o", "-")
    assert to_dash.exit_code == 0, to_dash.output
    assert to_dash.output == to_stdout.output and to_stdout.output.count("\n") >= 2
    assert not list(tmp_path.iterdir())  # no file named "-"


def test_an_output_file_is_written_in_the_format_its_name_says_unless_f_says_another(model_file, tmp_path, caplog):
    printed = {name: run("scan", SAMPLE, "-m", str(model_file), "-q", "-f", name).output
               for name in ("txt", "srt", "audacity")}
    assert len(set(printed.values())) == 3 and all(text.count("\n") >= 2 for text in printed.values())
    for file_name, format_name in (("anna.SRT", "srt"), ("anna.labels.txt", "audacity"), ("anna.txt", "txt"),
                                   ("anna.markers", "txt")):
        written = tmp_path / file_name
        assert run("scan", SAMPLE, "-m", str(model_file), "-q", "-o", str(written)).exit_code == 0
        assert written.read_text() == printed[format_name], file_name
    with caplog.at_level(logging.WARNING, "speakerspot"):
        assert run("scan", SAMPLE, "-m", str(model_file), "-q", "-f", "srt", "-o", str(tmp_path / "anna.csv")
                   ).exit_code == 0
    assert (tmp_path / "anna.csv").read_text() == printed["srt"]
    assert caplog.messages == [f"{tmp_path / 'anna.csv'}: written as srt, as -f asks, though its name says csv"]


def test_enroll_adds_clips_to_the_memory_bank_without_retraining(model_file, tmp_path):
    import speakerspot

    before = speakerspot.load_model(model_file)
    output = tmp_path / "enrolled.pt"
    result = run("enroll", str(model_file), str(SPEECH / "test" / "rms"), "-o", str(tmp_path / "enrolled"))
    assert result.exit_code == 0, result.output
    assert os.listdir(tmp_path) == ["enrolled.pt"]  # .pt added: `scan -m FOLDER` finds model files by it
    after = speakerspot.load_model(output)
    assert after.memory_bank.shape[0] >= before.memory_bank.shape[0]
    assert after.decision == before.decision
    assert "5 clip(s)" in result.output
    assert after.name == "enrolled" != before.name  # another file, another model in outputs (as train -o names)


def test_a_folder_of_models_passes_over_the_base_encoder_beside_them(model_file, tmp_path, caplog):
    (tmp_path / "models").mkdir()  # as in a checkout: models/base.pt beside the models trained into models/
    (tmp_path / "models" / "base.pt").write_bytes(base_path("default").read_bytes())
    (tmp_path / "models" / "anna.pt").write_bytes(model_file.read_bytes())
    result = run("scan", SAMPLE, "-m", str(tmp_path / "models"), "-q", "-f", "srt")
    assert result.exit_code == 0, result.output
    assert result.output == run("scan", SAMPLE, "-m", str(model_file), "-q", "-f", "srt").output  # one result
    assert "base.pt is a base encoder" in caplog.text and "left out" in caplog.text


def test_tune_stores_a_threshold_that_scans_as_scan_t_does(model_file, tmp_path):
    import speakerspot

    original = speakerspot.load_model(model_file)
    result = run("tune", str(model_file), "-t", "0.0", "-o", str(tmp_path / "anna"))
    assert result.exit_code == 0, result.output
    tuned = speakerspot.load_model(tmp_path / "anna.pt")
    assert tuned.name == "anna" and tuned.decision.threshold == 0.0
    assert tuned.decision.threshold - tuned.decision.stay_threshold == pytest.approx(
        original.decision.threshold - original.decision.stay_threshold)  # the levels moved together
    described = run("info", str(tmp_path / "anna.pt")).output.splitlines()
    assert described[0] == f"model 'anna' ({tmp_path / 'anna.pt'})" and "10 positive clips" in described[1]
    assert f"levels: threshold 0.000 (tuned since; calibrated {original.decision.threshold:.3f})" in described[-2]
    as_trained = run("info", str(model_file)).output
    assert "levels: threshold" in as_trained and "tuned" not in as_trained
    by_tune = run("scan", SAMPLE, "-m", str(tmp_path / "anna.pt"), "-q", "-f", "csv").output
    by_option = run("scan", SAMPLE, "-m", str(model_file), "-q", "-f", "csv", "-t", "0").output
    assert by_tune.replace("anna", "fixture") == by_option and by_option.count("\n") >= 2
    assert by_option != run("scan", SAMPLE, "-m", str(model_file), "-q", "-f", "csv").output  # the threshold mattered


@pytest.mark.parametrize("index", [False, True], ids=["alone", "with a results index"])
def test_a_recording_piped_through_a_fifo_scans_as_the_file_does(model_file, tmp_path, index):
    import threading

    recording = FIXTURES / "sample.ts"
    fifo = tmp_path / "live.ts"
    os.mkfifo(fifo)

    def write_once() -> None:  # one writer, as a capture card or `ffmpeg ... > fifo`: a second open would wait forever
        try:
            with open(fifo, "wb") as pipe:
                pipe.write(recording.read_bytes())
        except BrokenPipeError:
            pass

    writer = threading.Thread(target=write_once, daemon=True)
    writer.start()
    command = [sys.executable, "-m", "speakerspot", "scan", "-m", str(model_file), "-q"]
    indexed = ["--db", str(tmp_path / "results.sqlite")] if index else []  # a file's fingerprint reads it
    try:
        piped = subprocess.run([*command, *indexed, str(fifo)], capture_output=True, timeout=120)
    finally:
        if writer.is_alive():  # the scan gave up the pipe early: let the writer see it
            os.close(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK))
    direct = subprocess.run([*command, str(recording)], capture_output=True, timeout=120)
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout == direct.stdout and direct.stdout.count(b"\n") >= 1


def test_a_recording_on_the_standard_input_scans_as_the_file_does(model_file):
    recording = FIXTURES / "sample.ts"
    command = [sys.executable, "-m", "speakerspot", "scan", "-m", str(model_file), "-q"]
    piped = subprocess.run([*command, "-"], input=recording.read_bytes(), capture_output=True, timeout=120)
    direct = subprocess.run([*command, str(recording)], capture_output=True, timeout=120)
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout == direct.stdout and piped.stdout.count(b"\n") >= 4


def test_a_recording_whose_name_is_not_utf8_is_scanned_indexed_and_written_by_its_bytes(model_file, tmp_path):
    # A Latin-1 name from an old archive, in a UTF-8 locale (PYTHONIOENCODING as Python sets it there):
    # stdout, the outputs' files and the results index each failed the batch with a traceback.
    name = b"Nachrichten_\xe4rger.ts"
    folder = tmp_path / "archive"
    folder.mkdir()
    for file_name in (name, b"plain.ts"):
        (folder / os.fsdecode(file_name)).write_bytes((FIXTURES / "sample.ts").read_bytes())
    environment = {**os.environ, "PYTHONIOENCODING": "utf-8:strict"}
    index = str(tmp_path / "results.sqlite")

    def speakerspot(*arguments: str) -> subprocess.CompletedProcess:
        finished = subprocess.run([sys.executable, "-m", "speakerspot", *arguments], capture_output=True,
                                  env=environment, timeout=120)
        assert finished.returncode == 0, finished.stderr
        return finished

    scanned = speakerspot("scan", str(folder), "-m", str(model_file), "-q", "--db", index, "-f", "csv").stdout
    rows = scanned.splitlines()
    assert rows[0] == b"file,model,start,end,score,on_air,stream" and len(rows) >= 9
    assert {row.rsplit(b",", 6)[0] for row in rows[1:]} == {os.fsencode(folder / os.fsdecode(file_name))
                                                          for file_name in (name, b"plain.ts")}
    assert speakerspot("results", "--db", index, "-f", "csv").stdout == scanned
    again = speakerspot("scan", str(folder), "-m", str(model_file), "--db", index, "-f", "csv")
    assert again.stdout == scanned and b"2 unchanged" in again.stderr  # found in the index
    speakerspot("results", "--db", index, "-f", "rttm", "-f", "edl", "--output-dir", str(tmp_path / "out"))
    assert {b"Nachrichten_\xe4rger.fixture.edl", b"Nachrichten_\xe4rger.fixture.rttm"} <= set(
        os.listdir(os.fsencode(tmp_path / "out")))


@pytest.mark.parametrize("content", [b"", b"not media at all\n" * 100])
def test_a_pipe_that_brings_no_recording_says_so_in_one_line(model_file, content):
    command = [sys.executable, "-m", "speakerspot", "scan", "-", "-m", str(model_file), "-q"]
    piped = subprocess.run(command, input=content, capture_output=True, timeout=120)
    assert piped.returncode == 3 and piped.stdout == b""
    assert piped.stderr.decode().splitlines() == [
        "speakerspot: error: /dev/stdin: nothing FFmpeg can read came through the pipe: it was empty, or held "
        "something else (InvalidDataError)"]


@pytest.mark.parametrize("format_name", ["txt", "jsonl"])
def test_live_prints_each_segment_while_the_stream_still_plays(model_file, format_name):
    # The stream's second half is sent only once a line has come out: a line from the first half alone.
    capture = (FIXTURES / "sample.ts").read_bytes()
    command = [sys.executable, "-m", "speakerspot", "scan", "-", "-m", str(model_file), "--live", "-f", format_name]
    with subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as live:
        live.stdin.write(capture[:len(capture) // 2])
        live.stdin.flush()
        # the timeout only ends a failing test
        assert select.select([live.stdout], [], [], 300)[0], "no line before the stream went on"
        first = live.stdout.readline()
        live.stdin.write(capture[len(capture) // 2:])
        live.stdin.close()
        rest = live.stdout.read()
        assert live.wait(timeout=120) == 0, live.stderr.read()
    lines = (first + rest).decode().splitlines()
    whole = run("scan", SAMPLE, "-m", str(model_file), "-q", "-f", format_name)
    # Scores may differ in their last digit from one process to another (float rounding): times may not.
    if format_name == "txt":
        told, found = ([line.rsplit(maxsplit=1) for line in text] for text in (lines, whole.output.splitlines()))
        assert [times for times, _ in told] == [times for times, _ in found]
        np.testing.assert_allclose([float(score) for _, score in told], [float(score) for _, score in found],
                                   atol=1.5e-3)
    else:  # one object per segment, as it was decided
        (result,) = [json.loads(line) for line in whole.output.splitlines()]
        told = [json.loads(line) for line in lines]
        assert [(segment["start"], segment["end"]) for segment in told] == \
            [(segment["start"], segment["end"]) for segment in result["segments"]]
        np.testing.assert_allclose([segment["score"] for segment in told],
                                   [segment["score"] for segment in result["segments"]], atol=2e-4)
        assert {(segment["file"], segment["model"]) for segment in told} == {("/dev/stdin", result["model"])}
    assert len(lines) >= 4


def test_live_stops_quietly_when_its_reader_stops_reading(model_file):
    # `scan - --live | head -1`: what comes after the first line cannot be told, and is no error of a recording
    capture = (FIXTURES / "sample.ts").read_bytes()
    command = [sys.executable, "-m", "speakerspot", "scan", "-", "-m", str(model_file), "--live", "-q"]
    with subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as live:
        live.stdin.write(capture[:len(capture) // 2])
        live.stdin.flush()
        assert select.select([live.stdout], [], [], 300)[0], "no line before the stream went on"
        assert live.stdout.readline().startswith(b"00:00:00")
        live.stdout.close()
        with contextlib.suppress(BrokenPipeError):  # it may have stopped before reading it all
            live.stdin.write(capture[len(capture) // 2:])
            live.stdin.close()
        assert live.wait(timeout=120) == 1
        assert live.stderr.read() == b""


@pytest.mark.parametrize(("arguments", "code", "said"), [
    (["scan", "missing.ts"], 3, "missing.ts: no such file"),
    (["scan", "--no-such-option"], 2, "No such option"),
    (["scan", str(FIXTURES / "sample.ts"), "-o", "{tmp}/sample.json", "-f", "json", "-q"], 0, ""),
])
def test_the_command_exits_with_its_code_and_leaves_its_output_whole(model_file, tmp_path, arguments, code, said):
    # The command ends without the interpreter's teardown (see `cli.main`): what it wrote and its exit
    # code must be those of a full exit.
    arguments = [a.replace("{tmp}", str(tmp_path)) for a in arguments] + ["-m", str(model_file)]
    done = subprocess.run([sys.executable, "-m", "speakerspot", *arguments], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)
    assert done.returncode == code, done.stderr
    assert said in done.stderr
    if code == 0:
        assert json.loads((tmp_path / "sample.json").read_text())["segments"]


def test_ctrl_c_during_a_scan_leaves_no_output_file(model_file, tmp_path):
    from media import EndlessRecording

    output = tmp_path / "out" / "live.json"
    output.parent.mkdir()
    with EndlessRecording(tmp_path / "live.wav") as live:  # the scan cannot finish before it is interrupted
        process = subprocess.Popen([sys.executable, "-m", "speakerspot", "scan", str(live.path), "-m",
                                    str(model_file), "-f", "json", "-o", str(output)], stderr=subprocess.PIPE,
                                   start_new_session=True, env={**os.environ, "PYTHONFAULTHANDLER": "1"},
                                   # as from a terminal: a shell's background job (a CI runner) ignores Ctrl-C
                                   preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        progress, deadline = b"", time.monotonic() + 120
        while b"s of audio" not in progress and time.monotonic() < deadline and process.poll() is None:
            if select.select([process.stderr], [], [], 0.1)[0]:
                progress += os.read(process.stderr.fileno(), 4096)
        assert b"s of audio" in progress, progress  # the scan is under way
        os.killpg(process.pid, signal.SIGINT)  # to the whole process group, as a terminal sends it
        try:
            errors = progress + process.communicate(timeout=60)[1]
        except subprocess.TimeoutExpired:  # still running: its threads' tracebacks say where it stuck
            process.send_signal(signal.SIGABRT)
            pytest.fail(f"the scan did not stop on Ctrl-C: {(progress + process.communicate()[1])[-4000:]!r}")
    assert process.returncode == 130, errors
    assert b"speakerspot: interrupted" in errors and b"Traceback" not in errors
    assert list(output.parent.iterdir()) == []  # neither the output nor a temporary file


def test_help_loads_neither_numpy_nor_torch():
    probe = ("import sys; from speakerspot.cli import cli; cli(['--help'], standalone_mode=False); "
             "print(sorted({'numpy', 'torch', 'av'} & set(sys.modules)), file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "Exit codes" in done.stdout, done.stderr
    assert done.stderr.strip() == "[]"  # --help is the first thing a user runs: it starts in a fifth of a second


def test_reading_a_results_index_does_not_load_torch(model_file, tmp_path):
    db, scanned = tmp_path / "results.sqlite", tmp_path / "scanned.csv"
    result = run("scan", SAMPLE, "-m", str(model_file), "-q", "--db", str(db), "-f", "csv", "-o", str(scanned))
    assert result.exit_code == 0, result.output
    probe = ("import sys; from speakerspot.cli import cli; cli(['results', '--db', sys.argv[1], '-f', 'csv'], "
             "standalone_mode=False); print('torch' in sys.modules, file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", probe, str(db)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout == scanned.read_text() and done.stdout.count("\n") >= 2
    assert done.stderr.strip() == "False"  # start-up without torch's 3 s


def test_debug_shows_the_traceback_of_a_failure_the_batch_turns_into_one_line(model_file, monkeypatch, caplog):
    import logging

    from speakerspot import scanning

    def broken(*args, **kwargs):
        raise TypeError("a bug somewhere in the scan")

    monkeypatch.setattr(scanning, "scan_many", broken)
    plain = run("scan", SAMPLE, "-m", str(model_file), "-q")
    assert plain.exit_code == 1 and "unexpected error (TypeError: a bug somewhere in the scan)" in plain.output
    assert "Traceback" not in plain.output + caplog.text
    try:
        debug = run("--debug", "scan", SAMPLE, "-m", str(model_file), "-q")
    finally:
        logging.getLogger("speakerspot").setLevel(logging.NOTSET)
    assert debug.exit_code == 1 and "unexpected error (TypeError" in debug.output
    # logged with its traceback (on a terminal, on stderr; here, to the test's log capture)
    assert "Traceback" in caplog.text and 'raise TypeError("a bug somewhere in the scan")' in caplog.text


def test_several_formats_do_not_share_stdout(model_file):
    result = run("scan", SAMPLE, "-m", str(model_file), "-f", "json", "-f", "csv", "-q")
    assert result.exit_code == 2 and "--output-dir" in result.output


def test_an_rttm_truth_without_the_speaker_is_a_command_line_mistake(model_file, tmp_path):
    truth = tmp_path / "truth.rttm"
    truth.write_text("SPEAKER sample 1 0.5 4.0 <NA> <NA> anna <NA> <NA>\n")
    result = run("eval", SAMPLE, "-m", str(model_file), "--truth", str(truth), "-q")
    assert result.exit_code == 2 and "--speaker" in result.output
