"""Writing files that hold personal data: atomically and readable by the owner only."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable


def write_private(path: str | os.PathLike, content: bytes | Callable[[BinaryIO], None]) -> Path:
    """Write ``path`` atomically with mode 0600.

    The bytes (or whatever ``content(fh)`` writes) go to a temporary file in the same
    folder, which is then renamed over ``path``: a reader never sees a half-written file,
    and a failure leaves the old file (if any) in place and no temporary file behind.

    :param content: the bytes, or a function that writes to the open binary file.
    :returns: the path written.
    :raises OSError: the folder cannot be created or written (full disk, read-only).
    """
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            if isinstance(content, (bytes, bytearray)):
                fh.write(content)
            else:
                content(fh)
        os.chmod(tmp, 0o600)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out
