"""MarkovChain.stationary_distribution: graph structure + GTH, against independent answers.

Oracles: closed forms worked out by hand (two-state chains, detailed balance
of tridiagonal chains, symmetry), numpy's eigenvector of P.T on
well-conditioned chains, and scipy's null space for each recurrent block.
"""
import numpy as np
import pytest

from numbarnn import MarkovChain
from numbarnn.models._stationary import gth_solve, recurrent_classes


def test_slowly_mixing_irreducible_chain_issue_example():
    # Issue 10 item 15: every transition positive, eigenvalue 1 - 4e-8 next to 1.
    m = MarkovChain(order=1, alpha=1e-8).fit([[0, 1] * 500, [2, 3] * 500])
    assert (m.transition_ > 0).all()
    pi = m.stationary_distribution()
    assert pi.shape == (4,)
    # P is invariant under swapping {0,1} with {2,3} and is doubly stochastic
    # up to 1e-8 terms; by symmetry and the 0<->1 balance, pi = 1/4 each.
    np.testing.assert_allclose(pi, [0.25] * 4, rtol=1e-12)


def _two_state(a, b):
    return np.array([[1 - a, a], [b, 1 - b]])


def test_quantecon_documented_examples_by_hand():
    # QuantEcon lecture "Finite Markov Chains": P = [[.4, .6], [.2, .8]];
    # for [[1-a, a], [b, 1-b]] pi = (b, a) / (a + b) = (.25, .75).
    m = MarkovChain.from_transition([[0.4, 0.6], [0.2, 0.8]])
    np.testing.assert_allclose(m.stationary_distribution(), [0.25, 0.75], rtol=1e-15)
    # Hamilton's (2005) business-cycle matrix from the same lecture: tridiagonal,
    # so detailed balance gives pi1 = pi0 .029/.145 and pi2 = pi1 .077/.508.
    P = [[0.971, 0.029, 0.0], [0.145, 0.778, 0.077], [0.0, 0.508, 0.492]]
    r1, r2 = 0.029 / 0.145, 0.077 / 0.508
    want = np.array([1.0, r1, r1 * r2]) / (1 + r1 + r1 * r2)
    np.testing.assert_allclose(MarkovChain.from_transition(P).stationary_distribution(), want,
                               rtol=1e-14)
    # A reducible chain: two closed classes {0,1} and {2,3}, each a two-state chain.
    P = np.zeros((4, 4))
    P[:2, :2], P[2:, 2:] = _two_state(0.1, 0.2), _two_state(0.8, 0.8)
    pis = MarkovChain.from_transition(P).stationary_distribution()
    np.testing.assert_allclose(pis, [[2 / 3, 1 / 3, 0, 0], [0, 0, 0.5, 0.5]], rtol=1e-15)


def test_transient_states_get_no_mass_and_classes_are_ordered():
    # 0 and 4 transient, {1, 3} and {2} recurrent (2 absorbing).
    P = np.array([[0.0, 0.5, 0.5, 0.0, 0.0],
                  [0.0, 0.3, 0.0, 0.7, 0.0],
                  [0.0, 0.0, 1.0, 0.0, 0.0],
                  [0.0, 0.6, 0.0, 0.4, 0.0],
                  [0.2, 0.0, 0.0, 0.0, 0.8]])
    assert [c.tolist() for c in recurrent_classes(P)] == [[1, 3], [2]]
    pis = MarkovChain.from_transition(P).stationary_distribution()
    a, b = 0.7, 0.6  # the {1,3} block is the two-state chain (a, b)
    np.testing.assert_allclose(pis, [[0, b / (a + b), 0, a / (a + b), 0], [0, 0, 1, 0, 0]],
                               rtol=1e-15, atol=0)
    np.testing.assert_allclose(pis @ P, pis, atol=1e-15)


@pytest.mark.parametrize("seed", range(5))
def test_matches_numpy_eigenvector_on_well_conditioned_chains(seed):
    rng = np.random.default_rng(seed)
    S = int(rng.integers(2, 30))
    P = rng.dirichlet(np.ones(S), size=S)
    w, v = np.linalg.eig(P.T)
    i = np.argmin(np.abs(w - 1))
    assert np.sort(np.abs(w))[-2] < 0.9  # well separated: the eigenvector is accurate
    want = np.abs(v[:, i].real) / np.abs(v[:, i].real).sum()
    got = MarkovChain.from_transition(P).stationary_distribution()
    np.testing.assert_allclose(got, want, rtol=1e-10)
    np.testing.assert_allclose(gth_solve(P), want, rtol=1e-10)


def test_fitted_reducible_chain_matches_per_block_null_space():
    scipy_linalg = pytest.importorskip("scipy.linalg")
    rng = np.random.default_rng(4)
    a, b = rng.integers(0, 3, 3000), rng.integers(3, 5, 3000)  # two closed alphabets
    m = MarkovChain(order=1).fit([a, b])
    pis = m.stationary_distribution()
    assert pis.shape == (2, 5)
    for row, block in zip(pis, (slice(0, 3), slice(3, 5))):
        P = m.transition_[block, block]
        ns = scipy_linalg.null_space((P - np.eye(P.shape[0])).T)[:, 0]
        np.testing.assert_allclose(row[block], ns / ns.sum(), rtol=1e-10)
        assert row.sum() == pytest.approx(1.0, abs=1e-15)
