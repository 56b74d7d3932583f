"""SpeakerModel: encoder + memory bank + decision settings + front-end settings, and its file format.

A model file is a dict of primitives and tensors (no pickled classes), loaded with
`weights_only=True`, written to a temporary file and renamed so a crash never leaves half a model.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import torch

from . import __version__
from .encoder import EncoderConfig, SpeakerEncoder
from .errors import DeviceError, ModelFileError
from .features import FrontEnd
from .files import atomic_write
from .memory_bank import TOP_K, top_k_mean_scores
from .segments import Decision

FORMAT_NAME = "speakerspot-model"
# 2 added `others`, 3 the decision's `edge_hysteresis`, 4 the encoder's `pooling`, 5 its `with_base`,
# 6 the decision's `growth_margin`, 7 the front end's `silence_dbfs`, 8 the decision's `raw_edges`; older
# files still load (as they scanned before, but that a window without sound never begins or ends a
# segment, and that the ends of segments that grow are placed on the raw scores)
FORMAT_VERSION = 8
READABLE_VERSIONS = (1, 2, 3, 4, 5, 6, 7, 8)


@torch.inference_mode()
def embed_windows(encoder: SpeakerEncoder, windows: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """Unit embeddings of log-mel windows (n, n_mels, frames) → (n, dim), on the encoder's device."""
    device = next(encoder.parameters()).device
    if windows.shape[0] == 0:
        return torch.zeros(0, encoder.config.output_dim, device=device)
    return torch.cat([encoder(windows[i:i + batch_size].to(device)) for i in range(0, windows.shape[0], batch_size)])


class SpeakerModel:
    """A trained target voice: scores log-mel windows by their similarity to the target.

    `memory_bank` holds embeddings of the target; `others`, when given, embeddings of other voices
    and sounds (the training negatives). A window's score is then how much nearer the target it is
    than the nearest others: a voice or a jingle that resembles the target a little but one of
    the others more scores low, where similarity to the target alone would call it the target.
    """

    def __init__(self, encoder: SpeakerEncoder, memory_bank: torch.Tensor, front_end: FrontEnd,
                 decision: Decision = Decision(), top_k: int = TOP_K, name: str = "model",
                 training_summary: dict | None = None, others: torch.Tensor | None = None):
        self.encoder = encoder.eval()
        self.memory_bank = memory_bank
        self.others = others
        self.front_end = front_end
        self.decision = decision
        self.top_k = top_k
        self.name = name
        self.training_summary = training_summary or {}

    @property
    def is_base_encoder(self) -> bool:
        """Whether this is a base encoder (`models/base.pt`, what `train` fine-tunes), not a model of a
        voice: its memory bank holds no target, so it finds nothing."""
        return bool(self.training_summary.get("base_encoder"))

    @property
    def device(self) -> torch.device:
        return self.memory_bank.device

    def to(self, device: str | torch.device) -> SpeakerModel:
        device = torch_device(device)
        self.encoder.to(device)
        self.memory_bank = self.memory_bank.to(device)
        if self.others is not None:
            self.others = self.others.to(device)
        return self

    def embed(self, windows: torch.Tensor) -> torch.Tensor:
        """Unit embeddings of log-mel windows (n, n_mels, frames) → (n, dim)."""
        return embed_windows(self.encoder, windows)

    def score(self, windows: torch.Tensor) -> np.ndarray:
        """Mean of the top-k cosine similarities of each window to the memory bank, less that to the
        others when the model has them: (n,)."""
        embeddings = self.embed(windows)
        if embeddings.shape[0] == 0:
            return np.zeros(0, np.float32)
        scores = top_k_mean_scores(embeddings, self.memory_bank, self.top_k)
        if self.others is not None:
            scores -= top_k_mean_scores(embeddings, self.others, self.top_k)
        return scores.cpu().numpy()

    def fingerprint(self) -> str:
        """A hash of everything that decides the model's results: weights, memory bank, settings, name."""
        digest = hashlib.sha256()
        settings = {"name": self.name, "front_end": self.front_end.to_dict(), "decision": self.decision.to_dict(),
                    "top_k": self.top_k, "encoder_config": self.encoder.config.to_dict()}
        digest.update(json.dumps(settings, sort_keys=True).encode())
        banks = [("memory_bank", self.memory_bank)] + ([("others", self.others)] if self.others is not None else [])
        for key, value in [*sorted(self.encoder.state_dict().items()), *banks]:
            digest.update(key.encode())
            digest.update(value.detach().cpu().contiguous().numpy().tobytes())
        return digest.hexdigest()[:32]

    def save(self, path: str | Path) -> Path:
        """Write the model file atomically."""
        path = Path(path)
        checkpoint = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "speakerspot_version": __version__,
            "name": self.name,
            "front_end": self.front_end.to_dict(),
            "encoder_config": self.encoder.config.to_dict(),
            "encoder_state": {key: value.cpu() for key, value in self.encoder.state_dict().items()},
            "memory_bank": self.memory_bank.cpu(),
            "others": None if self.others is None else self.others.cpu(),
            "decision": self.decision.to_dict(),
            "top_k": self.top_k,
            "training_summary": self.training_summary,
        }
        with atomic_write(path, "wb") as file:
            torch.save(checkpoint, file)
        return path


BASE_ENCODER_PROBLEM = "is a base encoder, what `train` fine-tunes, not a model of a voice: train one from it"


def refuse_base_encoders(models: list[SpeakerModel]) -> None:
    """A ModelFileError for the first base encoder among `models` (see `SpeakerModel.is_base_encoder`)."""
    for model in models:
        if model.is_base_encoder:
            raise ModelFileError(model.name, BASE_ENCODER_PROBLEM)


def torch_device(name: str | torch.device) -> torch.device:
    """The torch device `name` names ("cpu", "cuda", "cuda:1", "mps"), if this machine has it: else a
    `DeviceError` saying so, where torch would fail deep inside with an assertion."""
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise DeviceError(None, f"{str(name)!r} is not a torch device (cpu, cuda, cuda:1, mps …)") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            why = "is built for the CPU only" if torch.version.cuda is None else "finds no CUDA GPU"
            raise DeviceError(None, f"device {str(name)!r}: no CUDA device here (torch {torch.__version__} {why})")
        if (device.index or 0) >= torch.cuda.device_count():
            raise DeviceError(None, f"device {str(name)!r}: no CUDA device {device.index} here "
                                    f"({torch.cuda.device_count()} found)")
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise DeviceError(None, f"device {str(name)!r}: no Apple GPU (MPS) here")
    return device


def stored_decision(settings: dict, version: int) -> Decision:
    """The decision a model file holds; one written before version 6 decides as it did then (no growth)."""
    if version < 6:
        settings = {"growth_margin": None, **settings}
    return Decision(**settings)


def load_model(path: str | Path, device: str = "cpu") -> SpeakerModel:
    """Read a model file written by `SpeakerModel.save`, checking its format and version."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(path, "no such model file")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for damaged files
        raise ModelFileError(path, f"not a speakerspot model file, or damaged ({error.__class__.__name__})") from None
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != FORMAT_NAME:
        raise ModelFileError(path, "not a speakerspot model file")
    version = checkpoint.get("format_version")
    if version not in READABLE_VERSIONS:
        raise ModelFileError(path, f"model format version {version} is not supported by speakerspot "
                                   f"{__version__} (it reads versions up to {FORMAT_VERSION}); upgrade speakerspot")
    try:
        encoder = SpeakerEncoder(EncoderConfig(**checkpoint["encoder_config"]))
        encoder.load_state_dict(checkpoint["encoder_state"], strict=True)
        model = SpeakerModel(encoder, checkpoint["memory_bank"].float(), FrontEnd(**checkpoint["front_end"]),
                             decision=stored_decision(checkpoint["decision"], version), top_k=int(checkpoint["top_k"]),
                             name=str(checkpoint["name"]), training_summary=checkpoint["training_summary"],
                             others=None if checkpoint.get("others") is None else checkpoint["others"].float())
    # AttributeError: a bank not a tensor; ValueError: a setting out of range
    except (KeyError, TypeError, ValueError, AttributeError, RuntimeError) as error:
        raise ModelFileError(path, f"model file is damaged: {error}") from None
    return model.to(device)
