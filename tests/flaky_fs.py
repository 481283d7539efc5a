"""A local filesystem whose reads of some files fail a given number of times, in worker processes only.

Used by the roll-up tests to make a task fail the way a network read fails (``OSError``), in a Dask
worker process (the driver, which reads the same files' footers, is never affected). The attempts are
counted in files of ``counter_dir``, so they add up across worker processes and retries.
"""
from __future__ import annotations

import os

from fsspec.implementations.local import LocalFileSystem


class FlakyFileSystem(LocalFileSystem):
    """``fail={"B.parquet": 1}``: the first open for reading of a path ending in B.parquet outside ``driver_pid``
    fails (one task may open a file more than once: ``attempts`` counts opens)."""

    cachable = False

    def __init__(self, fail: dict, counter_dir: str, driver_pid: int, **kw):
        super().__init__(**kw)
        self.fail, self.counter_dir, self.driver_pid = dict(fail), str(counter_dir), int(driver_pid)

    def _open(self, path, mode="rb", **kw):
        if "r" in mode and os.getpid() != self.driver_pid:
            for name, times in self.fail.items():
                if str(path).endswith(name) and self._count(name) <= times:
                    raise OSError(f"simulated network error reading {name}")
        return super()._open(path, mode=mode, **kw)

    def _count(self, name: str) -> int:
        """This attempt's number (1, 2, …) for ``name``, counted across processes."""
        os.makedirs(self.counter_dir, exist_ok=True)
        n = 1
        while True:
            try:
                os.close(os.open(os.path.join(self.counter_dir, f"{name}.{n}"), os.O_CREAT | os.O_EXCL))
                return n
            except FileExistsError:
                n += 1

    def attempts(self, name: str) -> int:
        return sum(1 for f in os.listdir(self.counter_dir) if f.startswith(name + ".")) \
            if os.path.isdir(self.counter_dir) else 0
