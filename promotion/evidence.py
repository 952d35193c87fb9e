"""Is a challenger better than the champion beyond noise? A paired bootstrap of MdAPE.

Both models are scored on the same rows, so the comparison is paired: each bootstrap
sample draws row indices with replacement and takes the MdAPE of both models on those
same rows. The spread of the difference (challenger minus champion; negative means the
challenger errs less) over the samples is the noise a different draw of houses would
bring. The seed is fixed: the same inputs always give the same decision.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

# Resamples are drawn in blocks so a million-row evaluation set needs bounded memory.
_BLOCK_CELLS = 4_000_000


@dataclass(frozen=True)
class PairedTest:
    """Challenger minus champion MdAPE on the same rows, with its confidence interval."""

    rows: int
    champion_mdape: float
    challenger_mdape: float
    difference: float  # challenger - champion: negative is better
    low: float  # the confidence interval of the difference
    high: float
    confidence: float
    margin: float  # the improvement (in MdAPE) a challenger must show beyond noise
    samples: int

    @property
    def better(self) -> bool:
        """Better beyond noise and by at least the margin: the whole interval below -margin."""
        return self.high < -self.margin

    @property
    def worse(self) -> bool:
        """Worse beyond noise: the whole interval above zero."""
        return self.low > 0

    def describe(self) -> str:
        return (
            f"MdAPE {self.challenger_mdape:.4f} vs {self.champion_mdape:.4f} on {self.rows} rows, "
            f"difference {self.difference:+.4f}, {self.confidence:.0%} interval "
            f"[{self.low:+.4f}, {self.high:+.4f}]"
        )

    def record(self) -> dict[str, float | int | bool]:
        return {**asdict(self), "better": self.better, "worse": self.worse}


def paired_mdape_test(
    champion_errors: np.ndarray,
    challenger_errors: np.ndarray,
    *,
    confidence: float = 0.95,
    margin: float = 0.0,
    samples: int = 1000,
    seed: int = 0,
) -> PairedTest:
    """Percentile bootstrap interval of the MdAPE difference from per-row absolute % errors."""
    champion_errors = np.asarray(champion_errors, dtype=np.float64)
    challenger_errors = np.asarray(challenger_errors, dtype=np.float64)
    if champion_errors.shape != challenger_errors.shape or champion_errors.ndim != 1:
        raise ValueError("a paired test needs one error per row for both models, same rows")
    rows = len(champion_errors)
    if rows == 0:
        raise ValueError("a paired test needs at least one row")
    if not 0.0 < confidence < 1.0:
        raise ValueError("confidence must be strictly between 0 and 1")
    rng = np.random.default_rng(seed)
    differences = np.empty(samples)
    block = max(1, _BLOCK_CELLS // rows)
    for start in range(0, samples, block):
        count = min(block, samples - start)
        index = rng.integers(0, rows, size=(count, rows))
        differences[start : start + count] = np.median(
            challenger_errors[index], axis=1
        ) - np.median(champion_errors[index], axis=1)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(differences, [tail, 1.0 - tail])
    champion_mdape = float(np.median(champion_errors))
    challenger_mdape = float(np.median(challenger_errors))
    return PairedTest(
        rows=rows,
        champion_mdape=champion_mdape,
        challenger_mdape=challenger_mdape,
        difference=challenger_mdape - champion_mdape,
        low=float(low),
        high=float(high),
        confidence=confidence,
        margin=margin,
        samples=samples,
    )
