"""The contenders compute the same function, or their timings mean nothing.

Compares numbarnn and torch (GRU z rows mapped to numbarnn's convention)
with the plain-numpy peer on the smoke shapes; torch, an independent
implementation, is what vouches for the numpy peer's BPTT.
"""

import pytest

from numbarnn.bench import CONTENDERS, check_agreement, iter_cases, resolve_shapes

# Observed at most 2e-6 (float32) and 3e-15 (float64), numbarnn's fast
# exp included; a wrong gate order or GRU z convention gives errors of order 1.
_TOL = {"float32": 1e-4, "float64": 1e-10}


@pytest.mark.parametrize(
    "smoke_case", list(iter_cases(shapes=resolve_shapes("smoke"))), ids=lambda c: c.group
)
def test_contenders_agree(smoke_case):
    errors = check_agreement(smoke_case, [c for c in CONTENDERS if c != "numpy"])
    bad = {k: v for k, v in errors.items() if v > _TOL[smoke_case.dtype]}
    assert not bad, f"relative deviation from the numpy peer: {bad}"
