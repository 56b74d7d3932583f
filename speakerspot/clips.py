"""Training clips: found in folders or cut from a recording where a truth file marks them, decoded, their speech
marked, some held back."""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .audio import CHUNK_SECONDS, decode_audio, load_audio
from .config import TrackChoice, TrainingConfig
from .errors import MediaError, TrainingDataError
from .evaluation import read_truth
from .features import FrontEnd
from .media_files import media_files
from .speech_activity import VAD_FRAME_SECONDS, VAD_SAMPLE_RATE, speech_frames, speech_share, speech_spans, true_runs

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Excerpt:
    """A stretch of a recording's audio stream `track` picks, taken as a clip, `start` to `end` seconds as a scan
    of it counts them: a turn of the target in a programme, where a truth file marks it (see `recording_turns`)."""

    recording: Path
    start: float
    end: float
    track: TrackChoice = TrackChoice()

    @property
    def name(self) -> str:
        return f"{self.recording.name} {self.start:.1f}-{self.end:.1f} s"

    def __str__(self) -> str:
        return f"{self.recording} {self.start:.1f}-{self.end:.1f} s"


def recording_turns(recording: str | Path, truth: str | Path, speaker: str | None = None,
                    track: TrackChoice = TrackChoice()) -> list[Excerpt]:
    """The turns `truth` marks in the audio stream `track` picks of `recording` (a truth file as
    `evaluation.read_truth` reads it: JSON, RTTM with `speaker`, an Audacity label track), as excerpts to train
    on."""
    return [Excerpt(Path(recording), start, end, track) for start, end in read_truth(truth, speaker)]


@dataclass
class Clip:
    """A training clip: mono `samples` at the front end's rate, and for positives `speech`, whether each
    32 ms frame is speech (`speech_activity.speech_frames`; None: every window counts)."""

    path: Path | Excerpt
    samples: np.ndarray
    speech: np.ndarray | None = None

    def speech_share(self, front_end: FrontEnd, step_frames: int) -> np.ndarray:
        """The share of speech in each of the clip's windows at `step_frames` (as `clip_windows` cuts them)."""
        frames = (len(self.samples) - front_end.n_fft) // front_end.hop_length + 1
        count = max(0, (frames - front_end.window_frames) // step_frames + 1)
        if self.speech is None:
            return np.ones(count)
        starts = np.arange(count) * step_frames * front_end.frame_seconds
        return speech_share(self.speech, starts, front_end.window_seconds)

    def speech_windows(self, front_end: FrontEnd, step_frames: int, min_share: float) -> torch.Tensor:
        """Which of the clip's windows at `step_frames` are at least `min_share` speech (a bool tensor)."""
        return torch.from_numpy(self.speech_share(front_end, step_frames) >= min_share)

    def speech_spans(self) -> list[tuple[float, float]]:
        """Where the clip holds speech, (start, end) in seconds; all of it when not known."""
        return [(0.0, math.inf)] if self.speech is None else speech_spans(self.speech)

    def pieces(self, sample_rate: int, max_seconds: float) -> list[Clip]:
        """The clip cut into equal pieces of at most `max_seconds` (itself if no longer), at the edges
        of the speech detector's frames, each piece with its share of `speech`."""
        count = math.ceil(len(self.samples) / (max_seconds * sample_rate))
        if count <= 1:
            return [self]
        frames = len(self.samples) / sample_rate / VAD_FRAME_SECONDS
        edges = [round(frames * i / count) for i in range(count)]
        starts = [round(edge * VAD_FRAME_SECONDS * sample_rate) for edge in edges] + [len(self.samples)]
        speech = [None] * count if self.speech is None else np.split(self.speech, edges[1:])
        return [Clip(self.path, self.samples[start:end], piece_speech)
                for start, end, piece_speech in zip(starts[:-1], starts[1:], speech, strict=True)]

    def background(self, sample_rate: int, margin_seconds: float) -> np.ndarray:
        """The clip's sound away from its speech (its pauses, lead-in and tail: the room, a noise floor, a
        music bed, applause), the pieces joined; empty when its speech is not known. Each stretch of
        speech is widened by `margin_seconds` on both sides, so that the target's breaths and softest
        syllables stay out of it."""
        if self.speech is None:
            return np.zeros(0, np.float32)
        away = np.ones(len(self.samples), bool)
        for start, end in self.speech_spans():
            away[max(0, round((start - margin_seconds) * sample_rate)):round((end + margin_seconds) * sample_rate)] = (
                False)
        fade = round(BACKGROUND_FADE_SECONDS * sample_rate)
        pieces = [faded(self.samples[start:end], fade) for start, end in true_runs(away) if end - start > 2 * fade]
        return np.concatenate(pieces) if pieces else np.zeros(0, np.float32)


# Pieces of a clip's background fade in and out over this long where they are joined: a jump between
# them would be a click no recording has.
BACKGROUND_FADE_SECONDS = 0.01


def faded(samples: np.ndarray, length: int) -> np.ndarray:
    """`samples` rising from silence over its first `length` samples and falling to it over its last."""
    ramp = np.linspace(0, 1, length, endpoint=False, dtype=np.float32)
    out = samples.astype(np.float32, copy=True)
    out[:length] *= ramp
    out[len(out) - length:] *= ramp[::-1]
    return out


def backgrounds(clips: list[Clip], front_end: FrontEnd, margin_seconds: float) -> list[np.ndarray]:
    """The backgrounds of `clips` (see `Clip.background`) that are at least one window long."""
    found = (clip.background(front_end.sample_rate, margin_seconds) for clip in clips)
    return [samples for samples in found if len(samples) >= front_end.min_samples]


def find_clips(folder: str | Path) -> list[Path]:
    """Media files under `folder`, recursively, in a stable order."""
    folder = Path(folder)
    if not folder.exists():
        raise TrainingDataError(folder, "no such file or folder")
    return media_files(folder)


def clips_found(folder: str | Path, role: str) -> list[Path]:
    """`find_clips` of `folder` (or a file), refusing a folder without any, named (the `role` of its clips
    says which)."""
    found = find_clips(folder)
    if not found:
        raise TrainingDataError(folder, f"no {role} clips found: no audio or video file in it")
    return found


def clips_in(folders: Iterable[str | Path], role: str) -> list[Path]:
    """`clips_found` of each folder (or file) in turn, each clip once (also one reached again as a copy or
    through a symbolic link, with a warning: trained twice, and held back as one copy while the other
    trained, it made the held-back EER look better than it was)."""
    return list(identified_clips(folders, role).values())


def positive_and_negative_clips(positives: Iterable[str | Path],
                                negatives: Iterable[str | Path]) -> tuple[list[Path], list[Path]]:
    """`clips_in` of the positives and of the negatives, refusing a clip among both (a copy or a link too)."""
    positive_clips, negative_clips = identified_clips(positives, "positive"), identified_clips(negatives, "negative")
    for identity, path in positive_clips.items():
        if (negative := negative_clips.get(identity)) is not None:
            also = "" if negative.absolute() == path.absolute() else f" (as {negative})"
            raise TrainingDataError(path, f"is given both as a positive and as a negative clip{also}")
    return list(positive_clips.values()), list(negative_clips.values())


def identified_clips(folders: Iterable[str | Path], role: str) -> dict[tuple[int, str] | Path, Path]:
    """The clips of `clips_in`, by their `clip_identity`."""
    clips: dict[tuple[int, str] | Path, Path] = {}
    for folder in folders:
        for path in clips_found(folder, role):
            if (kept := clips.setdefault(clip_identity(path), path)).absolute() != path.absolute():
                log.warning("%s: the same file as %s (a copy or a link): used once", path, kept)
    return clips


def clip_identity(path: Path) -> tuple[int, str] | Path:
    """What a clip is the same clip as another by: its bytes (a copy, `clip (1).wav`, or a link to it), or
    its absolute path where it cannot be read (said when it is decoded)."""
    try:
        with open(path, "rb") as file:
            digest = hashlib.sha256()
            while chunk := file.read(1 << 20):
                digest.update(chunk)
            return file.tell(), digest.hexdigest()
    except OSError:
        return path.absolute()


def labeled_folders(root: str | Path, target: str) -> tuple[list[Path], list[Path]]:
    """Split `root/LABEL/…` clips into the target's (LABEL == target) and everyone else's."""
    root = Path(root)
    labels = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    if target not in labels:
        raise TrainingDataError(root, f"has no subfolder {target!r} (labels found: {', '.join(labels) or 'none'})")
    negatives = [clip for label in labels if label != target for clip in find_clips(root / label)]
    if not negatives:
        raise TrainingDataError(root, f"no negative clips found: no audio or video file outside {target!r}")
    return clips_found(root / target, "positive"), negatives  # each clip once: in `train`, which identifies them


def load_clips(paths: list[Path | Excerpt], front_end: FrontEnd, role: str, find_speech: bool = False,
               min_heard_share: float = TrainingConfig.min_heard_speech_share,
               max_seconds: float = TrainingConfig.max_clip_seconds) -> list[Clip]:
    """Decode clips at the front end's rate; with `find_speech`, mark their speech (see `Clip`).
    Clips longer than `max_seconds` come as pieces of at most that length (see `Clip.pieces`), so
    that a single long recording of the target can have a piece held back, and an epoch's draw of
    clips (see `sampling.draw_for_epoch`) can take part of it.

    Clips that cannot be decoded, and clips shorter than one window or silent, are left out with a
    warning for each kind that names them: real clip folders hold such clips (until 2026-12-07 the first
    that could not be decoded stopped training, and the next was found only on the next run). Training
    stops only when none is left. A clip in which the speech detector hears less than
    `min_heard_share` of speech is used whole, with a warning: it is labelled as the target's,
    and a music bed under the voice was seen to hide most of it from the detector (8-11% heard in
    clips of the session sets of benchmarks/make_real_sets.py).
    """
    if not paths:
        raise TrainingDataError(None, f"no {role} clips found")
    clips, undecodable, skipped = [], [], []
    for path, samples in zip(paths, decoded(paths, front_end.sample_rate), strict=True):
        if isinstance(samples, MediaError):
            undecodable.append((path, samples.problem))
            continue
        if len(samples) < front_end.min_samples:
            skipped.append((path, f"{len(samples) / front_end.sample_rate:.2f} s"))
            continue
        if np.max(np.abs(samples)) < 1e-4:
            skipped.append((path, "silent"))
            continue
        clips.append(Clip(path, samples))
    if find_speech:
        unheard = []
        heard = list(decoded([c.path for c in clips], VAD_SAMPLE_RATE))
        for clip, speech in zip(clips, speech_frames(heard), strict=True):
            if speech.mean() >= min_heard_share:
                clip.speech = speech
            else:
                unheard.append((clip.path, f"{speech.mean():.0%}"))
        if unheard:
            log.warning("speech was found in under %.0f%% of %d %s clips, so they are used whole (music or noise "
                        "under a voice can hide it from the speech detector): %s", 100 * min_heard_share,
                        len(unheard), role, named(unheard))
    left_out = {"that cannot be decoded": undecodable,
                f"shorter than one window ({front_end.window_seconds:.2f} s) or silent": skipped}
    if not clips:
        if len(paths) == 1:
            kind, [(path, why)] = next((kind, found) for kind, found in left_out.items() if found)
            raise TrainingDataError(path, f"not a usable {role} clip, {kind}: {path.name} ({why})")
        folders = ", ".join(sorted({str((path.recording if isinstance(path, Excerpt) else path).parent)
                                    for path in paths}))
        why = "; ".join(f"{len(found)} {kind}: {named(found)}" for kind, found in left_out.items() if found)
        raise TrainingDataError(folders, f"no usable {role} clips among {len(paths)}: {why}")
    for kind, found in left_out.items():
        if found:
            log.warning("left out %d of %d %s clips, %s: %s", len(found), len(paths), role, kind, named(found))
    return [piece for clip in clips for piece in clip.pieces(front_end.sample_rate, max_seconds)]


def decoded(sources: list[Path | Excerpt], sample_rate: int) -> Iterator[np.ndarray | MediaError]:
    """The samples of each clip of `sources` at `sample_rate` in turn, or the MediaError it cannot be decoded for;
    the excerpts of a recording cut from one pass over it (a recording that cannot be read raises)."""
    streams: dict[tuple[Path, TrackChoice], list[Excerpt]] = {}  # the excerpts of each recording's stream
    for source in sources:
        if isinstance(source, Excerpt):
            streams.setdefault((source.recording, source.track), []).append(source)
    cut = {excerpt: samples for excerpts in streams.values()
           for excerpt, samples in excerpt_samples(excerpts, sample_rate).items()}
    for source in sources:
        if isinstance(source, Excerpt):
            yield cut[source]
            continue
        try:
            yield load_audio(source, sample_rate)
        except MediaError as error:
            yield error


def excerpt_samples(excerpts: list[Excerpt], sample_rate: int) -> dict[Excerpt, np.ndarray]:
    """The samples of each of `excerpts`, all of one recording's one audio stream, at `sample_rate`, at the times
    a scan gives (the decoder's timeline: a gap in the broadcast stays silent), keeping only the excerpts' audio
    as the recording streams by. An excerpt that ends past the recording's end by more than a chunk is refused:
    its truth is another recording's."""
    recording, track = excerpts[0].recording, excerpts[0].track
    cut = {excerpt: np.zeros(round((excerpt.end - excerpt.start) * sample_rate), np.float32) for excerpt in excerpts}
    end = 0.0
    for chunk in decode_audio(recording, sample_rate, track):
        chunk_end = chunk.start + len(chunk.samples) / sample_rate
        for excerpt, samples in cut.items():
            first, last = max(excerpt.start, chunk.start), min(excerpt.end, chunk_end)
            if first < last:
                at, source = round((first - excerpt.start) * sample_rate), round((first - chunk.start) * sample_rate)
                count = min(len(samples) - at, len(chunk.samples) - source, round((last - first) * sample_rate))
                samples[at:at + count] = chunk.samples[source:source + count]
        end = max(end, chunk_end)
    if beyond := [excerpt for excerpt in excerpts if excerpt.end > end + CHUNK_SECONDS]:
        raise TrainingDataError(recording, f"turns given past its end ({end:.1f} s): {len(beyond)} of "
                                           f"{len(excerpts)}, the first ending at {beyond[0].end:.1f} s: is the "
                                           "truth file this recording's?")
    return cut


def named(clips: list[tuple[Path | Excerpt, str]]) -> str:
    """Clips and what was found of each, as warnings name them: by their path, as a clip folder may hold
    clips of one name in several subfolders (a speaker's, a session's)."""
    return ", ".join(f"{path} ({what})" for path, what in clips)


def split_validation(clips: list[Clip], fraction: float, rng: np.random.Generator) -> tuple[list[Clip], list[Clip]]:
    """Hold whole clips back (never windows of a clip seen in training). Fewer than 3 clips: none."""
    held = round(len(clips) * fraction) if len(clips) >= 3 else 0
    order = rng.permutation(len(clips))
    return [clips[i] for i in order[held:]], [clips[i] for i in order[:held]]
