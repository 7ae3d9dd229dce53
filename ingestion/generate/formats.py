"""Vectorised text formatting of ids, dates, timestamps and money."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt

Arr = npt.NDArray[Any]
DAY = 86_400
EPOCH = dt.date(1970, 1, 1)


def day_number(d: dt.date) -> int:
    return (d - EPOCH).days


def day_date(n: int) -> dt.date:
    return EPOCH + dt.timedelta(days=int(n))


def int_text(nums: Arr, width: int = 1) -> Arr:
    """Decimal text of non-negative integers, zero-padded to ``width`` (object array).

    Vectorised: digits are computed as a byte matrix and viewed as fixed-width strings.
    """
    values = np.asarray(nums, dtype=np.int64)
    out = np.empty(len(values), dtype=object)
    if len(values) == 0:
        return out
    n_digits = np.ones(len(values), dtype=np.int64)
    for k in range(1, 19):
        n_digits += values >= 10**k
    lengths = np.maximum(n_digits, width)
    for length in np.unique(lengths).tolist():
        sel = np.flatnonzero(lengths == length)
        powers = 10 ** np.arange(length - 1, -1, -1, dtype=np.int64)
        digits = ((values[sel, None] // powers) % 10 + 48).astype(np.uint8)
        text = np.ascontiguousarray(digits).view(f"S{length}").ravel()
        out[sel] = text.astype(f"U{length}").astype(object)
    return out


def ids(prefix: str, nums: Arr, width: int) -> Arr:
    """``PAT000001``-style ids as an object array."""
    out: Arr = prefix + int_text(nums, width)
    return out


@lru_cache(maxsize=1)
def _time_of_day() -> Arr:
    return np.array(
        [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(DAY)], dtype=object
    )


def dates(days: Arr) -> Arr:
    """ISO dates (``YYYY-MM-DD``) of day numbers."""
    if len(days) == 0:
        return np.array([], dtype=object)
    uniq, inv = np.unique(days, return_inverse=True)
    text = np.array([day_date(int(d)).isoformat() for d in uniq], dtype=object)
    return text[inv]


def timestamps(ts: Arr) -> Arr:
    """``YYYY-MM-DD HH:MM:SS`` of int64 seconds since the epoch."""
    if len(ts) == 0:
        return np.array([], dtype=object)
    day = ts // DAY
    out: Arr = dates(day) + " " + _time_of_day()[ts - day * DAY]
    return out


_CENTS = np.array([f".{i:02d}" for i in range(100)], dtype=object)


def money_text(cents: Arr) -> Arr:
    """``1234.50`` for 123450 cents (the claims files carry money as text)."""
    values = np.asarray(cents, dtype=np.int64)
    a = np.abs(values)
    out: Arr = int_text(a // 100) + _CENTS[a % 100]
    neg = values < 0
    if neg.any():
        out[neg] = "-" + out[neg]
    return out


def money_float(rng: np.random.Generator, cents: Arr) -> Arr:
    """Dollars as float, some with the float noise of real exports (123.45000000000002)."""
    value = np.asarray(cents, dtype=np.float64) / 100.0
    u = rng.random(len(value))
    u[value == 0] = 0.5  # zero stays exactly zero
    value = np.where(u < 0.22, np.nextafter(value, np.inf), value)
    value = np.where(u > 0.92, np.nextafter(value, -np.inf), value)
    return value


def null_where(values: Arr, mask: Arr) -> Arr:
    out = values.astype(object)
    out[mask] = None
    return out


def keep_where(mask: Arr, values: Arr) -> Arr:
    """``values`` where ``mask`` holds, None elsewhere (object array)."""
    out = np.asarray(values).astype(object)
    out[~np.asarray(mask, dtype=np.bool_)] = None
    return out
