"""A token bucket per client (IP): BURST requests at once, then RATE per second; pure."""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Per-key token buckets, the least recently seen forgotten beyond MAX_KEYS."""

    def __init__(self, rate_per_second: float, burst: int, max_keys: int = 100_000) -> None:
        self.rate = rate_per_second
        self.burst = burst
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self._lock = threading.Lock()

    def acquire(self, key: str, now: float) -> float:
        """Take one token for KEY at time NOW (seconds); 0 when allowed, else seconds to wait."""
        with self._lock:
            bucket = self._buckets.pop(key, None) or _Bucket(float(self.burst), now)
            elapsed = max(now - bucket.updated, 0.0)
            bucket.tokens = min(float(self.burst), bucket.tokens + elapsed * self.rate)
            bucket.updated = now
            self._buckets[key] = bucket
            if len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return 0.0
            return (1.0 - bucket.tokens) / self.rate

    @staticmethod
    def retry_after(wait: float) -> int:
        """Whole seconds for a Retry-After header."""
        return max(1, math.ceil(wait))
