"""A recording a PVR writes as several files, read as the one recording its player plays.

VDR (the Linux video disk recorder) writes each recording in a folder of its own, `TITLE/2026-12-01.20.15.5-0.rec/`,
as `00001.ts`, `00002.ts`, … (a new file every 2000 MB by default, cut where a group of pictures begins), beside its
`index`, `info` and `marks`; its player plays them as one, its times running on from the first. Such a folder is one
recording here: its pieces are read as one stream of bytes, in their order.
"""

from __future__ import annotations

import io
import os
import re
from pathlib import Path
from typing import BinaryIO

VDR_PIECE = re.compile(r"\d{5}\.ts")  # 00001.ts … 65535.ts
VDR_SUFFIX = ".rec"


def is_vdr_recording(path: str | Path) -> bool:
    """Whether `path` is a VDR recording's folder: NAME.rec holding 00001.ts."""
    path = Path(path)
    return path.suffix == VDR_SUFFIX and (path / "00001.ts").is_file()


def recording_pieces(path: str | Path) -> list[Path]:
    """The files the recording at `path` is made of, in order: a VDR recording's pieces (up to the first one
    missing, as VDR's player reads them), or the file itself."""
    path = Path(path)
    if not is_vdr_recording(path):
        return [path]
    pieces = []
    while (piece := path / f"{len(pieces) + 1:05d}.ts").is_file():
        pieces.append(piece)
    return pieces


def recording_size(path: str | Path) -> int:
    """The recording's bytes: its pieces' together."""
    return sum(piece.stat().st_size for piece in recording_pieces(path))


def recording_status(path: str | Path) -> tuple[int, int]:
    """(bytes, modification time in ns) of the recording: its pieces' together, and the latest of them (a piece
    added while it was being recorded, or edited, changes it)."""
    statuses = [os.stat(piece) for piece in recording_pieces(path)]
    return sum(s.st_size for s in statuses), max(s.st_mtime_ns for s in statuses)


def open_recording(path: str | Path) -> BinaryIO:
    """The recording's bytes, readable and seekable: the file, or a VDR recording's pieces one after another."""
    pieces = recording_pieces(path)
    if len(pieces) == 1 and pieces[0] == Path(path):
        return open(path, "rb")
    return io.BufferedReader(JoinedPieces(pieces))


class JoinedPieces(io.RawIOBase):
    """Files read as one, one after another."""

    def __init__(self, pieces: list[Path]):
        self.pieces = pieces
        self.starts = [0]  # the byte each piece begins at, and the end
        for piece in pieces:
            self.starts.append(self.starts[-1] + piece.stat().st_size)
        self.position = 0
        self.current: tuple[int, BinaryIO] | None = None  # the piece open, by number

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        number = next((n for n in range(len(self.pieces)) if self.position < self.starts[n + 1]), None)
        if number is None:
            return 0  # the end
        if self.current is None or self.current[0] != number:
            self.close_piece()
            self.current = (number, open(self.pieces[number], "rb", buffering=0))
        file = self.current[1]
        file.seek(self.position - self.starts[number])
        count = file.readinto(memoryview(buffer)[:self.starts[number + 1] - self.position])
        self.position += count
        return count

    def seek(self, position: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.starts[-1]}[whence]
        self.position = max(0, base + position)
        return self.position

    def tell(self) -> int:
        return self.position

    def close_piece(self) -> None:
        if self.current is not None:
            self.current[1].close()
            self.current = None

    def close(self) -> None:
        self.close_piece()
        super().close()
