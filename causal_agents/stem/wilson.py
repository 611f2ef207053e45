"""Wilson score interval for a binomial proportion (the error bars of
"Continual, interactive, causal agents" (de Freitas and Ortega, 2026, fig. 4).

Chosen over the normal (Wald) interval because it stays inside [0, 1] and keeps its coverage
at k = 0, k = n and small n, which is where per-skill accuracies (n = 10 each) live.
"""

from __future__ import annotations

import math

Z95 = 1.959963984540054  # two-sided 95% normal quantile


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """(low, high) Wilson score interval for k successes in n trials; (0, 1) when n = 0."""
    if n < 0 or k < 0 or k > n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    if n == 0:
        return 0.0, 1.0
    p = k / n
    z2 = z * z
    denom = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    # At k = 0 and k = n one end is exactly 0 or 1; don't report float noise instead.
    lo = 0.0 if k == 0 else max(0.0, centre - half)
    hi = 1.0 if k == n else min(1.0, centre + half)
    return lo, hi
