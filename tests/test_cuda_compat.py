"""The CUDA path's guards that need no GPU: the numpy 2.5 ``row_stack``
shim and the error for a GPU that is not there."""
import sys

import numpy as np
import pytest

pytestmark = pytest.mark.cuda
cuda = pytest.importorskip("numba.cuda")


def test_row_stack_shim_lends_the_alias_only_while_importing(monkeypatch):
    from numbarnn.kernels.cuda import compat

    seen = []
    monkeypatch.delattr(np, "row_stack", raising=False)
    monkeypatch.setattr(compat, "_uses_numba_cuda", lambda: True)
    monkeypatch.delitem(sys.modules, compat._ARRAYOBJ, raising=False)
    monkeypatch.setattr(compat.importlib, "import_module",
                        lambda name: seen.append((name, np.row_stack is np.vstack)))
    assert compat.apply() is True
    assert seen == [(compat._ARRAYOBJ, True)]
    assert not hasattr(np, "row_stack")  # numpy's namespace as it was


def test_row_stack_shim_is_a_no_op_when_not_needed(monkeypatch):
    from numbarnn.kernels.cuda import compat

    monkeypatch.setattr(compat.importlib, "import_module",
                        lambda name: pytest.fail("nothing should be imported"))
    if hasattr(np, "row_stack"):
        assert compat.apply() is False
    monkeypatch.setattr(compat, "_uses_numba_cuda", lambda: False)
    assert compat.apply() is False


def test_asking_for_the_gpu_without_one_is_a_clear_error(monkeypatch):
    from numbarnn.functional import device

    monkeypatch.setattr(cuda, "is_available", lambda: False)
    device.cuda_modules.cache_clear()
    try:
        with pytest.raises(RuntimeError, match="no CUDA GPU.*NUMBA_ENABLE_CUDASIM"):
            device.to_device(np.zeros(3))
    finally:
        device.cuda_modules.cache_clear()


def test_import_numbarnn_does_not_import_numba_cuda():
    import subprocess

    code = ("import sys, numbarnn, numbarnn.functional; "
            "assert 'numba.cuda' not in sys.modules, 'numba.cuda imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=_repo())


def _repo():
    import os

    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
