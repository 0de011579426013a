"""Backup archives are secrets and restore treats an archive as untrusted input (real tar
files, the real `xuefa backup`/`xuefa restore` code paths)."""

from __future__ import annotations

import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from grading.records import backup


def _archive(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]], like: Path) -> Path:
    """A copy of the real archive ``like`` with ``members`` appended."""
    with tarfile.open(like, "r:gz") as src, tarfile.open(path, "w:gz") as out:
        for m in src:
            out.addfile(m, src.extractfile(m) if m.isfile() else None)
        for info, data in members:
            out.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def _file(name: str, data: bytes = b"x", mode: int = 0o644) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), mode
    return info, data


def _link(name: str, target: str, kind=tarfile.SYMTYPE) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info, None


@pytest.fixture
def made(datadir, records_url, tmp_path):
    out = tmp_path / "b.tar.gz"
    backup.backup(datadir, out)
    return out


def test_archive_is_created_private(made):
    assert stat.S_IMODE(os.stat(made).st_mode) == 0o600


@pytest.mark.parametrize("member", [
    _file("/tmp/xuefa-owned-by-archive"),
    _file("files/courses/../../../../tmp/xuefa-owned-by-archive"),
    _link("files/courses/evil", "/etc/shadow"),
    _link("files/courses/evil", "../../../../etc/shadow"),
    _link("files/courses/evil", "/etc/shadow", tarfile.LNKTYPE),
])
def test_restore_refuses_members_outside_the_target_before_changing_anything(
        datadir, made, tmp_path, member):
    bad = _archive(tmp_path / "bad.tar.gz", [member], made)
    (datadir.courses / "keep").mkdir()
    with pytest.raises(backup.RestoreRefused) as exc:
        backup.restore(datadir, bad, force=True)
    assert "拒绝恢复" in str(exc.value)
    assert (datadir.courses / "keep").is_dir()  # nothing was replaced
    assert not Path("/tmp/xuefa-owned-by-archive").exists()


def test_restore_refuses_device_files(datadir, made, tmp_path):
    info = tarfile.TarInfo("files/courses/dev")
    info.type, info.devmajor, info.devminor = tarfile.CHRTYPE, 1, 3
    bad = _archive(tmp_path / "bad.tar.gz", [(info, None)], made)
    with pytest.raises(backup.RestoreRefused):
        backup.restore(datadir, bad, force=True)


def test_restore_applies_no_setuid_or_writable_bits(datadir, made, tmp_path):
    bad = _archive(tmp_path / "modes.tar.gz", [
        _file("files/courses/c1/suid", b"#!/bin/sh\n", 0o4755),
        _file("files/courses/c1/open", b"x", 0o666),
        (lambda i: (setattr(i, "type", tarfile.DIRTYPE), setattr(i, "mode", 0o1777), (i, None))[-1])(
            tarfile.TarInfo("files/courses/c1/tmpdir")),
    ], made)
    backup.restore(datadir, bad, force=True)
    c1 = datadir.courses / "c1"
    assert stat.S_IMODE(os.stat(c1 / "suid").st_mode) & 0o7022 == 0
    assert stat.S_IMODE(os.stat(c1 / "open").st_mode) & 0o022 == 0
    assert stat.S_IMODE(os.stat(c1 / "tmpdir").st_mode) & 0o7022 == 0
    # the platform's own modes come back from DataDir.ensure(), not from the archive
    assert stat.S_IMODE(os.stat(datadir.exchange).st_mode) == 0o1777
    assert stat.S_IMODE(os.stat(datadir.courses).st_mode) == 0o700
