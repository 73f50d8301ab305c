"""pytest-benchmark timings: every cell x dtype x mode x shape x contender.

Each benchmark's group is the case (``"lstm-float32-fwdbwd-S3"``), so
``--benchmark-group-by=group`` puts numbarnn, torch and numpy side by side.
"""

import pytest

from numbarnn.bench import CONTENDERS, NUMPY_MAX_S, Unavailable, make_callable, make_data, warm_up


@pytest.mark.parametrize("contender", CONTENDERS)
def test_cell(benchmark, case, contender):
    try:
        fn = make_callable(contender, case, make_data(case))
    except Unavailable as exc:
        pytest.skip(str(exc))
    once = warm_up(fn)  # JIT compile and first-touch allocations, untimed
    if contender == "numpy" and once > NUMPY_MAX_S:
        pytest.skip(f"numpy takes {once:.2f} s per call here (> {NUMPY_MAX_S} s)")
    benchmark.group = case.group
    benchmark.extra_info.update(
        contender=contender, cell=case.cell, dtype=case.dtype, mode=case.mode,
        shape=case.shape, dims=list(case.dims),
    )
    benchmark(fn)
