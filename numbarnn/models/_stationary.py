"""Stationary distributions of a finite Markov chain, without eigenvalue thresholds.

The structure comes from the transition *graph* (an edge ``i -> j`` where
``P[i, j] > 0``): its strongly connected components are the communication
classes, and the closed ones (no edge leaving them) are the recurrent
classes. Every stationary distribution is a mixture of one distribution per
recurrent class, each supported on its class and found there by GTH
elimination (Grassmann, Taksar & Heyman, 1985), the subtraction-free
Gaussian elimination that QuantEcon's ``gth_solve`` also uses: it is
accurate to a few ulps per entry even when the chain mixes slowly, where an
eigenvalue "close to 1" test cannot tell slow mixing from reducibility.
"""
import numpy as np
import scipy.sparse
import scipy.sparse.csgraph


def gth_solve(P):
    """The stationary distribution of an irreducible stochastic matrix.

    Parameters
    ----------
    P : ndarray (n, n)
        Rows sum to one; the chain must be irreducible (one class).

    Returns
    -------
    ndarray (n,)
        ``x`` with ``x @ P = x``, ``x >= 0`` and ``x.sum() == 1``.

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn.models._stationary import gth_solve
    >>> gth_solve(np.array([[0.4, 0.6], [0.2, 0.8]]))
    array([0.25, 0.75])
    """
    A = np.array(P, dtype=np.float64)
    n = A.shape[0]
    # Forward elimination of state k: the rest of the chain, watched only
    # while outside {0..k}, is again a chain (its censored chain); only sums
    # of non-negative numbers appear, never differences.
    for k in range(n - 1):
        scale = A[k, k + 1:].sum()
        if scale <= 0.0:  # cannot happen for an irreducible chain
            raise ValueError("gth_solve: the chain is not irreducible")
        A[k + 1:, k] /= scale
        A[k + 1:, k + 1:] += np.outer(A[k + 1:, k], A[k, k + 1:])
    x = np.zeros(n)
    x[n - 1] = 1.0
    for k in range(n - 2, -1, -1):
        x[k] = x[k + 1:] @ A[k + 1:, k]
    return x / x.sum()


def recurrent_classes(P):
    """The closed communication classes of ``P``, each a sorted index array.

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn.models._stationary import recurrent_classes
    >>> P = np.array([[1.0, 0.0, 0.0], [0.5, 0.0, 0.5], [0.0, 0.0, 1.0]])
    >>> recurrent_classes(P)
    [array([0]), array([2])]
    """
    graph = scipy.sparse.csr_matrix(P > 0)
    n_comp, labels = scipy.sparse.csgraph.connected_components(graph, directed=True,
                                                               connection="strong")
    rows, cols = graph.nonzero()
    leaves = np.zeros(n_comp, bool)
    leaves[labels[rows][labels[rows] != labels[cols]]] = True  # an edge leaves the class
    classes = [np.flatnonzero(labels == c) for c in range(n_comp) if not leaves[c]]
    return sorted(classes, key=lambda c: c[0])


def stationary_distributions(P):
    """One stationary distribution per recurrent class of ``P``, as rows.

    Returns
    -------
    ndarray (m, n)
        Row ``i`` is supported on the ``i``-th recurrent class (classes
        ordered by their smallest state); every stationary distribution is
        a convex combination of the rows.

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn.models._stationary import stationary_distributions
    >>> stationary_distributions(np.array([[0.5, 0.5], [1.0, 0.0]])).round(4)
    array([[0.6667, 0.3333]])
    """
    P = np.asarray(P, dtype=np.float64)
    classes = recurrent_classes(P)
    out = np.zeros((len(classes), P.shape[0]))
    for i, c in enumerate(classes):
        out[i, c] = gth_solve(P[np.ix_(c, c)]) if c.size > 1 else 1.0
    return out
