"""Rasters kept out of core: memory-mapped temporary files whose pages the process can give back.

The in-core terrain (:class:`~gis_planner.hazards.susceptibility.Terrain`) keeps ~40 bytes a cell of
rasters (routing, accumulations, slope, curvatures, ...) that each zone rule reads only in part and only
for a while. :class:`MappedStore` copies such an array into a file without a name (``O_TMPFILE`` through
:func:`tempfile.TemporaryFile`, written with ``write``: nothing of it is resident in the process) and
hands back an array on a shared memory map of that file. Reading it faults its pages in (from the page
cache or the disk); :meth:`MappedStore.release` drops every page of the store's maps from the process
(``madvise(MADV_DONTNEED)`` on a ``MAP_SHARED`` file map: the data stay in the file, written pages
included, and come back on the next read). A mere memory map is not enough: resident file pages count in
the peak RSS (``getrusage``) like any other.

Cleanup is certain: the files have no name from the start, so the kernel frees them when the last map of
them goes (the arrays are collected, or the process ends in any way).

>>> store = MappedStore(min_bytes=0)
>>> a = store.put(np.arange(6.0).reshape(2, 3))
>>> store.owns(a), a.tolist()
(True, [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]])
>>> store.release(); a[1, 2] = 7.0; store.release(); float(a[1, 2])   # written pages survive a release
7.0
"""
from __future__ import annotations

import mmap
import os
import tempfile
import weakref

import numpy as np

from ..allocator import malloc_trim

_BAND_BYTES = 16 << 20          # written a band at a time: no whole copy of the array for the file
MIN_BYTES = 1 << 20             # smaller arrays stay in memory (a file and a map each would cost more)


def fs_type(path: str, mounts: str | None = None) -> str | None:
    """The file system type of the mount that holds ``path`` (the longest mount point that is a prefix of it),
    from ``/proc/mounts`` (or the text ``mounts``); None when unknown (not Linux).

    >>> fs_type("/tmp/x", "/dev/vda1 / ext4 rw 0 0\\ntmpfs /tmp tmpfs rw 0 0\\n")
    'tmpfs'
    >>> fs_type("/var/tmp", "/dev/vda1 / ext4 rw 0 0\\ntmpfs /tmp tmpfs rw 0 0\\n")
    'ext4'
    """
    if mounts is None:
        try:
            with open("/proc/mounts", encoding="utf-8") as fh:
                mounts = fh.read()
        except OSError:
            return None
    best, kind = "", None
    path = os.path.abspath(path)
    for line in mounts.splitlines():
        parts = line.split()
        if len(parts) < 3:
            continue
        point = parts[1].replace("\\040", " ")
        inside = path == point or path.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, kind = point, parts[2]
    return kind


def default_dir(mounts: str | None = None, environ=None) -> str:
    """Where the store's files go by default: the system's temporary folder, unless it is a ``tmpfs`` (RAM,
    Debian's ``/tmp`` since 13) and ``TMPDIR`` does not name it: then ``/var/tmp`` (on disk), when writable.
    Files in RAM would take the memory the store exists to give back.

    >>> m = f"/dev/vda1 / ext4 rw 0 0\\ntmpfs {tempfile.gettempdir()} tmpfs rw 0 0\\n"   # the temporary folder in RAM
    >>> default_dir(m, {}) == ("/var/tmp" if os.access("/var/tmp", os.W_OK) else tempfile.gettempdir())
    True
    >>> default_dir(m, {"TMPDIR": tempfile.gettempdir()}) == tempfile.gettempdir()   # named by the user: kept
    True
    >>> default_dir("/dev/vda1 / ext4 rw 0 0\\n", {}) == tempfile.gettempdir()      # on disk: kept
    True
    """
    environ = os.environ if environ is None else environ
    tmp = tempfile.gettempdir()
    if "TMPDIR" not in environ and fs_type(tmp, mounts) == "tmpfs" and os.access("/var/tmp", os.W_OK):
        return "/var/tmp"
    return tmp


class MappedStore:
    """Arrays in shared memory maps of unnamed temporary files (in ``workdir``, default :func:`default_dir`);
    arrays under ``min_bytes`` (default :data:`MIN_BYTES`) are left in memory."""

    def __init__(self, workdir=None, min_bytes: int | None = None):
        self.workdir = default_dir() if workdir is None else os.fspath(workdir)
        self.min_bytes = MIN_BYTES if min_bytes is None else int(min_bytes)
        self._maps: weakref.WeakValueDictionary[int, mmap.mmap] = weakref.WeakValueDictionary()

    def __getstate__(self):
        # a pickled or deep-copied terrain carries its arrays by value (in memory); the copy's store
        # starts empty (the maps are this process's)
        return {"workdir": self.workdir, "min_bytes": self.min_bytes}

    def __setstate__(self, state):
        self.__init__(**state)

    def _map_of(self, a) -> mmap.mmap | None:
        """The store's map under ``a`` (a view of one of its arrays), else None."""
        while a is not None:
            if isinstance(a, mmap.mmap):
                return a if self._maps.get(id(a)) is a else None
            a = getattr(a, "base", None)
        return None

    def owns(self, a) -> bool:
        return self._map_of(a) is not None

    def put(self, a):
        """``a`` (an array of at least ``min_bytes``) as an array on a map of its own file; anything else
        (None, small arrays, arrays the store already holds) as it is. The caller drops its references to
        ``a`` to free its memory."""
        if not isinstance(a, np.ndarray) or a.nbytes < max(self.min_bytes, 1) or self.owns(a):
            return a
        if isinstance(a, np.memmap) and isinstance(getattr(a, "_mmap", None), mmap.mmap):
            self._maps[id(a._mmap)] = a._mmap   # already a file map (the tiled path): only released
            return a
        flat = np.ascontiguousarray(a).reshape(-1)
        step = max(1, _BAND_BYTES // a.itemsize)
        with tempfile.TemporaryFile(dir=self.workdir, prefix="gis_planner_terrain_") as fh:
            fd = fh.fileno()
            for i in range(0, flat.size, step):
                view = memoryview(flat[i:i + step]).cast("B")
                while len(view):
                    view = view[os.write(fd, view):]
            mm = mmap.mmap(fd, a.nbytes)        # MAP_SHARED; the map keeps the unnamed file
        self._maps[id(mm)] = mm
        return np.ndarray(a.shape, dtype=a.dtype, buffer=mm)

    def release(self) -> None:
        """Drop the resident pages of every map of the store from the process (the data stay), and the
        free pages of the C heap (``malloc_trim``: the 10-40 MB temporaries of the zone rules freed into
        the heap stay resident otherwise, ~100 MB more at 10 M cells by the last zone rule)."""
        dontneed = getattr(mmap, "MADV_DONTNEED", None)    # (not on Windows: the pages stay until unmapped)
        for mm in list(self._maps.values()):
            try:
                if dontneed is not None:
                    mm.madvise(dontneed)
            except ValueError:                  # closed meanwhile
                pass
        malloc_trim()


def sparse_zeros(n: int, dtype=np.float64) -> np.ndarray:
    """``np.zeros(n, dtype)`` whose pages become resident only where written (e.g. the state of a runout
    that reaches a few per cent of the cells): an anonymous private map of its own, never touched here
    (reading an unwritten page maps the kernel's zero page: not resident). ``np.zeros`` is not enough:
    numpy advises transparent huge pages on large arrays (one write then makes 2 MB resident), and a
    heap ``calloc`` may clear reused memory page by page; a shared anonymous map (``mmap``'s default)
    makes every page read resident.

    >>> a = sparse_zeros(3, np.int32); a[1] = 5; a.tolist()
    [0, 5, 0]
    """
    dtype = np.dtype(dtype)
    nbytes = int(n) * dtype.itemsize
    if nbytes < MIN_BYTES or not hasattr(mmap, "MAP_PRIVATE"):    # (no MAP_PRIVATE: Windows)
        return np.zeros(int(n), dtype)
    return np.frombuffer(mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE), dtype=dtype)
