"""A recording a PVR writes as several files, read as the one recording its player plays.

VDR (the Linux video disk recorder) writes each recording in a folder of its own, `TITLE/2026-12-01.20.15.5-0.rec/`,
as `00001.ts`, `00002.ts`, … (a new file every 2000 MB by default, cut where a group of pictures begins), beside its
`index`, `info` and `marks`; before version 1.7.3 (2009) as `001.vdr`, `002.vdr`, … of MPEG PES, which FFmpeg reads as
MPEG-PS. Its player plays them as one, its times running on from the first. Such a folder is one recording here: its
files are read as one stream of bytes, in their order.
"""

from __future__ import annotations

import io
import os
import re
from pathlib import Path
from typing import BinaryIO

VDR_FILE = re.compile(r"\d{5}\.ts|\d{3}\.vdr")
VDR_FILE_NAMES = ("{:05d}.ts", "{:03d}.vdr")  # MPEG-TS, and the PES of VDR before 1.7.3
VDR_SUFFIX = ".rec"
VDR_DELETED_SUFFIX = ".del"  # a recording deleted in VDR, renamed so until VDR removes it (minutes later)


def vdr_file_name(path: str | Path) -> str | None:
    """How the files of the VDR recording whose folder is `path` are named ("{:05d}.ts" or "{:03d}.vdr"); None
    where `path` is no such folder (NAME.rec, or NAME.del deleted, holding the first of them)."""
    path = Path(path)
    if path.suffix not in (VDR_SUFFIX, VDR_DELETED_SUFFIX):
        return None
    return next((name for name in VDR_FILE_NAMES if (path / name.format(1)).is_file()), None)


def is_vdr_recording(path: str | Path) -> bool:
    """Whether `path` is a VDR recording's folder."""
    return vdr_file_name(path) is not None


def is_vdr_transport_stream(path: str | Path) -> bool:
    """Whether `path` is a VDR recording's folder of MPEG-TS files."""
    return vdr_file_name(path) == VDR_FILE_NAMES[0]


def recording_files(path: str | Path) -> list[Path]:
    """The files the recording at `path` is made of, in order: a VDR recording's (up to the first one missing, as
    VDR's player reads them), or the file itself."""
    path = Path(path)
    if (name := vdr_file_name(path)) is None:
        return [path]
    files = []
    while (file := path / name.format(len(files) + 1)).is_file():
        files.append(file)
    return files


def unread_vdr_files(path: str | Path) -> list[Path]:
    """The files of the VDR recording whose folder is `path` that follow a missing one, which `recording_files`
    leaves out (VDR's player stops at the gap too)."""
    read = set(recording_files(path))
    return sorted(file for file in Path(path).iterdir() if VDR_FILE.fullmatch(file.name) and file not in read
                  and file.suffix == Path(vdr_file_name(path) or "").suffix)


def recording_size(path: str | Path) -> int:
    """The recording's bytes: its files' together."""
    return sum(file.stat().st_size for file in recording_files(path))


def recording_status(path: str | Path) -> tuple[int, int]:
    """(bytes, modification time in ns) of the recording: its files' together, and the latest of them (a file
    added while it was being recorded, or edited, changes it)."""
    statuses = [os.stat(file) for file in recording_files(path)]
    return sum(s.st_size for s in statuses), max(s.st_mtime_ns for s in statuses)


def open_recording(path: str | Path) -> BinaryIO:
    """The recording's bytes, readable and seekable: the file, or a VDR recording's files one after another."""
    files = recording_files(path)
    if len(files) == 1 and files[0] == Path(path):
        return open(path, "rb")
    return io.BufferedReader(JoinedFiles(files))


class JoinedFiles(io.RawIOBase):
    """Files read as one, one after another."""

    def __init__(self, files: list[Path]):
        self.files = files
        self.starts = [0]  # the byte each file begins at, and the end
        for file in files:
            self.starts.append(self.starts[-1] + file.stat().st_size)
        self.position = 0
        self.current: tuple[int, BinaryIO] | None = None  # the file open, by number

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        number = next((n for n in range(len(self.files)) if self.position < self.starts[n + 1]), None)
        if number is None:
            return 0  # the end
        if self.current is None or self.current[0] != number:
            self.close_file()
            self.current = (number, open(self.files[number], "rb", buffering=0))
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

    def close_file(self) -> None:
        if self.current is not None:
            self.current[1].close()
            self.current = None

    def close(self) -> None:
        self.close_file()
        super().close()
