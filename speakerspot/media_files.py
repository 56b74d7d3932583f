"""Which paths are recordings: media files told by their names, folders walked for them, a file known by what
it is whatever the path that names it, and a pipe (read once) told from a file."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

# Broadcast captures (MPEG-TS as DVB receivers, Topfield and Windows Media Center write it, MXF as
# broadcast archives keep it), video files and audio files; FFmpeg reads each by its content.
# .rec: a Topfield PVR's recording, MPEG-TS (a VDR recording's NAME.rec is a folder: see `split_recordings`)
# Recorders' and camcorders' (a DVD recorder's .vro, a TiVo's .ty, MythTV's old .nuv, a camcorder's .tod),
# broadcast playout's (.mxf, .gxf), older archives' (RealMedia, ASF, DV) and audio files. Not .ps (PostScript
# more often than MPEG-PS) nor .mod (a tracker's music more often than a camcorder's MPEG-PS).
MEDIA_EXTENSIONS = frozenset({".ts", ".m2ts", ".mts", ".m2t", ".trp", ".tp", ".tod", ".rec", ".wtv", ".dvr-ms",
                              ".ty", ".nuv", ".vro", ".mxf", ".gxf", ".dv",
                              ".mkv", ".mka", ".mp4", ".m4v", ".mov", ".webm", ".avi", ".mpg", ".mpeg", ".m2p",
                              ".vob", ".wmv", ".asf", ".rm", ".rmvb", ".flv", ".f4v", ".ogv", ".3gp", ".3g2",
                              ".wav", ".w64", ".flac", ".ogg", ".oga", ".opus", ".spx", ".mp3", ".mp2", ".mpa",
                              ".m4a", ".aac", ".ac3", ".eac3", ".ec3", ".dts", ".wma", ".ra", ".amr", ".wv",
                              ".ape", ".au", ".aif", ".aiff", ".caf"})


STANDARD_INPUT = Path("/dev/stdin")  # what "-" names on the command line


def recording_path(given: str | Path) -> Path:
    """The recording a command-line argument names: "-" is the standard input."""
    return STANDARD_INPUT if str(given) == "-" else Path(given)


def readable_once(path: str | Path) -> bool:
    """True for a pipe or device: what one opening reads is gone for the next, so it is opened once."""
    path = Path(path)
    return path.exists() and not path.is_file() and not path.is_dir()


def media_files(path: str | Path, patterns: tuple[str, ...] = ()) -> list[Path]:
    """`path` itself if it is a file; else the media files under it, recursively, in a stable order.

    Media files are those with a known extension, or matching one of the glob `patterns` if given.
    Hidden files and folders (names starting with ".") are passed over: a folder copied from a Mac
    holds a "._clip.wav" of metadata beside each "clip.wav", which no decoder reads, and an
    interrupted write leaves a hidden temporary (see `files.atomic_write`).
    """
    path = Path(path)
    if path.is_file():
        return [path]
    return [p for p in visible_files(path) if is_media(p, patterns)]


def visible_files(folder: Path, on_folder: Callable[[int], object] | None = None) -> list[Path]:
    """The files under `folder`, recursively, in a stable order, but hidden ones and those in hidden folders
    (see `media_files`). Symbolic links to folders are followed, as a media player's library does (an
    archive spread over disks, `pvr/disk2 -> /mnt/disk2/pvr`; until 2026-12-07 such a folder was passed
    over without a word), each folder walked once: a link back to a folder above is not a loop. A folder
    that cannot be read, and a link to what is not there (a disk not mounted) named as a folder or a media
    file, are named in a warning. `on_folder` is told how many files each folder walked held."""
    files, walked = [], set()

    def unreadable(error: OSError) -> None:
        log.warning("%s: cannot be read (%s): what it holds is passed over", error.filename, error.strerror)

    for parent, folders, names in os.walk(folder, onerror=unreadable, followlinks=True):
        real = os.path.realpath(parent)
        if real in walked:
            folders.clear()
            continue
        walked.add(real)
        folders[:] = sorted(name for name in folders if not name.startswith("."))
        for path in (Path(parent, name) for name in names if not name.startswith(".")):
            if path.is_file():
                files.append(path)
            elif path.is_symlink() and not path.exists() and (not path.suffix or is_media(path)):
                log.warning("%s: a symbolic link to %s, which is not there (a disk not mounted?): passed over",
                            path, os.readlink(path))
        if on_folder:
            on_folder(len(names))
    return sorted(files)


def same_file_key(path: Path) -> Path | tuple[int, int]:
    """What `path` is the same recording as another by: a file of several hard links by its device and
    inode (snapshots of an archive, `cp -al`, rsnapshot: each recording in every snapshot); else the file
    or folder its symbolic links lead to (a folder of links to recordings under readable names, as MythTV's
    `mythlink.pl` makes, beside the recordings themselves); else its absolute path (a pipe, a file not
    there). Only a file that counts several links is known by its inode: a network file system may number
    files in ways of its own, and it then counts one link each."""
    try:
        status = path.stat()  # once: a folder walk asks this of each of its files
    except OSError:
        return path.absolute()
    if stat.S_ISREG(status.st_mode) and status.st_nlink > 1:
        return status.st_dev, status.st_ino
    return Path(os.path.realpath(path)) if stat.S_ISREG(status.st_mode) or stat.S_ISDIR(status.st_mode) else (
        path.absolute())


def is_media(path: Path, patterns: tuple[str, ...] = ()) -> bool:
    """Whether `path` matches one of the glob `patterns`, or without them has a known media extension."""
    if patterns:
        return any(path.match(pattern) for pattern in patterns)
    return path.suffix.lower() in MEDIA_EXTENSIONS
