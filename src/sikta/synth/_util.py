"""Small vectorized helpers shared by the generator modules.

Everything here works on whole numpy arrays: the generator never loops over
accounts or lines in Python, only over a handful of categories or levels.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa

#: random streams: one independent generator per (chunk, stream)
S_ACCOUNTS, S_LATENT, S_ORDERS, S_SUBS, S_USAGE, S_TICKETS = 1, 2, 3, 4, 5, 6
S_CONTACTS, S_SURVEY, S_INTERACTIONS, S_DIRTY = 7, 8, 9, 10
#: streams for things generated once per data set (chunk index 0)
S_PRODUCTS, S_DRIVERS = 101, 102

EPOCH = dt.date(1970, 1, 1)


def rng_for(seed: int, chunk: int, stream: int) -> np.random.Generator:
    """The generator of one (chunk, stream): chunks never share random state."""
    return np.random.default_rng(np.random.SeedSequence([seed, chunk, stream]))


def epoch_day(d: dt.date) -> int:
    return (d - EPOCH).days


def id_strings(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """``prefix`` + zero-padded ``numbers`` as an Arrow string array.

    Built straight from bytes: formatting 100M ids through Python strings
    would dominate the run time.
    """
    numbers = np.asarray(numbers, dtype=np.int64)
    n = len(numbers)
    if n and (numbers.min() < 0 or numbers.max() >= 10**width):
        raise ValueError(f"id numbers do not fit {width} digits")
    p = prefix.encode("ascii")
    size = len(p) + width
    buf = np.empty((n, size), dtype=np.uint8)
    if p:
        buf[:, : len(p)] = np.frombuffer(p, dtype=np.uint8)
    x = numbers.copy()
    for k in range(width - 1, -1, -1):  # loop over digit positions, not rows
        buf[:, len(p) + k] = 48 + x % 10
        x //= 10
    offsets = np.arange(0, (n + 1) * size, size, dtype=np.int32)  # chunks stay far below 2 GiB
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(buf))


def date_array(days: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    """Epoch days (int) as an Arrow date32 array; ``mask`` True means null."""
    return pa.array(np.asarray(days, dtype=np.int32), type=pa.date32(), mask=mask)


def ts_array(seconds: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    """Epoch seconds as an Arrow timestamp[us] array; ``mask`` True means null."""
    return pa.array(np.asarray(seconds, dtype=np.int64) * 1_000_000, type=pa.timestamp("us"), mask=mask)


def int_array(values: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    return pa.array(np.asarray(values, dtype=np.int64), type=pa.int64(), mask=mask)


def float_array(values: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    return pa.array(np.asarray(values, dtype=np.float64), type=pa.float64(), mask=mask)


def take_strings(categories, codes: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    """Category labels for integer ``codes`` (a dictionary decode)."""
    cats = categories if isinstance(categories, pa.Array) else pa.array(list(categories), type=pa.string())
    idx = pa.array(np.asarray(codes, dtype=np.int64), mask=mask)
    return cats.take(idx)


def const_strings(value: str, n: int) -> pa.Array:
    return pa.array([value], type=pa.string()).take(pa.array(np.zeros(n, dtype=np.int64)))


def choice_rows(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One category per row of a (n, k) probability matrix (rows need not be normalized)."""
    cum = np.cumsum(probs, axis=1)
    u = rng.random(len(probs)) * cum[:, -1]
    idx = (u[:, None] >= cum).sum(axis=1)
    return np.minimum(idx, probs.shape[1] - 1)


def gumbel_choice(rng: np.random.Generator, logits: np.ndarray) -> np.ndarray:
    """One category per row of a (n, k) logit matrix."""
    return np.argmax(logits + rng.gumbel(size=logits.shape), axis=1)


def group_starts(counts: np.ndarray) -> np.ndarray:
    """Start offset of each group when groups of ``counts`` are laid out one after another."""
    out = np.zeros(len(counts), dtype=np.int64)
    if len(counts) > 1:
        np.cumsum(counts[:-1], out=out[1:])
    return out


def rank_in_group(counts: np.ndarray) -> np.ndarray:
    """0, 1, ... within each group, for groups of ``counts`` laid out contiguously."""
    total = int(counts.sum())
    return np.arange(total, dtype=np.int64) - np.repeat(group_starts(counts), counts)


def uniform_int(rng: np.random.Generator, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Integers uniform in [lo, hi] row by row (hi >= lo)."""
    lo = np.asarray(lo, dtype=np.int64)
    span = np.asarray(hi, dtype=np.int64) - lo + 1
    return lo + np.floor(rng.random(np.broadcast(lo, span).shape) * span).astype(np.int64)
