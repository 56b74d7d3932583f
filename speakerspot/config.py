"""The training recipe's settings, in one place: stored in every model file, shown as the CLI's defaults.

This module imports nothing heavy, so that `speakerspot --help` can show the defaults without torch.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class TrackChoice:
    """Which audio stream of a recording to read (see `audio.select_audio_stream`): the one numbered
    `audio_track` (from 0); else, of the tracks of the channel named `programme` if given (as
    `speakerspot info` lists it, case aside: a capture of a whole multiplex holds several channels'), of
    those tagged with `language` (e.g. "deu") if given, the main one, as a player picks it."""

    audio_track: int | None = None
    language: str | None = None
    programme: str | None = None

    def __post_init__(self):
        if self.audio_track is not None and self.programme is not None:
            raise ValueError("audio_track and programme each pick a track: give one of them")

    @property
    def label(self) -> str:
        """The choice as outputs name it: the channel, the language and the track's number given ("ZDF",
        "ZDF deu", "track1"); "" for a player's default."""
        return " ".join([*filter(None, (self.programme, self.language)),
                         *([f"track{self.audio_track}"] if self.audio_track is not None else [])])

    @property
    def file_part(self) -> str:
        """The label as a file's name holds it ("/" in a channel's name made "-"): outputs of a stream chosen are
        named `REC.PART.MODEL.EXT`, the truth of its scan `REC.PART.truth.json` (see `evaluation.truth_beside`)."""
        return self.label.replace("/", "-")

    @property
    def key(self) -> str:
        """The choice as a results index tells the results of one recording apart (a channel's name is
        matched case aside, so "zdf" and "ZDF" are one)."""
        return self.label.casefold()


@dataclass(frozen=True)
class ScanOptions:
    """How to scan a recording: `threshold` overrides each model's calibrated one; `audio_track`,
    `language` and `programme` pick an audio stream (see `TrackChoice`), by default the one a player
    would play; `decoders` helper processes decode a long MPEG-TS recording scanned alone (see
    `decoder_process.decoded_beside`); with `speech_edges`, a segment begins and ends only on windows
    where Silero VAD hears speech (see `edge_speech.EdgeSpeech`); segments closer than `merge_gap`
    seconds are joined into one, and then those shorter than `min_duration` seconds dropped (default: the
    model's shortest, 1 s; see `segments.decide`). A stored result is reused only under the same
    options, but for `decoders`, which does not change what is found."""

    threshold: float | None = None
    audio_track: int | None = None
    language: str | None = None
    decoders: int = 1
    speech_edges: bool = False
    merge_gap: float = 0.0
    min_duration: float | None = None
    programme: str | None = None

    def __post_init__(self):
        TrackChoice(self.audio_track, self.language, self.programme)  # a choice of two tracks is refused now

    @property
    def track(self) -> TrackChoice:
        return TrackChoice(self.audio_track, self.language, self.programme)

    def to_json(self) -> str:
        settings = asdict(self)
        del settings["decoders"]
        # Left out at their defaults, as results stored before these options were, so that they are reused.
        for name, default in (("speech_edges", False), ("merge_gap", 0.0), ("min_duration", None),
                              ("programme", None)):
            if settings[name] == default:
                del settings[name]
        return json.dumps(settings, sort_keys=True)


@dataclass(frozen=True)
class ChainConfig:
    """The broadcast-like chain drawn afresh for each training signal (see `augment.BroadcastChain`):
    how often each stage is applied, and the pools of music beds and noises it excerpts."""

    reverb: float = 0.4  # a room
    filter: float = 0.8  # an equaliser, a band limit, half of the time a telephone line
    music: float = 0.4  # a music bed underneath
    noise: float = 0.5  # a noise floor
    voice: float = 0.15  # another voice, quietly underneath (of the negatives)
    pool_size: int = 128  # music beds and noises generated once per training
    pool_seconds: float = 12.0  # the length of each


# What training may compute in (see `TrainingConfig.precision`).
PRECISIONS = ("auto", "float32", "bfloat16")

# `speakerspot enroll`: a new window this similar (cosine) to a memory slot joins it (see `memory_bank.enroll`).
MERGE_SIMILARITY = 0.95


@dataclass(frozen=True)
class TrainingConfig:
    """How to train; stored in the model file's training summary."""

    epochs: int = 48
    steps_per_epoch: int = 15
    batch_size: int = 64
    margin: float = 0.3
    learning_rate: float = 2e-3
    weight_decay: float = 1e-3
    negative_candidates: int = 512  # negatives drawn per step, the hardest for each anchor is used
    semi_hard_epochs: int = 16  # first epochs mine semi-hard negatives (see `hardest_negatives`), then the hardest
    train_step_frames: int = 4  # window step inside training clips (denser than scanning)
    validation_fraction: float = 0.2
    # An epoch renders at most this many seconds of target and of negative clips, drawn afresh each epoch
    # (see `sampling.draw_for_epoch`); every clip is in the memory bank or among the others, and held back alike.
    positive_seconds_per_epoch: float = 300.0
    negative_seconds_per_epoch: float = 600.0
    max_clip_seconds: float = 30.0  # longer clips are cut into pieces no longer (see `Clip.pieces`)
    non_speech_ratio: float = 0.5  # seconds of synthetic non-speech per second of an epoch's negative clips
    non_speech_seconds: float = 4.0  # the length of each synthetic non-speech piece
    speed_shifted_negatives: bool = True  # the target sped up or slowed down is another voice
    speed_shift: tuple[float, float] = (0.1, 0.2)  # ... by a factor 1 ± this much (a range)
    bank_chains: int = 2  # broadcast-like copies of each positive clip in the memory bank
    chain: ChainConfig = ChainConfig()
    masked_bands: int = 16  # SpecAugment: each training window loses up to this many adjacent mel bands
    masked_frames: int = 6  # ... and up to this many adjacent frames (see `mask_spectra`)
    warmup_epochs: int = 1  # the learning rate rises linearly over these epochs
    min_speech_share: float = 0.5  # a positive window is trained and remembered when this much of it is speech
    # The sound of positive clips this many seconds away from their speech trains as another sound and is
    # among the others a window's score subtracts (see `Clip.background`): learnt with the target, the music
    # beds of programme-cut clips made a broadcast's music score like it (real-1998/pos_programme seed 4:
    # 37 false alarms per hour, none with it; BENCHMARKS.md, 2026-12-04, ninth session).
    background_margin: float = 0.25
    # Below this share of speech heard in a target clip, the speech detector is not trusted with it (see
    # `load_clips`).
    min_heard_speech_share: float = 0.2
    # A validation window is the target's when this share of it lies inside one of its turns (see `validate`).
    inside_turn: float = 0.9
    # Below this many held-back target windows (about 15 s held back, of some 75 s of target clips) the
    # levels were seen to vary widely between seeds: 17-20 windows on the fixture clips (40 s), 121-182
    # on the dev set (4 min) (BENCHMARKS.md, 2026-11-30, third session). Below it `train` warns, and the
    # stay and end levels keep a margin (see `decision_levels`).
    few_calibration_windows: int = 60
    # The entry level lies this share of the way from the held-back others' top to the target's median
    # windows, and a segment stays above all but (100 - stay_percentile)% of the others (see `decision_levels`).
    entry_share: float = 0.25
    stay_percentile: float = 99.0
    # With few held-back target windows, the stay and end levels lie this share of the way from the
    # others' top to the entry.
    few_windows_stay_share: float = 0.5
    # Whether the levels also rest on the held-back programme put through the training's chains (see
    # `validate`). Off: those chains, harsher than a broadcast's, lifted real-1998's held-back others
    # above its broadcast's voices, and levels from the programme as recorded found its turns whole
    # (F1 0.967 -> 0.994); over seeds and sets, equal or better but for pos_programme on seed 0
    # (0.800 -> 0.786) (BENCHMARKS.md, 2026-12-03).
    chained_levels: bool = False
    collapsed_spread: float = 0.01  # an encoder whose held-back embeddings spread less collapsed (see `health`)
    collapsed_score_range: float = 0.1  # ... or whose validation scores span less than this
    collapsed_loss_share: float = 0.5  # ... or with more than this share of the last epoch's losses at the margin
    max_validation_eer: float = 0.25  # held-back clips with a higher window EER do not separate
    # Weight of 1 - cos to the base's embedding of each training window (see `training_step`): fine-tuned
    # on one session of the target, the encoder learns that session, and the base, which never heard it,
    # knows the voice in others. Against 0, seeds 0-3: on the sets whose turns come from sessions training
    # never heard, 13 -> 39 of 60 turns found, window EER 30% -> 17%, false alarms 35 -> 58 per hour; on
    # the shared real sets mean F1 0.925 -> 0.912, 42 -> 43 of 44 turns; training some 15 s longer
    # (BENCHMARKS.md, 2026-12-04, thirteenth session). On 2026-12-02, with the levels of then, it cost
    # real-1998's recall.
    base_distillation: float = 2.0
    # Whether a fine-tuned encoder scores beside the frozen base it was fine-tuned from, each window's
    # cosines the mean of the two (see `SpeakerEncoder.beside`). Off: measured first on 2026-12-03, it
    # ranked real-1998's windows far better but its levels cost recall; on the recipe of 2026-12-04, the
    # same F1 on the shared sets and within what seeds move on sessions never heard (window EER 26.5% ->
    # 24.3%, 10 of 30 turns both; BENCHMARKS.md, 2026-12-04, thirteenth session).
    score_with_base: bool = False
    # What training's forward passes compute in: "float32"; "bfloat16" (under autocast; the losses stay float32);
    # or "auto", bfloat16 where the CPU has AMX, float32 elsewhere (see `training.training_precision`).
    # A trained model scans in float32 either way.
    precision: str = "auto"
    seed: int = 0  # also seeds, as seed + 1 and seed + 2, the validation programmes and the memory bank's chains

    def non_speech_samples(self, sample_rate: int) -> int:
        """The length of a synthetic non-speech piece in samples."""
        return int(self.non_speech_seconds * sample_rate)
