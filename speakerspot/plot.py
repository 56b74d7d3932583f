"""A static picture of a recording's timelines, for mails and tickets (needs `speakerspot[plot]`)."""

from __future__ import annotations

from pathlib import Path

from .errors import SpeakerspotError
from .files import atomic_write, valid_text
from .segments import ScanResult, recording_duration
from .writers import format_timestamp


class PlottingMissing(SpeakerspotError):
    """matplotlib is not installed: a bad command line for this installation."""

    exit_code = 2


def require_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise PlottingMissing(None, "--png needs matplotlib: pip install 'speakerspot[plot]'") from None


def write_timeline_png(results: list[ScanResult], truth: list[tuple[float, float]] | None, path: str | Path) -> Path:
    """Each model's smoothed score over the whole recording (`results`: one recording's, one per
    model), its levels as lines, segments as bands (and the `truth` as a band below), one panel per
    model, written to `path` as PNG."""
    import matplotlib

    matplotlib.use("Agg")  # no screen needed
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    path = Path(path)
    duration = recording_duration(results)
    figure, axes = plt.subplots(len(results), 1, figsize=(12, 2.6 * len(results)), squeeze=False, sharex=True)
    for axis, result in zip(axes[:, 0], results, strict=True):
        for segment in result.segments:
            axis.axvspan(segment.start, segment.end, color="#e67e22", alpha=0.3, linewidth=0)
        axis.plot(result.window_times, result.smoothed_scores, color="#1f5fa8", linewidth=0.8)
        for level, style in ((result.threshold, "-"), (result.stay_threshold, "--"), (result.edge_threshold, ":")):
            if level is not None:
                axis.axhline(level, color="#c0392b", linestyle=style, linewidth=0.9)
        if truth is not None:
            low = axis.get_ylim()[0]
            for start, end in truth:
                axis.plot([start, end], [low, low], color="#2e9e5b", linewidth=6, solid_capstyle="butt")
        axis.set_ylabel("score")
        axis.set_title(valid_text(f"{Path(result.file).name}: {result.model}, {len(result.segments)} segment(s)"),
                       fontsize=10, loc="left")
        axis.set_xlim(0, duration)
    axes[-1, 0].xaxis.set_major_locator(MaxNLocator(nbins=12, steps=[1, 1.5, 2, 3, 5, 6, 10]))
    axes[-1, 0].xaxis.set_major_formatter(FuncFormatter(lambda seconds, _: format_timestamp(max(seconds, 0))[:8]))
    axes[-1, 0].set_xlabel("time as a player shows it; bands: segments found"
                           + (", green: the truth" if truth is not None else "")
                           + "; red lines: threshold, stay (dashed), ends (dotted)")
    figure.tight_layout()
    with atomic_write(path, "wb") as file:
        figure.savefig(file, format="png", dpi=100)
    plt.close(figure)
    return path
