"""The client-side ARM rate limiter, on a fake clock."""
from __future__ import annotations

import pytest

from watchdog.azure import ARM_READ, ARM_WRITE, ArmRateLimiter, Bucket, SweepDeadline, arm_subscription
from tests.factories import ManualClock

SUB = "6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f"




def limiter(clock: ManualClock) -> ArmRateLimiter:
    return ArmRateLimiter({ARM_READ: Bucket(10, 5.0), ARM_WRITE: Bucket(5, 1.0)}, share=0.8,
                          clock=clock, sleep=clock.sleep)


def test_a_burst_of_80_percent_then_80_percent_of_the_refill_rate():
    clock = ManualClock()
    lim = limiter(clock)
    for _ in range(8):
        lim.acquire(SUB, ARM_READ)
    assert clock.sleeps == []
    lim.acquire(SUB, ARM_READ)
    assert clock.sleeps == [pytest.approx(1 / 4.0)]  # 4 tokens/s = 80 % of 5
    lim.acquire(SUB.upper(), ARM_READ)  # same subscription, any case
    assert clock.sleeps[-1] == pytest.approx(1 / 4.0)
    lim.acquire(SUB, ARM_WRITE)  # writes have their own bucket
    assert len(clock.sleeps) == 2


def test_the_remaining_header_lowers_the_tokens_to_keep_the_headroom():
    clock = ManualClock()
    lim = limiter(clock)
    lim.observe(SUB, ARM_READ, 3)  # someone else spent the bucket: 3 left, headroom 2
    assert lim.affordable(SUB, ARM_READ, 0) == 1
    lim.observe(SUB, ARM_READ, 10)  # never raises what the limiter allows
    assert lim.affordable(SUB, ARM_READ, 0) == 1
    lim.acquire(SUB, ARM_READ)
    lim.acquire(SUB, ARM_READ)
    assert clock.sleeps == [pytest.approx(1 / 4.0)]


def test_no_token_before_the_deadline_raises_and_takes_nothing():
    clock = ManualClock()
    lim = limiter(clock)
    lim.observe(SUB, ARM_READ, 0)  # a 429: 2 below zero
    with pytest.raises(SweepDeadline):
        lim.acquire(SUB, ARM_READ, deadline=0.5)
    assert clock.sleeps == [] and lim.affordable(SUB, ARM_READ, 1.0) == 2


def test_the_subscription_of_an_arm_url():
    assert arm_subscription(f"https://management.azure.com/subscriptions/{SUB.upper()}/providers/x?a=1") == SUB
    assert arm_subscription("https://management.azure.com/providers/Microsoft.SignalRService/operations") == ""
