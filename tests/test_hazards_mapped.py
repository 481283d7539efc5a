"""Where the out-of-core terrain keeps its files (gis_planner.hazards.mapped.default_dir): never in a RAM tmpfs
it was not told to use, since files there would take the memory the store exists to give back."""
import os
import tempfile

from gis_planner.hazards import mapped

MOUNTS = ("/dev/vda1 / ext4 rw 0 0\n"
          "tmpfs /run tmpfs rw 0 0\n"
          "/dev/vdb1 /data\\040disk xfs rw 0 0\n"
          "tmpfs /data\\040disk/ram tmpfs rw 0 0\n")


def test_fs_type_takes_the_longest_mount_point_holding_the_path():
    assert mapped.fs_type("/", MOUNTS) == "ext4"
    assert mapped.fs_type("/run/user/1000", MOUNTS) == "tmpfs"
    assert mapped.fs_type("/running", MOUNTS) == "ext4"            # a prefix of the name is not the mount
    assert mapped.fs_type("/data disk/x", MOUNTS) == "xfs"         # /proc/mounts writes a space as \040
    assert mapped.fs_type("/data disk/ram/x", MOUNTS) == "tmpfs"
    assert mapped.fs_type("/x", "") is None


def test_default_dir_leaves_a_ram_tmpfs_for_var_tmp_unless_tmpdir_names_it():
    tmp = tempfile.gettempdir()
    in_ram = f"/dev/vda1 / ext4 rw 0 0\ntmpfs {tmp} tmpfs rw 0 0\n"
    expect = "/var/tmp" if os.access("/var/tmp", os.W_OK) else tmp
    assert mapped.default_dir(in_ram, {}) == expect
    assert mapped.default_dir(in_ram, {"TMPDIR": tmp}) == tmp       # the user's choice is kept
    assert mapped.default_dir("/dev/vda1 / ext4 rw 0 0\n", {}) == tmp


def test_a_store_without_a_folder_uses_the_default_dir(monkeypatch, tmp_path):
    monkeypatch.setattr(mapped, "default_dir", lambda: str(tmp_path))
    store = mapped.MappedStore(min_bytes=0)
    assert store.workdir == str(tmp_path)
    import numpy as np
    a = store.put(np.arange(1000.0))
    assert store.owns(a) and float(a.sum()) == 499500.0
    assert list(tmp_path.iterdir()) == []                           # unnamed files: nothing left to clean
