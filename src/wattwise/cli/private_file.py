"""Files that hold secrets (keys, passwords, password hashes), written so nobody else can read them."""

from __future__ import annotations

import os
from pathlib import Path


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by its owner only, from the first byte.

    Writing and then ``chmod`` left the file readable by everyone for a moment (and for good
    when the process died in between). A temporary file created with mode 0600 in the same
    folder is renamed over ``path``, so a reader sees the old file or the whole new one."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(temporary, 0o600)  # O_CREAT's mode is masked by umask and ignored for a left-over file
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
