"""How long a Job runs: a seeded lognormal, so most runs take seconds and a few take much longer."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Durations:
    """Job run times in seconds: lognormal around ``median`` with spread ``sigma``, cut at ``cap``."""

    median: float = 2.0
    sigma: float = 0.8
    cap: float = 30.0

    def sampler(self, seed: int) -> random.Random:
        return random.Random(seed)

    def draw(self, rng: random.Random) -> float:
        return min(self.cap, rng.lognormvariate(math.log(self.median), self.sigma))
