"""The allocator setting every AutoNAD process gets on import (autonad_core.runtime)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# A fresh interpreter per case: the thresholds are process state. mallinfo2().hblks counts the
# chunks glibc serves from their own mmap; a freed 4 MiB buffer must not be one once tuned.
PROBE = """
import ctypes, json, sys
class MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
                 "fordblks", "keepcost")]
libc = ctypes.CDLL(None)
libc.mallinfo2.restype = MallInfo2
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = (ctypes.c_void_p,)
import autonad_core, autonad_core.runtime as runtime
before = libc.mallinfo2().hblks
buffer = libc.malloc(4 << 20)
during = libc.mallinfo2().hblks
libc.free(buffer)
print(json.dumps({"applied": runtime.tune_allocator(), "mmapped_chunks_added": during - before}))
"""


def _probe(**env: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        env={**os.environ, "PYTHONPATH": REPO, **env},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def _glibc() -> bool:
    try:
        import ctypes

        ctypes.CDLL(None).mallinfo2  # noqa: B018
    except (OSError, AttributeError):
        return False
    return True


@pytest.mark.skipif(not _glibc(), reason="the setting applies to glibc only")
def test_import_keeps_large_buffers_in_the_heap():
    tuned = _probe()
    assert tuned == {"applied": True, "mmapped_chunks_added": 0}


@pytest.mark.skipif(not _glibc(), reason="the setting applies to glibc only")
def test_opt_out_keeps_glibcs_defaults():
    untouched = _probe(AUTONAD_TUNE_MALLOC="0")
    assert untouched == {"applied": False, "mmapped_chunks_added": 1}
