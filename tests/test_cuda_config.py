"""numbarnn leaves numba's CUDA configuration as it found it (issue 13):
``CUDA_LOW_OCCUPANCY_WARNINGS`` is a process-wide switch that also governs
the user's own kernels, so our launches skip the warning locally instead."""
import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.cuda
cuda = pytest.importorskip("numba.cuda")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SCRIPT = textwrap.dedent("""
    import warnings

    import numba
    import numpy as np
    from numba import cuda

    warnings.simplefilter("error")          # a low-occupancy warning would fail
    before = numba.config.CUDA_LOW_OCCUPANCY_WARNINGS
    import numbarnn
    from numbarnn import nn                 # the layers' device helpers
    from numbarnn.functional import gru_forward, lstm_forward
    from numbarnn.functional.device import cuda_modules
    from numbarnn.nn import _device  # noqa: F401

    cuda_modules()
    rng = np.random.default_rng(0)
    x = cuda.to_device(rng.standard_normal((2, 1, 3)))
    lstm_forward(x, cuda.to_device(rng.standard_normal((8, 3))),
                 cuda.to_device(rng.standard_normal((8, 2))))
    gru_forward(x, cuda.to_device(rng.standard_normal((6, 3))),
                cuda.to_device(rng.standard_normal((6, 2))))
    nn.GRU(3, 2, reset_after=False).to("cuda").forward(x)
    cuda.synchronize()
    print(before, numba.config.CUDA_LOW_OCCUPANCY_WARNINGS)
""")


def test_import_and_gpu_calls_leave_low_occupancy_setting_alone():
    if not (cuda.is_available() or os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"):
        pytest.skip("no GPU and no simulator (NUMBA_ENABLE_CUDASIM=1)")
    env = dict(os.environ, NUMBA_CUDA_LOW_OCCUPANCY_WARNINGS="1")
    out = subprocess.run([sys.executable, "-c", SCRIPT], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["1", "1"]


def test_configured_launch_goes_through_the_dispatchers_call(monkeypatch):
    """On a GPU, ``configured`` calls the dispatcher's ``call`` with
    normalized dimensions (what ``kernel[grid, block, 0, shared](*args)``
    does, minus the launch-configuration object that warns)."""
    from numbarnn.kernels.cuda import common

    seen = []

    class FakeDispatcher:
        def call(self, args, griddim, blockdim, stream, sharedmem):
            seen.append((args, griddim, blockdim, stream, sharedmem))

        def __getitem__(self, config):
            pytest.fail("the warning launch configuration was used")

    monkeypatch.setattr(common, "SIMULATOR", False)
    common.configured(FakeDispatcher(), 3, (4, 2), 16)("a", 1)
    assert seen == [(("a", 1), (3, 1, 1), (4, 2, 1), 0, 16)]
