"""The token bucket that bounds what one socket may send: its messages (the consumer) and its
presence updates (``realtime.presence``)."""

import time


class RateLimiter:
    """``rate`` messages a second on average, bursts up to ``burst``."""

    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, *, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self.tokens = float(burst)
        self.stamp = time.monotonic()

    def allow(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True

    def wait(self) -> float:
        """Seconds until the next message may go (an hour when the rate is 0)."""
        return max(0.0, (1 - self.tokens) / self.rate) if self.rate > 0 else 3600.0
