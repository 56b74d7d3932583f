"""speakerspot: find where a given person speaks in recorded broadcasts.

    import speakerspot
    model = speakerspot.train(["target/a.wav", ...], ["others/b.wav", ...])
    model.save("models/anna.pt")
    model = speakerspot.load_model("models/anna.pt")
    for segment in speakerspot.scan(model, "recording.ts").segments:
        print(segment.start, segment.end, segment.score)
"""

import importlib

__version__ = "0.1.0"

# Names load on first use, so that `speakerspot --help` and `speakerspot info` do not import torch.
_EXPORTS = {
    "DeviceError": "errors", "FrontEnd": "features", "MediaError": "errors", "ModelFileError": "errors",
    "OutputError": "errors",
    "ScanOptions": "config", "ScanResult": "segments", "Segment": "segments", "SpeakerModel": "model",
    "SpeakerspotError": "errors",
    "TrackChoice": "config", "TrainingConfig": "config", "TrainingDataError": "errors", "enroll": "training",
    "evaluate_scan": "evaluation", "evaluate_scans": "evaluation",
    "load_model": "model", "read_truth": "evaluation", "recording_turns": "clips", "scan": "scanning",
    "scan_many": "scanning", "train": "training", "truth_beside": "evaluation",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module 'speakerspot' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The public names too (tab completion, `dir`), though they load on first use."""
    return sorted({*globals(), *__all__})
