"""The index folder on disk: an atomic swap of a built folder into place, and reads that never
mix two builds.

- ``swap_in``: on Linux one atomic exchange of the two folders (``renameat2`` with
  ``RENAME_EXCHANGE``), so the target holds the old or the new index at every instant.
  Elsewhere (or on a file system without it) two renames, the old folder kept as
  ``.<name>-old`` between them; ``current_folder`` then finds it, and the next swap puts it
  back first if a crash cut the two renames apart.
- ``FolderReader``: every file read through one handle on the folder, so a swap mid-way
  cannot hand a reader half of each build; a reader that finds its folder replaced gets
  ``SwappedWhileReading`` and reads again.
"""

from __future__ import annotations

import errno
import os
import shutil
import sys
from pathlib import Path
from types import TracebackType


class SwappedWhileReading(Exception):
    """The folder was replaced (or removed) by a build while its files were being read."""


def old_folder(target: Path) -> Path:
    """Where a two-rename swap keeps the previous index until the new one is in place."""
    return target.with_name(f".{target.name}-old")


def current_folder(directory: Path, marker: str) -> Path:
    """``directory``, or the old index kept beside it when a crash cut a swap in two.

    Args:
        directory: The index folder.
        marker: The file whose presence makes a folder an index (the manifest).
    """
    if not (directory / marker).exists():
        old = old_folder(directory)
        if (old / marker).exists():
            return old
    return directory


def sync_files(folder: Path, names: tuple[str, ...]) -> None:
    """Flush ``names`` in ``folder`` to disk (a power cut after the swap must not find an
    index of empty files)."""
    for name in names:
        fd = os.open(folder / name, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def swap_in(tmp: Path, target: Path, marker: str) -> None:
    """Put the built folder ``tmp`` in place of ``target``; at no instant is there no index."""
    old = old_folder(target)
    if not (target / marker).exists() and (old / marker).exists():
        # A crash between the two renames of an earlier swap: the kept old index goes back.
        if target.exists():
            shutil.rmtree(target)
        os.replace(old, target)
    if target.exists() and exchange(tmp, target):
        shutil.rmtree(tmp, ignore_errors=True)  # it holds the old index now
        return
    if old.exists():
        shutil.rmtree(old)
    if target.exists():
        os.replace(target, old)
    # Between these two renames only the kept old folder holds an index; loads use it.
    os.replace(tmp, target)
    shutil.rmtree(old, ignore_errors=True)


def exchange(a: Path, b: Path) -> bool:
    """Swap two folders in one atomic step; False where the system or file system cannot."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):  # a libc without it (glibc < 2.28, musl)
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EPERM):
        return False  # not supported here: two renames instead
    raise OSError(err, os.strerror(err), str(b))


class FolderReader:
    """Reads files of one folder through a handle on it (``with FolderReader(path) as r``).

    Raises (from ``read``):
        SwappedWhileReading: the folder was replaced or removed since it was opened.
        FileNotFoundError: the file is missing from a folder that is still in place.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))

    def __enter__(self) -> FolderReader:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        os.close(self._fd)

    def read(self, name: str) -> bytes:
        try:
            fd = os.open(name, os.O_RDONLY, dir_fd=self._fd)
        except FileNotFoundError:
            if self.replaced():
                raise SwappedWhileReading from None
            raise
        with os.fdopen(fd, "rb") as f:
            return f.read()

    def replaced(self) -> bool:
        """True when the path no longer names the folder this reader was opened on."""
        try:
            now, held = os.stat(self.folder), os.fstat(self._fd)
        except OSError:
            return True
        return (now.st_dev, now.st_ino) != (held.st_dev, held.st_ino) or held.st_nlink == 0
