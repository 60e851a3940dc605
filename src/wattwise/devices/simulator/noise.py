"""Counter-based randomness: every random number is a pure function of (seed, stream, index).

The stepping model and the vectorised generator must agree sample for sample, whatever
the chunking, so nothing here keeps a generator state: a value at time ``t`` is the hash
of ``t`` (or of the knot index around it) with the household's seed. SplitMix64 is the
mixer: cheap on numpy uint64 arrays and well distributed.
"""

from __future__ import annotations

import zlib

import numpy as np
from numpy.typing import NDArray

_MASK = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_STREAM_MUL = 0xD1B54A32D192ED03
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_TWO32 = float(1 << 32)

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


def stream_id(name: str) -> int:
    """Name a random stream by a stable number (independent of table order)."""
    return zlib.crc32(name.encode())


def _hash(seed: int, stream: int, k: IntArray) -> NDArray[np.uint64]:
    """SplitMix64 of (seed, stream, k) for each k."""
    base = np.uint64((seed * _GOLDEN + stream * _STREAM_MUL) & _MASK)
    z = k.astype(np.uint64) * np.uint64(_GOLDEN) + base
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


def uniform_pair(seed: int, stream: int, k: IntArray) -> tuple[FloatArray, FloatArray]:
    """Two independent uniforms in [0, 1) for each k, from the two halves of one hash."""
    h = _hash(seed, stream, k)
    # int64 → float64 converts far faster than uint64 → float64; both halves fit in int64
    low = (h & np.uint64(0xFFFFFFFF)).view(np.int64).astype(np.float64) / _TWO32
    high = (h >> np.uint64(32)).view(np.int64).astype(np.float64) / _TWO32
    return low, high


def uniform(seed: int, stream: int, k: IntArray) -> FloatArray:
    """One uniform in [0, 1) for each k."""
    return uniform_pair(seed, stream, k)[0]


def normal(seed: int, stream: int, k: IntArray) -> FloatArray:
    """An approximately standard normal value for each k (Irwin–Hall of four uniforms)."""
    a, b = uniform_pair(seed, stream, k)
    c, d = uniform_pair(seed, stream + 1, k)
    value: FloatArray = (a + b + c + d - 2.0) * np.sqrt(3.0)
    return value


def smooth_noise(seed: int, stream: int, t_ms: IntArray, knot_ms: int) -> FloatArray:
    """A slowly wandering random signal in [-1, 1]: random knots every ``knot_ms``, joined
    by straight lines. Positions are measured from the epoch, never from the first
    sample, so any slice of time gets exactly the same values."""
    position = t_ms / float(knot_ms)
    first = int(t_ms.min()) // knot_ms
    knots = np.arange(first, int(t_ms.max()) // knot_ms + 2, dtype=np.int64)
    values = uniform(seed, stream, knots) * 2.0 - 1.0
    value: FloatArray = np.interp(position, knots.astype(np.float64), values)
    return value
