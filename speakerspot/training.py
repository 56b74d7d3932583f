"""Train a target-voice model from labeled clips: triplet loss with negatives mined outside the batch."""

from __future__ import annotations

import contextlib
import copy
import hashlib
import logging
import math
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from . import __version__
from .augment import mask_spectra
from .calibration import calibrate, describe_health, health
from .clips import Excerpt, clips_in, load_clips, positive_and_negative_clips, split_validation
from .config import MERGE_SIMILARITY, PRECISIONS, TrainingConfig
from .encoder import EncoderConfig, SpeakerEncoder
from .errors import ModelFileError, TrainingDataError
from .features import FrontEnd, clip_windows
from .memory_bank import enroll as enroll_embeddings
from .model import SpeakerModel, embed_windows, load_model, refuse_base_encoders, torch_device
from .sampling import WindowSampler
from .speech_activity import VAD_FRAME_SECONDS

log = logging.getLogger(__name__)

def triplet_loss(anchors: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor,
                 margin: float) -> torch.Tensor:
    """mean(max(0, margin + cos(a, n) - cos(a, p))) over unit-vector rows."""
    return torch.relu(margin + (anchors * negatives).sum(-1) - (anchors * positives).sum(-1)).mean()


def hardest_negatives(anchors: torch.Tensor, candidates: torch.Tensor,
                      positives: torch.Tensor | None = None) -> torch.Tensor:
    """For each anchor, the index of the candidate most similar to it (the worst violator); with
    `positives`, the most similar of those less similar than the anchor's positive (semi-hard),
    where there is one."""
    similarity = anchors @ candidates.T
    hardest = similarity.argmax(dim=-1)
    if positives is None:
        return hardest
    below = similarity.masked_fill(similarity >= (anchors * positives).sum(-1, keepdim=True), -float("inf"))
    semi_hard = below.max(dim=-1)
    return torch.where(torch.isfinite(semi_hard.values), semi_hard.indices, hardest)


def parameter_groups(module: torch.nn.Module, weight_decay: float) -> list[dict]:
    """Weight decay on conv and linear weights only, not on biases and norm parameters."""
    decayed = [p for p in module.parameters() if p.ndim > 1]
    plain = [p for p in module.parameters() if p.ndim <= 1]
    return [{"params": decayed, "weight_decay": weight_decay}, {"params": plain, "weight_decay": 0.0}]


# Where the files that ship with speakerspot are: in a checkout (or an editable install) beside the package, in
# an installed one under the environment's share/ (pyproject.toml's data-files). Among them the base encoder
# (models/make_base.py) and the voices of other people `train` uses where it is given no negatives
# (models/make_others.py).
SHIPPED_PLACES = (Path(__file__).resolve().parent.parent / "models", Path(sys.prefix) / "share" / "speakerspot")


def shipped(name: str, found: Callable[[Path], bool]) -> Path | None:
    """`name` as shipped with speakerspot: in the first of SHIPPED_PLACES where `found` (Path.is_file,
    Path.is_dir) says it is."""
    return next((place / name for place in SHIPPED_PLACES if found(place / name)), None)


def shipped_others() -> Path:
    """The folder of the shipped voices of other people."""
    if (others := shipped("others", Path.is_dir)) is None:
        raise TrainingDataError(SHIPPED_PLACES[-1] / "others", "the voices of other people shipped with speakerspot "
                                                               "are missing (reinstall it), and no negative clips "
                                                               "were given")
    return others


def base_path(base: str | Path | None) -> Path | None:
    """The model file `base` names: "default" is the shipped base, None or "none" no base."""
    if base is None or str(base) == "none":
        return None
    if str(base) == "default":
        if (shipped_base := shipped("base.pt", Path.is_file)) is None:
            raise ModelFileError(SHIPPED_PLACES[-1] / "base.pt", "the shipped base model is missing (reinstall "
                                                                 "speakerspot, or train from scratch with --base none)")
        return shipped_base
    return Path(base)


def load_base(path: Path, front_end: FrontEnd | None, device: str) -> tuple[SpeakerEncoder, FrontEnd]:
    """The encoder of a base model file, to fine-tune, and the features it computes, which must be `front_end`
    where one is asked for."""
    base = load_model(path, device=device)
    if front_end is not None and base.front_end != front_end:
        raise ModelFileError(path, "the base model computes other features than this training asks for "
                                   f"({base.front_end} ≠ {front_end})")
    return base.encoder.without_base(), base.front_end  # a fine-tuned model's own encoder is fine-tuned further


# What each precision but "auto" autocasts training's forward passes to (None: nothing).
AUTOCAST_TYPES = {"float32": None, "bfloat16": torch.bfloat16}


def training_precision(precision: str, device: str) -> str:
    """The precision `precision` trains in on `device`: "auto" is bfloat16 on a CPU with AMX, float32 elsewhere.

    Only AMX makes bfloat16 pay: a training step (192 windows) took 38-46 ms in bfloat16 against 59-64 ms
    in float32 with AMX, 87 against 67 ms with AVX-512 BF16 alone, 155 against 60 ms and 733 against 126 ms
    where bfloat16 is emulated (AVX-512, AVX2; oneDNN limited to each on an AMX machine). An AMD EPYC of the
    Zen 5 generation (AVX-512 BF16 of its own, no AMX) trains dev in 44.7 s in bfloat16 against 53.9 s: one
    CPU faster, one slower, so AVX-512 BF16 alone does not choose it. Not chosen on a GPU: not measured
    there (BENCHMARKS.md, 2026-12-05, twenty-fourth session; 2026-12-07, thirty-ninth)."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r} (known: {', '.join(PRECISIONS)})")
    if precision != "auto":
        return precision
    # torch's own probe, private: a version without it counts as a CPU without AMX
    has_amx = getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    return "bfloat16" if torch.device(device).type == "cpu" and has_amx() else "float32"


def computing_in(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """Forward passes in `precision` (see `training_precision`) inside this context."""
    dtype = AUTOCAST_TYPES[training_precision(precision, device.type)]
    return contextlib.nullcontext() if dtype is None else torch.autocast(device.type, dtype=dtype)


def warmup_cosine_schedule(optimizer: torch.optim.Optimizer, warmup_steps: int,
                           total_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    """The learning rate rising linearly over `warmup_steps`, under a cosine decay to 0 at `total_steps`."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / max(warmup_steps, 1))
                                             * 0.5 * (1 + math.cos(math.pi * step / total_steps)))


def fit_encoder(encoder: SpeakerEncoder, sampler: WindowSampler, config: TrainingConfig, rng: np.random.Generator,
                progress: bool, base: SpeakerEncoder | None = None) -> list[float]:
    """Train `encoder` in place for the config's epochs (near `base`, see `training_step`); returns each step's loss."""
    optimizer = torch.optim.AdamW(parameter_groups(encoder, config.weight_decay), lr=config.learning_rate)
    total_steps = max(1, config.epochs * config.steps_per_epoch)
    schedule = warmup_cosine_schedule(optimizer, config.warmup_epochs * config.steps_per_epoch, total_steps)
    losses: list[float] = []
    device = next(encoder.parameters()).device
    with tqdm(total=total_steps, desc="training", unit="step", disable=not progress, leave=False) as bar:
        for epoch in range(config.epochs):
            pos_windows, neg_windows = sampler.epoch(rng)
            semi_hard = epoch < config.semi_hard_epochs
            with computing_in(config.precision, device):
                mining = MiningEmbeddings(encoder, pos_windows, neg_windows)
            for _ in range(config.steps_per_epoch):
                loss = training_step(encoder, optimizer, mining, pos_windows, neg_windows, config, rng, semi_hard,
                                     base)
                schedule.step()
                losses.append(loss)
                bar.update()
                bar.set_postfix(loss=f"{np.mean(losses[-config.steps_per_epoch:]):.3f}", refresh=False)
    return losses


def gentler(config: TrainingConfig) -> TrainingConfig:
    """The schedule to train again with after a collapse: semi-hard negatives throughout (the hardest
    ones can drive an encoder to map everything to one point), a fifth of the learning rate, and a
    longer warm-up."""
    return replace(config, semi_hard_epochs=config.epochs, learning_rate=config.learning_rate / 5,
                   warmup_epochs=max(2 * config.warmup_epochs, 2))


def train(positives: list[str | Path], negatives: list[str | Path] | None = None, *, turns: Iterable[Excerpt] = (),
          front_end: FrontEnd | None = None, encoder_config: EncoderConfig = EncoderConfig(),
          config: TrainingConfig = TrainingConfig(),
          base: str | Path | None = "default", require_separation: bool = True, device: str = "cpu",
          name: str = "model", progress: bool = False) -> SpeakerModel:
    """Train a model of the target voice from positive clips (the target) and negative clips (others).

    Each clip is a file, or a folder searched recursively (see `clips.clips_in`); `turns`, stretches of
    recordings where the target speaks (`clips.recording_turns`: its turns in a programme, marked in a
    truth file), are positive clips too. Clips may be any
    format, rate and length; those that cannot be decoded, shorter than one window or
    silent are left out with a warning (see `load_clips`). A share of the clips is held back, put through
    broadcast-like chains, and used to report the validation EER and to calibrate the model's
    threshold (see `validate`). `base` is a model file whose encoder is fine-tuned, "default" for
    the one shipped with speakerspot, or None for a new encoder trained from scratch (with
    `encoder_config`). The features are `front_end`'s, by default the base's (a base computes its own; from
    scratch, `FrontEnd()`'s). Without `negatives` (None or empty), the voices of other people shipped with
    speakerspot are the negatives (see `shipped_others`), with a warning.

    An encoder that collapsed (every window embedded alike, see `health`) is trained once more on a
    gentler schedule; if it collapses again, or if the held-back clips do not separate (with
    `require_separation`), a `TrainingDataError` says so and no model is returned.
    """
    started = time.monotonic()
    torch_device(device)  # a device this machine lacks is said now, not after the clips are read
    config = replace(config, precision=training_precision(config.precision, device))  # stored as trained
    shipped_negatives = not negatives
    positive_paths, negative_paths = positive_and_negative_clips(positives, [shipped_others()] if shipped_negatives
                                                                 else negatives)
    if shipped_negatives:
        log.warning("no negative clips given: training against the %d voices of other people shipped with speakerspot "
                    "(LibriSpeech readers); clips of the other voices of your recordings (presenters, guests, "
                    "jingles) teach the model what it must not take for the target", len(negative_paths))
    base = base_path(base)
    base_encoder, front_end = (None, front_end or FrontEnd()) if base is None else load_base(base, front_end, device)
    positive_clips = load_clips([*positive_paths, *turns], front_end, "positive",
                                find_speech=config.min_speech_share > 0, min_heard_share=config.min_heard_speech_share,
                                max_seconds=config.max_clip_seconds)
    negative_clips = load_clips(negative_paths, front_end, "negative", max_seconds=config.max_clip_seconds)

    rng = np.random.default_rng(config.seed)
    torch.manual_seed(config.seed)
    train_pos, val_pos = split_validation(positive_clips, config.validation_fraction, rng)
    train_neg, val_neg = split_validation(negative_clips, config.validation_fraction, rng)
    attempts = []
    for attempt_config in (config, gentler(config)):
        encoder = copy.deepcopy(base_encoder) if base_encoder is not None else SpeakerEncoder(encoder_config)
        encoder = encoder.to(device)
        sampler = WindowSampler(train_pos, train_neg, front_end, attempt_config, device, rng)
        losses = fit_encoder(encoder, sampler, attempt_config, rng, progress, base_encoder)
        # The health of what was trained; the model scores with the base beside it if so configured.
        fine_tuned = encoder
        if base_encoder is not None and attempt_config.score_with_base:
            encoder = SpeakerEncoder.beside(fine_tuned, base_encoder)
        calibration = calibrate(encoder, sampler, train_pos, val_pos, train_neg, val_neg, attempt_config, rng, name)
        validation = calibration.validation
        model_health = health(fine_tuned, front_end, losses, validation, val_pos or train_pos, val_neg or train_neg,
                              attempt_config)
        attempts.append(model_health)
        if not model_health["collapsed"]:
            break
        log.warning("the embedding collapsed (%s)%s", describe_health(model_health),
                    "; training again with a gentler schedule" if len(attempts) == 1 else "")
    else:
        raise TrainingDataError(None, f"the embedding collapsed twice ({describe_health(attempts[-1])}): every "
                                      "window is embedded alike, so the model cannot tell the target from anything; "
                                      "no model written. Check that the positive clips hold the target's speech "
                                      "and the negative clips other voices")
    if validation and validation["positive_windows"] < config.few_calibration_windows:
        windows, clips = validation["positive_windows"], len(val_pos)
        log.warning("the levels rest on %d held-back window%s of the target (%d clip%s): with so little, they vary "
                    "from one training to the next; check them on a recording with `speakerspot eval`",
                    windows, "" if windows == 1 else "s", clips, "" if clips == 1 else "s")
    if validation and model_health["separated"] is None:
        log.warning("whether the model separates the target from the others hangs on one window: the held-back "
                    "EER, %.1f%% against a limit of %.0f%%, counts %d windows of the target; the model is written; "
                    "check it on a recording with `speakerspot eval`", 100 * validation["eer"],
                    100 * config.max_validation_eer, validation["eer_target_windows"])
    if model_health["separated"] is False and require_separation:
        raise TrainingDataError(None, f"the held-back clips do not separate ({describe_health(model_health)}): the "
                                      "model cannot tell the target's held-back clips from the others'; no model "
                                      "written. More or cleaner clips of the target help (--force keeps it anyway)")
    if model_health["separated"] is False:
        log.warning("the held-back clips do not separate (%s): the model is kept as asked, but expect it to miss the "
                    "target or to find it where it is not", describe_health(model_health))
    rate = front_end.sample_rate
    summary = {
        "speakerspot_version": __version__,
        # Files, not the pieces long ones were cut into (see `Clip.pieces`).
        "positive_clips": len({c.path for c in positive_clips}),
        # Of them, turns cut from recordings (`turns`), and how many recordings.
        "positive_turns": len({c.path for c in positive_clips if isinstance(c.path, Excerpt)}),
        "turn_recordings": len({c.path.recording for c in positive_clips if isinstance(c.path, Excerpt)}),
        "negative_clips": len({c.path for c in negative_clips}),
        "positive_seconds": round(sum(len(c.samples) for c in positive_clips) / rate, 1),
        "positive_speech_seconds": round(sum(float(c.speech.sum()) for c in positive_clips if c.speech is not None)
                                         * VAD_FRAME_SECONDS, 1),
        "negative_seconds": round(sum(len(c.samples) for c in negative_clips) / rate, 1),
        "shipped_negatives": shipped_negatives,  # the voices of others shipped with speakerspot, none being given
        "validation_clips": len(val_pos) + len(val_neg),
        "config": asdict(attempt_config), "base": None if base is None else base_description(base),
        "final_loss": round(float(np.mean(losses[-attempt_config.steps_per_epoch:])), 4) if losses else None,
        "validation": validation, "health": model_health, "attempts": len(attempts),
        "memory_bank_size": int(calibration.memory_bank.shape[0]),
        "seconds": round(time.monotonic() - started, 1),
    }
    return SpeakerModel(encoder, calibration.memory_bank, front_end, decision=calibration.decision, name=name,
                        training_summary=summary, others=calibration.others)


def training_report(summary: dict) -> str:
    """What a user needs to trust a model, in words: the clips, the held-back EER and the health line."""
    shipped = ", the voices of others shipped with speakerspot" if summary.get("shipped_negatives") else ""
    turns = (f", {summary['positive_turns']} of them turns in {summary['turn_recordings']} recording"
             + ("s" if summary["turn_recordings"] > 1 else "")) if summary.get("positive_turns") else ""
    lines = [f"{summary['positive_clips']} positive clips{turns} ({summary['positive_seconds']} s, "
             f"{summary['positive_speech_seconds']} s of it speech), {summary['negative_clips']} negative "
             f"({summary['negative_seconds']} s{shipped}), {summary['seconds']} s of training"
             + (f" from the base {summary['base']['file']}" if summary.get("base") else "")]
    validation, figures = summary["validation"], summary["health"]
    if validation:
        lines.append(f"held-back clips: EER {validation['eer']:.1%}, threshold {validation['threshold']:.3f}")
        if figures["separated"] is None:
            healthy = ("whether the target and others separate hangs on one of the "
                       f"{validation['eer_target_windows']} windows of the target the held-back EER counts")
        else:
            healthy = "the held-back target and others " + ("separate" if figures["separated"] else "do NOT separate")
    else:
        healthy = ("no held-back windows of the target to judge by, so whether the target and others separate is "
                   "not known")
    lines.append(f"health: {describe_health(figures)}; {healthy}"
                 + (f"; trained {summary['attempts']} times (the first collapsed)" if summary["attempts"] > 1 else ""))
    return "\n".join(lines)


def base_description(path: str | Path) -> dict:
    return {"file": Path(path).name, "sha256": hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]}


class MiningEmbeddings:
    """An epoch's training windows embedded once, at its start, without gradient: the negatives of
    its steps are mined from these. Embedding each step's anchors, positives and 512 candidates anew
    cost more than all of an epoch's windows once (dev set: 15 x 640 against 4,600), and the
    encoder moves little in an epoch's 15 steps. Training 176-200 s -> 104-140 s here; over two
    seeds of the dev and real sets 50 of 52 turns against 49, though real-2414 seed 0 lost two
    turns to its levels (BENCHMARKS.md, 2026-12-03, third session)."""

    BATCH = 1024  # windows per forward pass: bounds the activations' memory

    def __init__(self, encoder: SpeakerEncoder, pos_windows: torch.Tensor, neg_windows: torch.Tensor):
        encoder.eval()
        with torch.no_grad():
            self.positives = embed_windows(encoder, pos_windows, self.BATCH).float()
            self.negatives = embed_windows(encoder, neg_windows, self.BATCH).float()


def training_step(encoder: SpeakerEncoder, optimizer: torch.optim.Optimizer, mining: MiningEmbeddings,
                  pos_windows: torch.Tensor, neg_windows: torch.Tensor, config: TrainingConfig,
                  rng: np.random.Generator, semi_hard: bool = False, base: SpeakerEncoder | None = None) -> float:
    """One step: pick anchors and positives, mine the hardest (or semi-hard) negatives among many (by
    the epoch's `mining` embeddings), descend. Returns the step's triplet loss (what the health check
    compares with the margin: see `calibration.health`).

    With a `base` encoder (the one being fine-tuned, frozen), each window's embedding is also drawn
    towards the base's (`config.base_distillation`): fine-tuned on one session of the target, an
    encoder learns that session, and the base, which never heard it, knows the voice in others."""
    device = pos_windows.device
    anchor_index = torch.from_numpy(rng.integers(len(pos_windows), size=config.batch_size)).to(device)
    positive_index = torch.from_numpy(rng.integers(len(pos_windows), size=config.batch_size)).to(device)
    candidate_index = torch.from_numpy(rng.choice(len(neg_windows), min(config.negative_candidates, len(neg_windows)),
                                                  replace=False)).to(device)
    positives = mining.positives[positive_index] if semi_hard else None
    chosen = candidate_index[hardest_negatives(mining.positives[anchor_index], mining.negatives[candidate_index],
                                               positives)]
    encoder.train()
    batch = mask_spectra(torch.cat([pos_windows[anchor_index], pos_windows[positive_index], neg_windows[chosen]]),
                         rng, config.masked_bands, config.masked_frames)
    distilled = base is not None and config.base_distillation > 0
    with computing_in(config.precision, device):  # the forward passes; the losses in float32
        embeddings = encoder(batch).float()
        with torch.no_grad():
            base_embeddings = base(batch).float() if distilled else None
    anchors, positives, negatives = embeddings.split(config.batch_size)
    triplet = triplet_loss(anchors, positives, negatives, config.margin)
    loss = triplet
    if distilled:
        loss = triplet + config.base_distillation * (1 - (embeddings * base_embeddings).sum(-1)).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    encoder.eval()
    return triplet.item()


def enroll(model: SpeakerModel, clips: list[str | Path], merge_similarity: float = MERGE_SIMILARITY) -> SpeakerModel:
    """Add the windows of more positive `clips` (files or folders) to the model's memory bank,
    without retraining (see `memory_bank.enroll`). The threshold is kept. Returns the model, changed in place."""
    refuse_base_encoders([model])  # its bank holds no target and its levels were never calibrated: train one
    loaded = load_clips(clips_in(clips, "positive"), model.front_end, "positive", find_speech=True)
    step = model.front_end.step_frames
    min_share = model.training_summary.get("config", {}).get("min_speech_share", TrainingConfig.min_speech_share)
    windows = torch.cat([clip_windows(clip.samples, model.front_end, device=str(model.device))[
        clip.speech_windows(model.front_end, step, min_share).to(model.device)] for clip in loaded])
    model.memory_bank = enroll_embeddings(model.memory_bank, model.embed(windows), merge_similarity)
    return model
