"""Train a target-voice model from labeled clips: triplet loss with negatives mined outside the batch."""

from __future__ import annotations

import copy
import hashlib
import logging
import math
import sys
import time
from dataclasses import asdict, dataclass, replace
from functools import partial
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from . import __version__
from .audio import load_audio, media_files
from .augment import BroadcastChain, SignalMaker, change_speed, draw_signals, non_speech
from .config import MERGE_SIMILARITY, TrainingConfig
from .encoder import EncoderConfig, SpeakerEncoder
from .errors import MediaError, ModelFileError, TrainingDataError
from .features import FrontEnd, clip_windows, signals_windows
from .memory_bank import enroll as enroll_embeddings
from .memory_bank import top_k_mean_scores
from .metrics import equal_error_rate
from .model import SpeakerModel, load_model
from .scanning import scan
from .segments import Decision
from .speech_activity import VAD_FRAME_SAMPLES, VAD_SAMPLE_RATE, speech_frames, speech_share, speech_spans

log = logging.getLogger(__name__)

@dataclass
class Clip:
    """A training clip: mono `samples` at the front end's rate, and for positives `speech`, whether each
    32 ms frame is speech (`speech_activity.speech_frames`; None: every window counts)."""

    path: Path
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


def find_clips(folder: str | Path) -> list[Path]:
    """Media files under `folder`, recursively, in a stable order."""
    folder = Path(folder)
    if not folder.exists():
        raise TrainingDataError(folder, "no such folder")
    return media_files(folder)


def labeled_folders(root: str | Path, target: str) -> tuple[list[Path], list[Path]]:
    """Split `root/LABEL/…` clips into the target's (LABEL == target) and everyone else's."""
    root = Path(root)
    labels = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    if target not in labels:
        raise TrainingDataError(root, f"has no subfolder {target!r} (labels found: {', '.join(labels) or 'none'})")
    negatives = [clip for label in labels if label != target for clip in find_clips(root / label)]
    return find_clips(root / target), negatives


def load_clips(paths: list[Path], front_end: FrontEnd, role: str, find_speech: bool = False,
               min_heard_share: float = TrainingConfig.min_heard_speech_share) -> list[Clip]:
    """Decode clips at the front end's rate; with `find_speech`, mark their speech (see `Clip`).

    A clip that cannot be decoded stops training, naming it. Clips shorter than one window or silent
    are left out with one warning that names them: real clip folders hold such clips. Training stops
    only when none is left. A clip in which the speech detector hears less than
    `min_heard_share` of speech is used whole, with a warning: it is labelled as the target's,
    and a music bed under the voice was seen to hide most of it from the detector (8-11% heard in
    clips of the session sets of benchmarks/make_real_sets.py).
    """
    if not paths:
        raise TrainingDataError(None, f"no {role} clips found")
    clips, skipped = [], []
    for path in paths:
        try:
            samples = load_audio(path, front_end.sample_rate)
        except MediaError as error:
            raise TrainingDataError(path, f"{role} clip unusable: {error.problem}") from None
        if len(samples) < front_end.min_samples:
            skipped.append(f"{path.name} ({len(samples) / front_end.sample_rate:.2f} s)")
            continue
        if np.max(np.abs(samples)) < 1e-4:
            skipped.append(f"{path.name} (silent)")
            continue
        clips.append(Clip(path, samples))
    if find_speech:
        unheard = []
        for clip, speech in zip(clips, speech_frames([load_audio(c.path, VAD_SAMPLE_RATE) for c in clips]),
                                strict=True):
            if speech.mean() >= min_heard_share:
                clip.speech = speech
            else:
                unheard.append(f"{clip.path.name} ({speech.mean():.0%})")
        if unheard:
            log.warning("speech was found in under %.0f%% of %d %s clips, so they are used whole (music or noise "
                        "under a voice can hide it from the speech detector): %s", 100 * min_heard_share,
                        len(unheard), role, ", ".join(unheard))
    kinds = f"shorter than one window ({front_end.window_seconds:.2f} s) or silent"
    if not clips:
        folders = ", ".join(sorted({str(path.parent) for path in paths}))
        raise TrainingDataError(folders, f"no usable {role} clips, all {len(paths)} are {kinds}: {', '.join(skipped)}")
    if skipped:
        log.warning("left out %d of %d %s clips, %s: %s", len(skipped), len(paths), role, kinds, ", ".join(skipped))
    return clips


def split_validation(clips: list[Clip], fraction: float, rng: np.random.Generator) -> tuple[list[Clip], list[Clip]]:
    """Hold whole clips back (never windows of a clip seen in training). Fewer than 3 clips: none."""
    held = round(len(clips) * fraction) if len(clips) >= 3 else 0
    order = rng.permutation(len(clips))
    return [clips[i] for i in order[held:]], [clips[i] for i in order[:held]]


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


class WindowSampler:
    """Builds each epoch's training windows from clips put through fresh broadcast chains.

    Positive windows are those mostly of speech (`min_speech_share`); the windows of positive clips
    with next to no speech in them (pauses, music, applause, the room: `background_speech_share`)
    train as negatives, so that the sound of the target's sessions is not learnt as the target.
    """

    def __init__(self, positives: list[Clip], negatives: list[Clip], front_end: FrontEnd,
                 config: TrainingConfig, device: str, rng: np.random.Generator):
        self.positives, self.negatives = positives, negatives
        self.front_end, self.config, self.device = front_end, config, device
        self.chain = BroadcastChain(front_end.sample_rate, rng, tuple(clip.samples for clip in negatives))
        shares = [clip.speech_share(front_end, config.train_step_frames) for clip in positives]
        self.speech_masks = [torch.from_numpy(share >= config.min_speech_share) for share in shares]
        self.background_masks = [torch.from_numpy(share <= config.background_speech_share) for share in shares]

    def signal_windows(self, signals: list[np.ndarray], step_frames: int) -> list[torch.Tensor]:
        return signals_windows(signals, self.front_end, step_frames, self.device)

    def windows(self, signals: list[np.ndarray], step_frames: int) -> torch.Tensor:
        return self.joined(self.signal_windows(signals, step_frames))

    def joined(self, pieces: list[torch.Tensor]) -> torch.Tensor:
        pieces = [p for p in pieces if p.shape[0]]
        if not pieces:
            return torch.zeros(0, self.front_end.n_mels, self.front_end.window_frames, device=self.device)
        return torch.cat(pieces)

    def negative_makers(self) -> list[SignalMaker]:
        rate = self.front_end.sample_rate
        makers = [partial(self.chain, clip.samples) for clip in self.negatives]
        seconds = self.config.non_speech_ratio * sum(len(c.samples) for c in self.negatives) / rate
        piece = self.config.non_speech_seconds
        makers += [partial(non_speech, int(piece * rate), rate)] * int(seconds / piece)
        if self.config.speed_shifted_negatives:
            makers += [partial(self.speed_shifted, clip.samples) for clip in self.positives]
        return makers

    def speed_shifted(self, samples: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        factor = rng.choice([-1, 1]) * rng.uniform(*self.config.speed_shift) + 1
        return self.chain(change_speed(samples, factor), rng)

    def epoch(self, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """(positive windows, negative windows) for one epoch."""
        step = self.config.train_step_frames
        chained = self.signal_windows(draw_signals([partial(self.chain, clip.samples) for clip in self.positives],
                                                   rng), step)
        speech = [windows[mask.to(windows.device)] for windows, mask in zip(chained, self.speech_masks, strict=True)]
        background = [windows[mask.to(windows.device)]
                      for windows, mask in zip(chained, self.background_masks, strict=True)]
        negatives = self.windows(draw_signals(self.negative_makers(), rng), step)
        return self.joined(speech), self.joined([negatives, *background])


# The base encoder that ships with speakerspot (made by models/make_base.py): in a checkout (or an
# editable install) beside the package, in an installed one under the environment's share/.
SHIPPED_BASE_PLACES = (Path(__file__).resolve().parent.parent / "models" / "base.pt",
                       Path(sys.prefix) / "share" / "speakerspot" / "base.pt")


def base_path(base: str | Path | None) -> Path | None:
    """The model file `base` names: "default" is the shipped base, None or "none" no base."""
    if base is None or str(base) == "none":
        return None
    if str(base) == "default":
        for place in SHIPPED_BASE_PLACES:
            if place.is_file():
                return place
        raise ModelFileError(SHIPPED_BASE_PLACES[-1], "the shipped base model is missing (reinstall speakerspot, "
                                                      "or train from scratch with --base none)")
    return Path(base)


def load_base(path: Path, front_end: FrontEnd, device: str) -> SpeakerEncoder:
    """The encoder of a base model file, to fine-tune; its front end must be the one asked for."""
    base = load_model(path, device=device)
    if base.front_end != front_end:
        raise ModelFileError(path, "the base model computes other features than this training asks for "
                                   f"({base.front_end} ≠ {front_end})")
    return base.encoder


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
    with tqdm(total=total_steps, desc="training", unit="step", disable=not progress, leave=False) as bar:
        for epoch in range(config.epochs):
            pos_windows, neg_windows = sampler.epoch(rng)
            semi_hard = epoch < config.semi_hard_epochs
            for _ in range(config.steps_per_epoch):
                loss = training_step(encoder, optimizer, pos_windows, neg_windows, config, rng, semi_hard, base)
                schedule.step()
                losses.append(loss)
                bar.update()
                bar.set_postfix(loss=f"{np.mean(losses[-config.steps_per_epoch:]):.3f}")
    return losses


def gentler(config: TrainingConfig) -> TrainingConfig:
    """The schedule to train again with after a collapse: semi-hard negatives throughout (the hardest
    ones can drive an encoder to map everything to one point), a fifth of the learning rate, and a
    longer warm-up."""
    return replace(config, semi_hard_epochs=config.epochs, learning_rate=config.learning_rate / 5,
                   warmup_epochs=max(2 * config.warmup_epochs, 2))


def train(positives: list[str | Path], negatives: list[str | Path], *, front_end: FrontEnd = FrontEnd(),
          encoder_config: EncoderConfig = EncoderConfig(), config: TrainingConfig = TrainingConfig(),
          base: str | Path | None = "default", require_separation: bool = True, device: str = "cpu",
          name: str = "model", progress: bool = False) -> SpeakerModel:
    """Train a model of the target voice from positive clips (the target) and negative clips (others).

    Clips may be any format, rate and length; those shorter than one window or silent are left out
    with a warning (see `load_clips`). A share of the clips is held back, put through
    broadcast-like chains, and used to report the validation EER and to calibrate the model's
    threshold (see `validate`). `base` is a model file whose encoder is fine-tuned, "default" for
    the one shipped with speakerspot, or None for a new encoder trained from scratch (with
    `encoder_config`).

    An encoder that collapsed (every window embedded alike, see `health`) is trained once more on a
    gentler schedule; if it collapses again, or if the held-back clips do not separate (with
    `require_separation`), a `TrainingDataError` says so and no model is returned.
    """
    started = time.monotonic()
    positive_paths, negative_paths = [Path(p) for p in positives], [Path(p) for p in negatives]
    for path in set(positive_paths) & set(negative_paths):
        raise TrainingDataError(path, "is given both as a positive and as a negative clip")
    positive_clips = load_clips(positive_paths, front_end, "positive", find_speech=config.min_speech_share > 0,
                                min_heard_share=config.min_heard_speech_share)
    negative_clips = load_clips(negative_paths, front_end, "negative")
    base = base_path(base)
    base_encoder = None if base is None else load_base(base, front_end, device)

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
        model, validation = calibrated_model(encoder, sampler, train_pos, val_pos, train_neg, val_neg, attempt_config,
                                             rng, name)
        model_health = health(model, losses, validation, val_pos or train_pos, val_neg or train_neg, attempt_config)
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
        log.warning("the levels rest on %d held-back windows of the target (%d clips): with so little, they vary "
                    "from one training to the next; check them on a recording with `speakerspot eval`",
                    validation["positive_windows"], len(val_pos))
    if not model_health["separated"] and require_separation:
        raise TrainingDataError(None, f"the held-back clips do not separate ({describe_health(model_health)}): the "
                                      "model cannot tell the target's held-back clips from the others'; no model "
                                      "written. More or cleaner clips of the target help (--force keeps it anyway)")
    if not model_health["separated"]:
        log.warning("the held-back clips do not separate (%s): the model is kept as asked, but expect it to miss the "
                    "target or to find it where it is not", describe_health(model_health))
    rate = front_end.sample_rate
    model.training_summary = {
        "speakerspot_version": __version__,
        "positive_clips": len(positive_clips), "negative_clips": len(negative_clips),
        "positive_seconds": round(sum(len(c.samples) for c in positive_clips) / rate, 1),
        "positive_speech_seconds": round(sum(float(c.speech.sum()) for c in positive_clips if c.speech is not None)
                                         * VAD_FRAME_SAMPLES / VAD_SAMPLE_RATE, 1),
        "negative_seconds": round(sum(len(c.samples) for c in negative_clips) / rate, 1),
        "validation_clips": len(val_pos) + len(val_neg),
        "config": asdict(attempt_config), "base": None if base is None else base_description(base),
        "final_loss": round(float(np.mean(losses[-attempt_config.steps_per_epoch:])), 4) if losses else None,
        "validation": validation, "health": model_health, "attempts": len(attempts),
        "memory_bank_size": int(model.memory_bank.shape[0]),
        "seconds": round(time.monotonic() - started, 1),
    }
    return model


def training_report(summary: dict) -> str:
    """What a user needs to trust a model, in words: the clips, the held-back EER and the health line."""
    lines = [f"{summary['positive_clips']} positive clips ({summary['positive_seconds']} s, "
             f"{summary['positive_speech_seconds']} s of it speech), {summary['negative_clips']} negative "
             f"({summary['negative_seconds']} s), {summary['seconds']} s of training"
             + (f" from the base {summary['base']['file']}" if summary.get("base") else "")]
    validation, figures = summary["validation"], summary["health"]
    if validation:
        lines.append(f"held-back clips: EER {validation['eer']:.1%}, threshold {validation['threshold']:.3f}")
    healthy = "separate" if figures["separated"] else "do NOT separate"
    lines.append(f"health: {describe_health(figures)}; the held-back target and others {healthy}"
                 + (f"; trained {summary['attempts']} times (the first collapsed)" if summary["attempts"] > 1 else ""))
    return "\n".join(lines)


def base_description(path: str | Path) -> dict:
    return {"file": Path(path).name, "sha256": hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]}


def calibrated_model(encoder: SpeakerEncoder, sampler: WindowSampler, train_pos: list[Clip], val_pos: list[Clip],
                     train_neg: list[Clip], val_neg: list[Clip], config: TrainingConfig, rng: np.random.Generator,
                     name: str) -> tuple[SpeakerModel, dict | None]:
    """The trained encoder with its memory bank, others and decision levels (see `validate`)."""
    front_end = sampler.front_end
    # Levels for when no clips can be held back (see `Decision.threshold`); the loss keeps other
    # sounds a margin below the target, so a turn that dips by less stays one turn.
    model = SpeakerModel(encoder, torch.zeros(1, encoder.config.embedding_dim, device=sampler.device), front_end,
                         decision=Decision(hysteresis=config.margin), name=name)
    rate = front_end.sample_rate
    piece = int(config.non_speech_seconds * rate)
    non_speech_windows = sampler.windows([non_speech(piece, rate, rng) for _ in train_neg + val_neg],
                                         front_end.step_frames)
    train_references = model.embed(torch.cat([sampler.windows([c.samples for c in train_neg], front_end.step_frames),
                                               non_speech_windows]))
    # Validation must not see the held-back clips, not even through the bank's curation.
    model.memory_bank = memory_bank(model, train_pos, train_references, config, sampler)
    model.others = train_references
    validation = validate(model, val_pos, val_neg, sampler, config)
    if validation:
        model.decision = replace(model.decision, threshold=validation["threshold"],
                                 hysteresis=validation["hysteresis"], edge_hysteresis=validation["edge_hysteresis"])
    all_references = torch.cat([train_references, model.embed(sampler.windows([c.samples for c in val_neg],
                                                                              front_end.step_frames))])
    model.memory_bank = memory_bank(model, train_pos + val_pos, all_references, config, sampler)
    model.others = all_references
    return model, validation


def health(model: SpeakerModel, losses: list[float], validation: dict | None, positives: list[Clip],
           negatives: list[Clip], config: TrainingConfig) -> dict:
    """Whether the encoder collapsed, and whether the held-back clips separate, in figures.

    `spread` is 1 - |mean| of the unit embeddings of the (held-back, else training) clips' windows:
    0 when every window is embedded alike, larger the more they differ. A collapsed encoder also
    holds the triplet loss at the margin (every negative as near as every positive) and scores every
    window of the validation programmes alike (`score_range`, the 1st to the 99th percentile).
    """
    front_end = model.front_end

    def spread(clips: list[Clip]) -> float:
        embeddings = model.embed(torch.cat([clip_windows(c.samples, front_end, device=str(model.device))
                                            for c in clips]))
        return round(1 - float(embeddings.mean(dim=0).norm()), 4)

    last_epoch = np.array(losses[-config.steps_per_epoch:])
    at_margin = float(np.mean(np.abs(last_epoch - config.margin) < 0.01 * config.margin)) if losses else 0.0
    figures = {"spread_positive": spread(positives), "spread_negative": spread(negatives),
               "spread": spread(positives + negatives), "loss_at_margin": round(at_margin, 3),
               "score_range": None, "eer": None}
    if validation:
        figures["score_range"] = validation["score_range"]
        figures["eer"] = validation["eer"]
    figures["collapsed"], figures["separated"] = collapsed(figures, config), separated(figures, config)
    return figures


def collapsed(figures: dict, config: TrainingConfig) -> bool:
    """Whether `health` figures show an encoder that maps every window to about the same point."""
    low, high = figures["score_range"] or (-1.0, 1.0)
    return bool(figures["spread"] < config.collapsed_spread or figures["loss_at_margin"] > config.collapsed_loss_share
                or high - low < config.collapsed_score_range)


def separated(figures: dict, config: TrainingConfig) -> bool:
    """Whether `health` figures show held-back target and other clips told apart (or none held back)."""
    return figures["eer"] is None or figures["eer"] <= config.max_validation_eer


def describe_health(figures: dict) -> str:
    """The health figures in words, for the user."""
    words = [f"embedding spread {figures['spread']:.3f} (target {figures['spread_positive']:.3f}, "
             f"others {figures['spread_negative']:.3f})"]
    if figures["score_range"] is not None:
        low, high = figures["score_range"]
        words.append(f"held-back scores from {low:.2f} to {high:.2f}")
    if figures["eer"] is not None:
        words.append(f"held-back EER {figures['eer']:.1%}")
    words.append(f"{figures['loss_at_margin']:.0%} of the last epoch's steps at the margin")
    return ", ".join(words)


def memory_bank(model: SpeakerModel, clips: list[Clip], negatives: torch.Tensor, config: TrainingConfig,
                sampler: WindowSampler) -> torch.Tensor:
    """The embeddings of the clips' speech windows that identify the target: (n, dim).

    Each clip enters as recorded and through `config.bank_chains` broadcast-like chains (fixed
    seed), so that the target heard through a telephone line or under music has entries of its own.
    Only windows mostly of speech enter (`config.min_speech_share`).

    A window is kept when its median cosine to the windows of the target's other clips exceeds its
    top-5 mean cosine to the negatives (voices and non-speech) by the training margin. A few windows
    of any clip (an edge, a click, a breath) embed far from the target and near everything else;
    with top-5 scoring, five such entries would make every sound score like the target. Outliers
    are a minority by definition: at most half of the windows are dropped, the worst first.
    """
    rng = np.random.default_rng(config.seed + 2)
    step = model.front_end.step_frames
    embeddings = []
    for clip in clips:
        speech = clip.speech_windows(model.front_end, step, config.min_speech_share).tile(
            1 + config.bank_chains).to(model.device)
        signals = [clip.samples] + [sampler.chain(clip.samples, rng) for _ in range(config.bank_chains)]
        embeddings.append(model.embed(sampler.windows(signals, step))[speech])
    owners = torch.cat([torch.full((len(e),), index, device=e.device) for index, e in enumerate(embeddings)])
    candidates = torch.cat(embeddings)
    return candidates[identifying_entries(candidates, owners, negatives, config.margin, model.top_k)]


def identifying_entries(candidates: torch.Tensor, owners: torch.Tensor, negatives: torch.Tensor, margin: float,
                        top_k: int) -> torch.Tensor:
    """Mask of candidate bank entries (n, dim) to keep; `owners` (n,) numbers the clip of each."""
    similarity = candidates @ candidates.T
    similarity[owners[:, None] == owners[None, :]] = float("nan")  # judged by the *other* clips
    typical = similarity.nanmedian(dim=1).values
    if owners.unique().numel() < 2:
        typical = torch.ones_like(typical)
    excess = top_k_mean_scores(candidates, negatives, top_k) - (typical - margin)  # above 0: drop
    limit = torch.sort(excess).values[(len(excess) - 1) // 2]
    return (excess < 0) | (excess <= limit)


def mask_spectra(windows: torch.Tensor, rng: np.random.Generator, max_bands: int, max_frames: int) -> torch.Tensor:
    """SpecAugment: each window loses a random run of 0 to `max_bands` mel bands and one of 0 to
    `max_frames` frames, set to the band's mean over the window (what the encoder subtracts first, so
    they carry nothing). A voice must then be known by more than one band or one moment: on the dev
    broadcast, ten seeds found every turn on 8 (2 without) at a lower window EER (BENCHMARKS.md)."""
    count, bands, frames = windows.shape
    band_width = rng.integers(0, max_bands + 1, count)
    band_start = rng.integers(0, bands - band_width + 1)
    frame_width = rng.integers(0, max_frames + 1, count)
    frame_start = rng.integers(0, frames - frame_width + 1)

    def inside(positions: torch.Tensor, start: np.ndarray, width: np.ndarray) -> torch.Tensor:
        return ((positions >= torch.from_numpy(start)[:, None])
                & (positions < torch.from_numpy(start + width)[:, None]))

    masked = (inside(torch.arange(bands), band_start, band_width)[:, :, None]
              | inside(torch.arange(frames), frame_start, frame_width)[:, None, :])
    return torch.where(masked.to(windows.device), windows.mean(dim=-1, keepdim=True), windows)


def training_step(encoder: SpeakerEncoder, optimizer: torch.optim.Optimizer, pos_windows: torch.Tensor,
                  neg_windows: torch.Tensor, config: TrainingConfig, rng: np.random.Generator,
                  semi_hard: bool = False, base: SpeakerEncoder | None = None) -> float:
    """One step: pick anchors and positives, mine the hardest (or semi-hard) negatives among many, descend.

    With a `base` encoder (the one being fine-tuned, frozen), each window's embedding is also drawn
    towards the base's (`config.base_distillation`): fine-tuned on one session of the target, an
    encoder learns that session, and the base, which never heard it, knows the voice in others."""
    anchor_index = torch.from_numpy(rng.integers(len(pos_windows), size=config.batch_size))
    positive_index = torch.from_numpy(rng.integers(len(pos_windows), size=config.batch_size))
    candidate_index = torch.from_numpy(rng.choice(len(neg_windows), min(config.negative_candidates, len(neg_windows)),
                                                  replace=False))
    encoder.eval()
    with torch.no_grad():
        candidates = neg_windows[candidate_index]
        positives = encoder(pos_windows[positive_index]) if semi_hard else None
        chosen = hardest_negatives(encoder(pos_windows[anchor_index]), encoder(candidates), positives)
    encoder.train()
    batch = mask_spectra(torch.cat([pos_windows[anchor_index], pos_windows[positive_index], candidates[chosen]]),
                         rng, config.masked_bands, config.masked_frames)
    embeddings = encoder(batch)
    anchors, positives, negatives = embeddings.split(config.batch_size)
    loss = triplet_loss(anchors, positives, negatives, config.margin)
    if base is not None and config.base_distillation > 0:
        with torch.no_grad():
            base_embeddings = base(batch)
        loss = loss + config.base_distillation * (1 - (embeddings * base_embeddings).sum(-1)).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    encoder.eval()
    return loss.item()


def validate(model: SpeakerModel, val_pos: list[Clip], val_neg: list[Clip], sampler: WindowSampler,
             config: TrainingConfig) -> dict | None:
    """Scan programmes made of the held-back clips, as a scan would see a broadcast.

    Clips alone score too well: a broadcast's windows straddle a turn's edge, a pause, the next
    voice or a jingle, and those windows are where false alarms and split turns come from. So the
    held-back clips (with non-speech pieces) are strung together in random order with pauses of
    random length, once as recorded and once with each piece through its own broadcast-like chain,
    and scanned against a bank built without them. Windows inside the target's turns are
    positives; windows that touch none are negatives; the rest (a turn's edges) are left out.
    Their smoothed scores set the decision's levels (see `decision_levels`).
    """
    if not val_pos or not val_neg:
        log.warning("too few clips to hold some back: the threshold stays at %.2f", model.decision.threshold)
        return None
    rng = np.random.default_rng(config.seed + 1)
    rate, width = model.front_end.sample_rate, model.front_end.window_seconds
    pieces = [(c.samples, c) for c in val_pos] + [(c.samples, None) for c in val_neg]
    pieces += [(non_speech(int(config.non_speech_seconds * rate), rate, rng), None) for _ in range(len(val_neg))]
    pos_scores, neg_scores, neg_pieces, raw_scores = [], [], [], []
    for chained in (False, True):
        order = rng.permutation(len(pieces))
        programme, spans = string_together([sampler.chain(pieces[i][0], rng) if chained else pieces[i][0]
                                            for i in order], rate, rng)
        result = scan(model, programme)
        overlaps = span_overlaps(result.window_times, width, spans)
        is_target = np.array([pieces[i][1] is not None for i in order], bool)
        coverage = overlaps[is_target].sum(axis=0) / width  # share of each window inside a target turn
        speech = span_overlaps(result.window_times, width, [
            (start + speech_start, start + speech_end) for (start, _), i in zip(spans, order, strict=True)
            if pieces[i][1] is not None for speech_start, speech_end in pieces[i][1].speech_spans()]).sum(axis=0)
        others = coverage == 0
        inside = (coverage >= config.inside_turn) & (speech / width >= config.min_speech_share)
        pos_scores.append(result.smoothed_scores[inside])
        neg_scores.append(result.smoothed_scores[others])
        neg_pieces.append(covering_piece(overlaps, order)[others])
        raw_scores.append(result.window_scores)
    positives, negatives = np.concatenate(pos_scores), np.concatenate(neg_scores)
    eer, eer_threshold = equal_error_rate(positives, negatives)
    threshold, hysteresis, edge_hysteresis = decision_levels(positives, negatives, np.concatenate(neg_pieces),
                                                             eer_threshold, config.few_calibration_windows)
    score_range = np.percentile(np.concatenate(raw_scores), [1, 99])
    return {"eer": round(eer, 4), "threshold": round(threshold, 4), "hysteresis": round(hysteresis, 4),
            "edge_hysteresis": round(edge_hysteresis, 4), "eer_threshold": round(eer_threshold, 4),
            "positive_windows": len(positives), "negative_windows": len(negatives),
            "score_range": [round(float(score_range[0]), 4), round(float(score_range[1]), 4)]}


def decision_levels(positives: np.ndarray, negatives: np.ndarray, negative_pieces: np.ndarray,
                    eer_threshold: float,
                    few_windows: int = TrainingConfig.few_calibration_windows) -> tuple[float, float, float]:
    """(threshold, hysteresis, edge hysteresis) from the smoothed scores of held-back target and
    non-target windows (see `validate`); `negative_pieces` says which held-back piece each
    non-target window lies on (-1: on a pause).

    The levels leave out the one piece whose highest window is highest: a piece's windows rise and
    fall together, and one held-back clip through one chain, scored like the target, set every level
    of dev seed 5 too high for the target on the broadcast (entry 0.56 where its target windows'
    median was about 0.35; BENCHMARKS.md, 2026-11-30, fifth session). Of the rest: a segment starts
    only at a window halfway between the highest non-target window (or the equal-error point, if
    higher) and the target's median window: the held-back voices are voices the model was trained
    against, a voice it never heard scores higher, and entering at the top of theirs let such
    voices in (0-12 false alarms per hour on the dev broadcast, 0 halfway up the gap). Where the
    two overlap, the entry is the target's median: a held-back clip that sounds like the target
    must not silence it. A segment lasts while its windows stay above all but 1% of the non-target
    ones: a turn dips under music or on a phone line, and the level that keeps it whole is the one
    the bulk of other sounds stays below. Its first and last windows must be above the top of the
    non-target windows: scores are averaged over ~3 s, which carries a turn into the windows beside
    it, and the low level that holds a dipping turn together would otherwise let segments run on
    past the turn's ends.

    With fewer than `few_windows` held-back target windows (a couple of clips), the top of
    the held-back others is a poor guess of where a recording's others reach: on the fixture clips
    three of eight seeds put it below the bulk of the test recordings' other voices, and one segment
    then ran over the whole recording. There the stay and end levels, like the entry, keep a margin:
    halfway between the others' top and the entry (BENCHMARKS.md, 2026-11-30, sixth session).
    """
    pieces = set(negative_pieces.tolist()) - {-1}
    most_like_target = max(pieces, key=lambda piece: negatives[negative_pieces == piece].max(), default=None)
    rest = negatives[negative_pieces != most_like_target]
    rest = rest if len(rest) else negatives
    median = float(np.median(positives))
    others_top = min(max(eer_threshold, float(rest.max())), median)
    enter = (others_top + median) / 2
    if len(positives) < few_windows:
        stay = end = (others_top + enter) / 2
    else:
        stay, end = min(others_top, float(np.percentile(rest, 99))), others_top
    return enter, enter - stay, enter - end


def string_together(signals: list[np.ndarray], sample_rate: int,
                    rng: np.random.Generator) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """(programme, each signal's span in seconds): the signals in order with 0-1.5 s pauses between them."""
    parts, spans, position = [], [], 0
    for samples in signals:
        spans.append((position / sample_rate, (position + len(samples)) / sample_rate))
        pause = np.zeros(int(rng.uniform(0, 1.5) * sample_rate), np.float32)
        parts += [samples, pause]
        position += len(samples) + len(pause)
    return np.concatenate(parts), spans


def span_overlaps(centres: np.ndarray, width: float, spans: list[tuple[float, float]]) -> np.ndarray:
    """Seconds of each window (centred at `centres`, `width` s wide) inside each span: (spans, windows)."""
    starts, ends = np.array(spans, dtype=np.float64).reshape(-1, 2).T
    return np.clip(np.minimum(ends[:, None], centres + width / 2) - np.maximum(starts[:, None], centres - width / 2),
                   0, None)


def covering_piece(overlaps: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The label of the span that covers most of each window (-1 for a window on a pause only), from
    `span_overlaps`."""
    return np.where(overlaps.max(axis=0) > 0, np.asarray(labels)[overlaps.argmax(axis=0)], -1)


def enroll(model: SpeakerModel, clips: list[str | Path], merge_similarity: float = MERGE_SIMILARITY) -> SpeakerModel:
    """Add the windows of more positive `clips` to the model's memory bank, without retraining
    (see `memory_bank.enroll`). The threshold is kept. Returns the model, changed in place."""
    loaded = load_clips([Path(c) for c in clips], model.front_end, "positive", find_speech=True)
    step = model.front_end.step_frames
    min_share = model.training_summary.get("config", {}).get("min_speech_share", TrainingConfig.min_speech_share)
    windows = torch.cat([clip_windows(clip.samples, model.front_end, device=str(model.device))[
        clip.speech_windows(model.front_end, step, min_share).to(model.device)] for clip in loaded])
    model.memory_bank = enroll_embeddings(model.memory_bank, model.embed(windows), merge_similarity)
    return model
