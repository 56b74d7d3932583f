"""What FFmpeg reads where a recording is read again from a byte on: a file seen from that byte (`FileTail`),
and a pipe's bytes, the last of them kept (`PipeBytes`, seen through `PipeView`)."""

from __future__ import annotations

import collections
import io
import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from .split_recordings import open_recording

if TYPE_CHECKING:
    import av

# FFmpeg reads a pipe this many bytes at a time at most (through Python: a call each).
PIPE_READ_BYTES = 1 << 18


class FileTail(io.RawIOBase):
    """A file seen from byte `offset` on, for FFmpeg to read as if it started there."""

    def __init__(self, path: str | Path, offset: int):
        self.file = open_recording(path)  # closed with this object
        self.offset = offset
        self.file.seek(offset)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        return self.file.readinto(buffer)

    def seek(self, position: int, whence: int = io.SEEK_SET) -> int:
        return self.file.seek(position + (self.offset if whence == io.SEEK_SET else 0), whence) - self.offset

    def tell(self) -> int:
        return self.file.tell() - self.offset

    def close(self) -> None:
        self.file.close()
        super().close()


class PipeBytes:
    """The bytes a pipe brings, the last of them kept (from `keep_from`'s byte on, `max_kept` at most), so that
    a container can read it again from a byte another has passed (`view`): from the first packet of a new
    codec, or where the audio stream stopped and another carries on (`audio.stream_after`), as a file is read
    again (FileTail). Until 2026-12-06 a pipe was opened afresh instead: what the last
    container had read ahead was lost, and it could not go back to where a stream stopped."""

    def __init__(self, path: str | Path, max_kept: int):
        self.file = open(path, "rb", buffering=0)  # closed with this object
        self.max_kept = max_kept
        self.chunks: collections.deque[bytes] = collections.deque()
        self.first = 0  # the pipe's byte the first kept chunk begins with
        self.received = 0
        self.wanted = 0  # the first byte a container may read again
        self.on_bytes: Callable[[bytes], None] | None = None  # told each new byte (see `service_tables.PipeClock`)

    def view(self, offset: int) -> PipeView:
        """The pipe as a file beginning at its byte `offset` (one still kept, or the next to come)."""
        return PipeView(self, offset)

    def read(self, position: int, size: int) -> tuple[int, bytes]:
        """(where they begin, up to `size` bytes) from byte `position` on, or from the first byte kept
        where that one is gone; b"" at the pipe's end."""
        if position >= self.received:
            data = self.file.read(size)
            if data:
                self.chunks.append(data)
                self.received += len(data)
                self.drop_unwanted()
                if self.on_bytes:
                    self.on_bytes(data)
            return self.received - len(data), data
        start = self.first
        for chunk in self.chunks:
            if position < start + len(chunk):
                skip = max(0, position - start)
                return start + skip, chunk[skip:skip + size]
            start += len(chunk)
        raise AssertionError("unreachable: the chunks end at the last byte received")

    def kept(self) -> bytes:
        """The bytes still kept, from the first of them on."""
        return b"".join(self.chunks)

    def keep_from(self, position: int) -> None:
        """No container will read again before byte `position`."""
        self.wanted = max(self.wanted, position)

    def drop_unwanted(self) -> None:
        """Forget the chunks no container will read again, and the oldest beyond `max_kept` bytes."""
        while self.chunks and (self.first + len(self.chunks[0]) <= self.wanted
                               or self.received - self.first > self.max_kept):
            self.first += len(self.chunks.popleft())


class PipeView(io.RawIOBase):
    """A pipe as a file beginning at byte `offset` of it (see PipeBytes), for FFmpeg to read. Once told
    where the audio stream's packets are (`heard`), it ends where they stop for a pause's bytes while
    the pipe goes on (`paused`): so that the audio's next stream can be looked for there."""

    def __init__(self, pipe: PipeBytes, offset: int):
        self.pipe = pipe
        self.position = offset
        self.ends = math.inf
        self.paused = False

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self.position >= self.ends:
            self.paused = True
            return b""
        start, data = self.pipe.read(self.position, size if size > 0 else PIPE_READ_BYTES)
        self.position = start + len(data)
        return data

    def heard(self, position: int, keep_before: int, pause: int | None) -> None:
        """A packet of the audio stream begins at byte `position` of the pipe: the pipe keeps the `keep_before`
        bytes before it (what another stream's overlap needs, see `audio.stream_after`), and where `pause` is
        given (MPEG-TS, whose streams change), the view goes on to `pause` bytes after it (see
        `audio.PauseLength`)."""
        if pause is not None:
            self.ends = position + pause
        self.pipe.keep_from(position - keep_before)


def pipe_view(container: av.container.InputContainer) -> PipeView | None:
    """The PipeView `container` reads, None where it reads a file."""
    source = getattr(container.file, "file", None)
    return source if isinstance(source, PipeView) else None


def pipe_of(container: av.container.InputContainer) -> PipeBytes | None:
    """The pipe `container` reads, None where it reads a file: what `read_from` reads again."""
    view = pipe_view(container)
    return None if view is None else view.pipe
