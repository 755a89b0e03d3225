"""The hybrid logical clock of Specs/hlc.md section 3: now, receive, observe, the drift
check and counter borrowing. A reading is the integer ms << 16 | counter."""
from . import dev
from .codec import Reject, U64

MAX_MS = (1 << 48) - 1
MAX_C = 0xFFFF
DEFAULT_MAX_DRIFT = 300_000


def ms(reading):
    return reading >> 16


def counter(reading):
    return reading & 0xFFFF


def bound(pt, max_drift):
    """pt + maxDrift with saturating addition (section 8)."""
    if dev.on("hlc-drift-bound-wraps"):
        return (pt + max_drift) % U64
    return min(pt + max_drift, U64 - 1)


def check_drift(reading, pt, max_drift):
    """Section 4: reject r.ms > pt + maxDrift (counter ignored; the bound is inclusive)."""
    if dev.on("hlc-drift-compares-raw-reading"):
        too_far = reading > bound(pt, max_drift) << 16
    elif dev.on("hlc-drift-bound-exclusive"):
        too_far = ms(reading) >= bound(pt, max_drift)
    else:
        too_far = ms(reading) > bound(pt, max_drift)
    if too_far:
        raise Reject("clockDriftExceeded", f"reading {reading} is more than {max_drift} ms ahead of {pt}")


class Clock:
    """A clock's whole state is `last`; every rule checks first and mutates last."""

    def __init__(self, last=0, max_drift=DEFAULT_MAX_DRIFT):
        self.last = last
        self.max_drift = max_drift

    def check_physical(self, pt):
        if pt > MAX_MS and not dev.on("hlc-no-physical-range-check"):
            raise Reject("physicalClockOutOfRange", f"physical time {pt}")

    def increment(self, t, pt):
        """The next reading after t: counter + 1, or borrow the next millisecond within
        the drift bound and 48 bits (section 5)."""
        if counter(t) < MAX_C:
            return t + 1
        if dev.on("hlc-counter-wraps"):
            return t - MAX_C
        if dev.on("hlc-no-borrowing"):
            raise Reject("clockCounterOverflow", "counter exhausted")
        next_ms = ms(t) + 1
        limit = bound(pt, self.max_drift)
        if dev.on("hlc-borrow-bound-exclusive"):
            limit -= 1
        if next_ms > limit or next_ms > MAX_MS:
            raise Reject("clockCounterOverflow", "counter exhausted beyond the drift bound")
        return next_ms << 16

    def now(self, pt):
        self.check_physical(pt)
        if pt > ms(self.last) or (dev.on("hlc-send-resets-on-equal-ms") and pt == ms(self.last)):
            result = pt << 16
        else:
            result = self.increment(self.last, pt)
        self.last = result
        return result

    def receive(self, r, pt):
        try:
            return self._receive(r, pt)
        except Reject:
            if dev.on("hlc-failed-receive-absorbs-remote"):
                self.last = max(self.last, r)
            raise

    def _receive(self, r, pt):
        self.check_physical(pt)
        if not dev.on("hlc-receive-skips-drift"):
            check_drift(r, pt, self.max_drift)
        l_ms = max(ms(self.last), ms(r), pt)
        if l_ms == ms(self.last) and l_ms == ms(r):
            base = self.last if dev.on("hlc-receive-ignores-remote-counter") else max(self.last, r)
            result = self.increment(base, pt)
        elif l_ms == ms(self.last):
            result = self.increment(self.last, pt)
        elif l_ms == ms(r):
            result = (l_ms << 16) if dev.on("hlc-receive-remote-ahead-resets-counter") else self.increment(r, pt)
        else:
            result = l_ms << 16
        self.last = result
        return result

    def observe(self, r, pt):
        if dev.on("hlc-observe-checks-physical"):
            self.check_physical(pt)
        if not dev.on("hlc-observe-skips-drift"):
            check_drift(r, pt, self.max_drift)
        if r > self.last:
            self.last = r
