"""Arrival processes and load profiles: when each request is due, whatever the responses do.

A profile maps elapsed seconds to a target rate (requests per second); an arrival process turns
that rate into scheduled start times. Because start times never depend on responses, a slow
target cannot slow the load down (that is what makes the generator open-loop).
"""

from __future__ import annotations

import math
import random
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from contract.durations import parse_duration


def _duration(value: object) -> object:
    """Text goes through the project's one duration syntax; numbers (and the rest) go on to pydantic."""
    return parse_duration(value) if isinstance(value, str) else value


#: Seconds, written as a number or in contract.durations' syntax ('10s', '5m', '1h30m', '250ms').
Duration = Annotated[float, BeforeValidator(_duration), Field(ge=0)]
Rate = Annotated[float, Field(ge=0, description="requests per second")]


class _Profile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def rate(self, t: float) -> float:
        raise NotImplementedError


class Constant(_Profile):
    kind: Literal["constant"] = "constant"
    rate_: Rate = Field(alias="rate")

    def rate(self, t: float) -> float:
        return self.rate_


class Ramp(_Profile):
    """Linear from `start` to `end` over `over` seconds, then holds `end`."""

    kind: Literal["ramp"] = "ramp"
    start: Rate
    end: Rate
    over: Duration

    def rate(self, t: float) -> float:
        if t >= self.over or self.over == 0:
            return self.end
        return self.start + (self.end - self.start) * t / self.over


class Stage(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    duration: Duration
    target: Rate


class Stages(_Profile):
    """k6's ramping arrival rate: each stage moves linearly from the previous target to its own."""

    kind: Literal["stages"] = "stages"
    start: Rate = 0.0
    stages: list[Stage] = Field(min_length=1)

    def rate(self, t: float) -> float:
        previous = self.start
        for stage in self.stages:
            if t < stage.duration:
                return previous + (stage.target - previous) * t / stage.duration
            t -= stage.duration
            previous = stage.target
        return previous


class Sine(_Profile):
    """A daily cycle: mean + amplitude * sin(2π t / period + phase), never below zero."""

    kind: Literal["sine"] = "sine"
    mean: Rate
    amplitude: Rate
    period: Duration = 86400.0
    phase: float = 0.0

    def rate(self, t: float) -> float:
        return max(0.0, self.mean + self.amplitude * math.sin(2 * math.pi * t / self.period + self.phase))


class Spike(_Profile):
    """`base`, except `peak` for `length` seconds from `at` (and again every `every` seconds if set)."""

    kind: Literal["spike"] = "spike"
    base: Rate
    peak_: Rate = Field(alias="peak")
    at: Duration
    length: Duration
    every: Duration | None = None

    def rate(self, t: float) -> float:
        if self.every:
            t = t % self.every
        return self.peak_ if self.at <= t < self.at + self.length else self.base


Profile = Annotated[Constant | Ramp | Stages | Sine | Spike, Field(discriminator="kind")]


def profile_length(profile: _Profile) -> float | None:
    """Seconds after which the profile is over; None when it goes on for ever (only stages end)."""
    return sum(s.duration for s in profile.stages) if isinstance(profile, Stages) else None


class Arrivals:
    """Scheduled start times (seconds from the run's start) for a profile: evenly spaced or Poisson.

    `looped` repeats a finite profile (the daemon's stages go round for ever); `scale` multiplies the
    profile's rate (replicas that share one scenario's total rate each play a share of it).
    """

    #: When the rate is zero, look again this much later.
    IDLE_STEP = 0.05

    def __init__(self, profile: _Profile, process: Literal["constant", "poisson"], *, seed: int | None = None,
                 looped: bool = False, scale: float = 1.0) -> None:  # fmt: skip
        self.profile = profile
        self.scale = scale
        self.poisson = process == "poisson"
        self.random = random.Random(seed)
        self.length = profile_length(profile)
        self.looped = looped and bool(self.length)
        self.t = 0.0
        # A constant profile with constant arrivals: t_n = n / rate, exact, no drift from summing floats.
        self._fixed = self.rate(0) if isinstance(profile, Constant) and not self.poisson else None
        self._n = 0

    def rate(self, t: float) -> float:
        if self.looped and self.length:
            t = t % self.length
        return self.profile.rate(t) * self.scale

    def next(self) -> float:
        """The next arrival's time; math.inf when a finite profile has no more.

        Integrates the rate in small steps until one arrival's worth (1, or an Exp(1) draw for Poisson)
        has accumulated, so a rate that starts at zero or changes fast is followed faithfully; at high
        rates that is one step per arrival.
        """
        if self._fixed is not None:
            self._n += 1
            self.t = (self._n - 1) / self._fixed if self._fixed > 0 else math.inf  # the first one at 0
            return self.t
        need = self.random.expovariate(1.0) if self.poisson else 1.0
        t, step = self.t, self.IDLE_STEP
        bounded = self.length is not None and not self.looped
        while True:
            if bounded and t >= self.length:  # type: ignore[operator]
                self.t = math.inf
                return self.t
            rate = self.rate(t)
            if rate * step >= need:
                t += need / rate
                break
            need -= rate * step
            t += step
        self.t = t
        return t
