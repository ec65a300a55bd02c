"""Files holding personal data (mail copies, reports, bundles, SAR exports) are written
atomically and readable by the owner only."""

from __future__ import annotations

import os
import stat

import pytest

from monitor.files import write_private


def test_written_0600_and_replaced_whole(tmp_path):
    p = write_private(tmp_path / "sub" / "report.html", b"first")
    assert p.read_bytes() == b"first" and stat.S_IMODE(os.stat(p).st_mode) == 0o600
    write_private(p, lambda fh: fh.write(b"second"))
    assert p.read_bytes() == b"second"
    assert sorted(x.name for x in p.parent.iterdir()) == ["report.html"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    p = write_private(tmp_path / "bundle.zip", b"old")

    def boom(fh):
        fh.write(b"half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        write_private(p, boom)
    assert p.read_bytes() == b"old"
    assert sorted(x.name for x in tmp_path.iterdir()) == ["bundle.zip"]
