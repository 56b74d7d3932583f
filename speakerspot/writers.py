"""One writer per output format, chosen by name."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

from .files import atomic_write
from .scanning import ScanResult


def format_timestamp(seconds: float) -> str:
    """`HH:MM:SS.s`, as a player shows a position."""
    tenths = round(seconds * 10)
    hours, rest = divmod(tenths, 36000)
    minutes, rest = divmod(rest, 600)
    return f"{hours:02d}:{minutes:02d}:{rest // 10:02d}.{rest % 10}"


def render_txt(result: ScanResult, windows: bool = False) -> str:
    """One line per segment for people: `HH:MM:SS.s – HH:MM:SS.s  score`."""
    return "".join(f"{format_timestamp(s.start)} – {format_timestamp(s.end)}  {s.score:.3f}\n"
                   for s in result.segments)


def render_json(result: ScanResult, windows: bool = False) -> str:
    return json.dumps(result.to_dict(windows=windows), indent=1) + "\n"


RENDERERS: dict[str, Callable[[ScanResult, bool], str]] = {"txt": render_txt, "json": render_json}


def write_result(result: ScanResult, format_name: str, output: str | Path | None = None,
                 windows: bool = False) -> None:
    """Write `result` in `format_name` to `output` (atomically), or to stdout when None."""
    text = RENDERERS[format_name](result, windows)
    if output is None:
        sys.stdout.write(text)
        return
    with atomic_write(output) as file:
        file.write(text)
