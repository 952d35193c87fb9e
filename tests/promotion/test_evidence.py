"""The paired bootstrap test on errors whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from promotion.evidence import paired_mdape_test


def errors(rows: int, seed: int) -> np.ndarray:
    return np.abs(np.random.default_rng(seed).normal(0.0, 0.15, rows))


def test_a_clearly_better_challenger_is_better_beyond_noise():
    champion = errors(400, 1)
    test = paired_mdape_test(champion, champion * 0.7, margin=0.005)
    assert test.better and not test.worse
    assert test.difference == pytest.approx(np.median(champion) * 0.7 - np.median(champion))
    assert test.low <= test.difference <= test.high < -0.005


def test_the_same_model_is_not_better():
    champion = errors(300, 2)
    test = paired_mdape_test(champion, champion.copy())
    assert test.difference == 0 and test.low == 0 and test.high == 0
    assert not test.better and not test.worse


def test_noise_alone_is_not_evidence():
    # Two models whose errors come from the same distribution: small sample, no evidence.
    test = paired_mdape_test(errors(60, 3), errors(60, 4))
    assert test.low < 0 < test.high
    assert not test.better and not test.worse


def test_a_small_real_gain_is_refused_when_the_margin_asks_for_more():
    champion = errors(2000, 5)
    challenger = champion * 0.97  # 3% fewer error everywhere: certain, but about 0.003
    assert paired_mdape_test(champion, challenger, margin=0.0).better
    assert not paired_mdape_test(champion, challenger, margin=0.01).better


def test_a_worse_challenger_is_worse_and_the_seed_fixes_the_interval():
    champion = errors(500, 6)
    first = paired_mdape_test(champion, champion * 1.5, seed=7)
    again = paired_mdape_test(champion, champion * 1.5, seed=7)
    assert first.worse and not first.better
    assert (first.low, first.high) == (again.low, again.high)


def test_higher_confidence_gives_a_wider_interval():
    champion, challenger = errors(200, 8), errors(200, 9)
    narrow = paired_mdape_test(champion, challenger, confidence=0.8)
    wide = paired_mdape_test(champion, challenger, confidence=0.99)
    assert wide.low < narrow.low and wide.high > narrow.high


def test_unpaired_or_empty_inputs_are_refused():
    with pytest.raises(ValueError, match="same rows"):
        paired_mdape_test(np.ones(3), np.ones(4))
    with pytest.raises(ValueError, match="at least one row"):
        paired_mdape_test(np.array([]), np.array([]))
