"""GRAS (shockmodel.gras): a published example, exact margins, signs, fixed points, loud failures."""

from __future__ import annotations

import numpy as np
import pytest

from shockmodel.errors import UserError
from shockmodel.gras import GrasError, gras


def test_published_example():
    """The worked example of Temurshoev, Miller & Bouwmeester (2013, 'A note on the GRAS method', Economic
    Systems Research 25(3): 361-367), first used by Junius & Oosterhaven (2003, ESR 15(1): 87-96): a 3 x 4
    prior with negative entries, row targets (15, 26, -1), column targets (9, 16, 17, -2). The expected
    solution is the one printed to 9 digits in the tests of Oliver Reiter's R implementation (doGRAS,
    zauster.gitlab.io/blog/2018/02/28/gras-algorithm-in-rcpparmadillo), which reproduces the paper's example;
    its values were taken at a looser stopping rule, hence the 1e-6 tolerance."""
    A = np.array([[7, 3, 5, -3], [2, 9, 8, 0], [-2, 0, 2, 0]], dtype=float)
    expected = np.array([
        [8.424340881, 3.375237362, 5.200422021, -2.000000263],
        [3.000997078, 12.624763744, 10.374239178, 0.0],
        [-2.425339135, 0.0, 1.425339135, 0.0],
    ])
    res = gras(A, [15, 26, -1], [9, 16, 17, -2])
    np.testing.assert_allclose(res.table, expected, atol=1e-6)
    np.testing.assert_allclose(res.table.sum(axis=1), [15, 26, -1], atol=1e-11)
    np.testing.assert_allclose(res.table.sum(axis=0), [9, 16, 17, -2], atol=1e-11)
    assert res.max_gap <= 1e-11 and res.iterations > 1


def _random_prior(rng, m, n, neg_share=0.15, zero_share=0.2):
    A = rng.uniform(1, 100, (m, n))
    A[rng.random((m, n)) < neg_share] *= -0.2
    A[rng.random((m, n)) < zero_share] = 0.0
    return A


def test_random_table_exact_margins_and_signs():
    rng = np.random.default_rng(7)
    A = _random_prior(rng, 30, 25)
    # targets from a perturbed table with the same sign pattern, so they are reachable
    T = A * rng.uniform(0.5, 2.0, A.shape)
    res = gras(A, T.sum(axis=1), T.sum(axis=0), tol=1e-12)
    X = res.table
    np.testing.assert_allclose(X.sum(axis=1), T.sum(axis=1), rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(X.sum(axis=0), T.sum(axis=0), rtol=1e-12, atol=1e-9)
    assert (np.sign(X) == np.sign(A)).all()  # signs kept, zeros stay zero
    assert res.max_gap_rel <= 1e-12


def test_row_groups_pin_each_part_of_a_row():
    """Partitioned rows: each row's cells in group 0 and group 1 meet their own targets (the domestic and
    foreign parts of a multi-regional table's sales)."""
    rng = np.random.default_rng(3)
    A = _random_prior(rng, 12, 12, neg_share=0.1, zero_share=0.0)
    group = (np.arange(12)[:, None] // 4 != np.arange(12)[None, :] // 4).astype(np.int8)  # 3 regions of 4
    T = A * rng.uniform(0.5, 2.0, A.shape)
    targets = np.stack([np.where(group == g, T, 0).sum(axis=1) for g in (0, 1)], axis=1)
    res = gras(A, targets, T.sum(axis=0), cell_group=group, tol=1e-12)
    X = res.table
    for g in (0, 1):
        np.testing.assert_allclose(np.where(group == g, X, 0).sum(axis=1), targets[:, g], rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(X.sum(axis=0), T.sum(axis=0), rtol=1e-12, atol=1e-9)
    assert (np.sign(X) == np.sign(A)).all()


def test_free_columns_one_step():
    A = np.array([[4.0, -1.0, 2.0], [0.0, 3.0, 3.0]])
    res = gras(A, [10.0, 3.0])
    np.testing.assert_allclose(res.table.sum(axis=1), [10.0, 3.0], rtol=1e-14)
    assert res.iterations == 1 and (res.s == 1).all()
    assert (np.sign(res.table) == np.sign(A)).all()


def test_prior_meeting_targets_is_returned_unchanged():
    rng = np.random.default_rng(11)
    A = _random_prior(rng, 20, 15)
    res = gras(A, A.sum(axis=1), A.sum(axis=0))
    np.testing.assert_allclose(res.table, A, rtol=1e-13, atol=1e-12)
    np.testing.assert_allclose(res.r, 1.0, rtol=1e-13)
    np.testing.assert_allclose(res.s, 1.0, rtol=1e-13)
    assert res.iterations == 1


def test_inconsistent_totals_raise_with_numbers():
    A = np.ones((3, 3))
    with pytest.raises(GrasError, match=r"row targets add up to 9.*column targets to 10"):
        gras(A, [3, 3, 3], [3, 3, 4])
    assert issubclass(GrasError, UserError) and issubclass(GrasError, ValueError)


def test_unreachable_targets_raise():
    A = np.array([[1.0, 2.0], [0.0, 0.0]])
    with pytest.raises(GrasError, match=r"unreachable target at row 1: target 2"):
        gras(A, [1.0, 2.0], [1.5, 1.5])
    # a negative target on a row with only positive entries
    B = np.array([[1.0, 2.0], [3.0, 4.0]])
    with pytest.raises(GrasError, match="unreachable target at row 0: target -1"):
        gras(B, [-1.0, 11.0], [4.0, 6.0])


def test_zero_pattern_that_cannot_fit_raises():
    # every target is reachable on its own, but the zeros make the system infeasible:
    # column 1 can only be filled from row 0, whose total (1) is below column 1's target (5)
    A = np.array([[1.0, 1.0], [1.0, 0.0]])
    with pytest.raises(GrasError, match="did not meet the targets"):
        gras(A, [1.0, 9.0], [5.0, 5.0], max_iter=500)
