"""speakerspot: find where a given person speaks in recorded broadcasts.

    import speakerspot
    model = speakerspot.train(["target/a.wav", ...], ["others/b.wav", ...])
    model.save("models/anna.pt")
    model = speakerspot.load_model("models/anna.pt")
    for segment in speakerspot.scan(model, "recording.ts").segments:
        print(segment.start, segment.end, segment.score)
"""

__version__ = "0.1.0"

from .errors import MediaError, ModelFileError, OutputError, SpeakerspotError, TrainingDataError
from .features import FrontEnd
from .model import SpeakerModel, load_model
from .scanning import ScanResult, scan
from .segments import Segment
from .training import TrainingConfig, train

__all__ = ["FrontEnd", "MediaError", "ModelFileError", "OutputError", "ScanResult", "Segment", "SpeakerModel",
           "SpeakerspotError", "TrainingConfig", "TrainingDataError", "load_model", "scan", "train"]
