"""Shared fixtures: paths to the committed speech clips, recordings built from them, a trained model."""

from __future__ import annotations

import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile

sys.path.insert(0, str(Path(__file__).parent))

import speakerspot
from speakerspot.audio import load_audio
from speakerspot.augment import music_bed, rms
from speakerspot.clips import labeled_folders
from speakerspot.config import TrainingConfig
from speakerspot.features import FrontEnd
from speakerspot.speech_activity import VAD_SAMPLE_RATE

FIXTURES = Path(__file__).parent / "fixtures"
SPEECH = FIXTURES / "speech"
REFERENCE_MODEL = FIXTURES / "reference_model.pt"
TARGET = "rms"
# Tests of training train with the defaults a user gets (on the fixture clips, about a minute on a
# 2-core AMD EPYC: the base encoder fine-tuned for 48 epochs; the longest part of `make test`).
DEFAULT_TRAINING = TrainingConfig()


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def pytest_terminal_summary(terminalreporter) -> None:
    # Trained models, hence the end-to-end figures, round differently on other CPUs: say which one this was.
    import torch
    terminalreporter.write_line(f"machine: {cpu_model()}, {platform.machine()}, torch {torch.__version__} "
                                f"with {torch.get_num_threads()} threads")


@pytest.fixture(autouse=True)
def torch_threads_kept():
    """Each test starts with the torch threads the session started with: the `scan` command sets them
    for its process (a core left to the decoder helper), and the tests share one process, so every
    training after the first command's scan ran on one thread."""
    import torch
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def time_zone(monkeypatch):
    """Sets this process's time zone (TZ: a POSIX rule, which needs no time zone database); undone after."""
    def set_zone(rule: str) -> None:
        monkeypatch.setenv("TZ", rule)
        time.tzset()

    yield set_zone
    monkeypatch.undo()
    time.tzset()


def read_clip(path: Path) -> tuple[np.ndarray, int]:
    samples, rate = soundfile.read(path, dtype="float32")
    return samples, rate


@pytest.fixture(scope="session")
def training_clips() -> tuple[list[Path], list[Path]]:
    return labeled_folders(SPEECH / "train", TARGET)


@pytest.fixture(scope="session")
def reference_model() -> speakerspot.SpeakerModel:
    """The committed model of the target (see make_reference_model.py): the same on every machine."""
    return speakerspot.load_model(REFERENCE_MODEL)


@pytest.fixture(scope="session")
def model_file(reference_model, tmp_path_factory) -> Path:
    """A copy of the reference model's file, for tests that change or damage it."""
    return reference_model.save(tmp_path_factory.mktemp("models") / "fixture.pt")


@pytest.fixture(scope="session")
def freshly_trained_model(training_clips) -> speakerspot.SpeakerModel:
    positives, negatives = training_clips
    return speakerspot.train(positives, negatives, config=DEFAULT_TRAINING, name="fixture")


def programme_clip() -> tuple[np.ndarray, list[tuple[float, float]]]:
    """A clip as a user cuts it from a programme: silence, words, a music bed alone, words, silence."""
    first, rate = read_clip(SPEECH / "train" / "rms" / "00.ogg")
    second, _ = read_clip(SPEECH / "train" / "rms" / "01.ogg")
    assert rate == VAD_SAMPLE_RATE
    rng = np.random.default_rng(0)
    bed = music_bed(int(2.5 * rate), rate, rng) * rms(first) * 10 ** (-18 / 20)
    pieces = [np.zeros(rate, np.float32), first, bed, second, np.zeros(rate, np.float32)]
    starts = np.cumsum([0] + [len(p) for p in pieces]) / rate
    return np.concatenate(pieces).astype(np.float32), [(starts[1], starts[2]), (starts[3], starts[4])]


def words_between_music(front_end: FrontEnd, music_seconds: float = 16.0) -> tuple[np.ndarray, tuple[float, float]]:
    """Music alone, two utterances of the target, music alone again (at the front end's rate), and
    where the words are (seconds)."""
    rate = front_end.sample_rate
    words = np.concatenate([load_audio(SPEECH / "train" / "rms" / name, rate) for name in ("00.ogg", "01.ogg")])
    bed = music_bed(int(music_seconds * rate), rate, np.random.default_rng(1)) * rms(words) if music_seconds else []
    return np.concatenate([bed, words, bed]).astype(np.float32), (music_seconds, music_seconds + len(words) / rate)


def held_out_programme(seed: int = 3) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """A 16 kHz programme of held-out utterances of all voices with pauses, and the target's turns."""
    rng = np.random.default_rng(seed)
    clips = sorted((SPEECH / "test").glob("*/*.ogg"))
    order = rng.permutation(len(clips))
    pieces, truth, position = [np.zeros(8000, np.float32)], [], 0.5
    for index in order:
        samples, rate = read_clip(clips[index])
        assert rate == 16000
        if clips[index].parent.name == TARGET:
            truth.append((position, position + len(samples) / rate))
        pause = np.zeros(int(rate * rng.uniform(0.5, 1.5)), np.float32)
        pieces += [samples, pause]
        position += (len(samples) + len(pause)) / rate
    return np.concatenate(pieces), truth


@pytest.fixture(scope="session")
def sample_truth() -> dict:
    return json.loads((FIXTURES / "sample_truth.json").read_text())


def page_data(page: Path) -> dict:
    """What a report page hands its script: the JSON of its `report-data` element."""
    text = page.read_text()
    start = text.index('id="report-data">') + len('id="report-data">')
    return json.loads(text[start:text.index("</script>", start)].replace("<\\/", "</"))
