"""Arrival processes and load profiles: when each request is due, whatever the responses do.

A profile maps elapsed seconds to a target rate (requests per second); an arrival process turns
that rate into scheduled start times. Because start times never depend on responses, a slow
target cannot slow the load down (that is what makes the generator open-loop).
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections.abc import Iterator
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from common.durations import parse_duration


def _duration(value: object) -> object:
    """Text goes through the project's one duration syntax; numbers (and the rest) go on to pydantic."""
    return parse_duration(value) if isinstance(value, str) else value


#: Seconds, written as a number or in common.durations' syntax ('10s', '5m', '1h30m', '250ms').
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


class Users(_Profile):
    """Locust's shape: `users[i]` users during step i (each `step` seconds long), every user sending `per_user`
    requests a second on its own clock from the moment it joins, whatever its responses do (open loop).

    With constant arrivals a user sends at its join time and every 1/`per_user` s after, up to and including
    the moment it leaves (Locust starts a user with a request); with Poisson arrivals the users' requests
    together are a Poisson process at users x `per_user`.
    """

    kind: Literal["users"] = "users"
    users: list[Annotated[int, Field(ge=0)]] = Field(min_length=1)
    step: Duration = Field(gt=0)
    per_user: Rate = 1.0

    def rate(self, t: float) -> float:
        i = int(t // self.step)
        return self.users[i] * self.per_user if 0 <= i < len(self.users) else 0.0

    def sessions(self) -> list[tuple[float, float]]:
        """(join, leave) of every user's stay: user j stays while the step's count is at least j."""
        out = []
        for j in range(1, max(self.users) + 1):
            here = [n >= j for n in self.users]
            for present, group in itertools.groupby(enumerate(here), key=lambda item: item[1]):
                steps = [i for i, _ in group]
                if present:
                    out.append((steps[0] * self.step, (steps[-1] + 1) * self.step))
        return out

    def clock(self) -> Iterator[float]:
        """Every user's send times, merged in order (constant arrivals)."""
        if not self.per_user:
            return iter(())
        period = 1 / self.per_user

        def user(join: float, leave: float) -> Iterator[float]:
            return (join + k * period for k in range(math.floor((leave - join) / period + 1e-9) + 1))

        return heapq.merge(*(user(join, leave) for join, leave in self.sessions()))


Profile = Annotated[Constant | Ramp | Stages | Sine | Spike | Users, Field(discriminator="kind")]


def profile_length(profile: _Profile) -> float | None:
    """Seconds after which the profile is over; None when it goes on for ever (stages and users end)."""
    if isinstance(profile, Stages):
        return sum(s.duration for s in profile.stages)
    if isinstance(profile, Users):
        return profile.step * len(profile.users)
    return None


def peak_rate(profile: _Profile) -> float:
    """The highest rate the profile ever asks for."""
    if isinstance(profile, Constant):
        return profile.rate_
    if isinstance(profile, Ramp):
        return max(profile.start, profile.end)
    if isinstance(profile, Stages):
        return max([profile.start, *(s.target for s in profile.stages)])
    if isinstance(profile, Sine):
        return profile.mean + profile.amplitude
    if isinstance(profile, Spike):
        return max(profile.base, profile.peak_)
    if isinstance(profile, Users):
        return max(profile.users) * profile.per_user
    raise TypeError(f"unknown profile {profile!r}")


class Arrivals:
    """Scheduled start times (seconds from the run's start) for a profile: evenly spaced or Poisson.

    `looped` repeats a finite profile (the daemon's stages go round for ever); `scale` multiplies the
    profile's rate (replicas that share one scenario's total rate each play a share of it). `share=(k, n)`
    keeps arrivals k, k+n, k+2n, ... of the schedule: n worker processes with the same seed each take one
    share, and together they send exactly the one-process schedule.
    """

    #: When the rate is zero, look again this much later.
    IDLE_STEP = 0.05

    def __init__(self, profile: _Profile, process: Literal["constant", "poisson"], *, seed: int | None = None,
                 looped: bool = False, scale: float = 1.0, share: tuple[int, int] = (0, 1)) -> None:  # fmt: skip
        if not 0 <= share[0] < share[1]:
            raise ValueError(f"share {share}: expected (k, n) with 0 <= k < n")
        self.profile = profile
        self.share = share
        self._skip = share[0]  # arrivals to pass over before the next one of ours
        self.scale = scale
        self.poisson = process == "poisson"
        self.random = random.Random(seed)
        self.length = profile_length(profile)
        self.looped = looped and bool(self.length)
        self.t = 0.0
        # A constant profile with constant arrivals: t_n = n / rate, exact, no drift from summing floats.
        self._fixed = self.rate(0) if isinstance(profile, Constant) and not self.poisson else None
        self._n = 0
        # (scaled, a users profile has fractional users: the rate integration below follows it instead)
        own_clocks = isinstance(profile, Users) and not self.poisson and scale == 1
        self._users = profile.clock() if isinstance(profile, Users) and own_clocks else None
        self._cycle = 0.0  # the users' clock: the offset of the current loop

    def rate(self, t: float) -> float:
        if self.looped and self.length:
            t = t % self.length
        return self.profile.rate(t) * self.scale

    def next(self) -> float:
        """The next arrival of this share of the schedule; math.inf when a finite profile has no more."""
        n = self.share[1]
        if self._fixed is not None:  # arrival m is at m / rate: jump straight to ours
            self._n += self._skip + 1
            self._skip = n - 1
            self.t = (self._n - 1) / self._fixed if self._fixed > 0 else math.inf  # the first one at 0
            return self.t
        for _ in range(self._skip):
            self._one()
        self._skip = n - 1
        return self._one()

    def _one(self) -> float:
        """The schedule's next arrival.

        Integrates the rate in small steps until one arrival's worth (1, or an Exp(1) draw for Poisson)
        has accumulated, so a rate that starts at zero or changes fast is followed faithfully; at high
        rates that is one step per arrival.
        """
        if self._users is not None:
            return self._user_clock()
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

    def _user_clock(self) -> float:
        """The users profile with constant arrivals: each user's own clock (looped: cycle after cycle)."""
        assert self._users is not None and isinstance(self.profile, Users) and self.length
        for t in self._users:
            if self.looped and t >= self.length:  # (the send at the very end is the next cycle's first)
                break
            self.t = self._cycle + t
            return self.t
        if not self.looped:
            self.t = math.inf
            return self.t
        self._cycle += self.length
        self._users = self.profile.clock()
        return self._user_clock()
