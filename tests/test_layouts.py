"""Every W_hh layout the batch-split kernels can be handed gives the oracle's
numbers (those kernels run the projected LSTM; the other passes run on the
engine, which packs its own layout: test_engine.py).

``kernels.cpu.common.transposed_hidden_weights`` picks, by size and dtype,
a transposed copy of W_hh (a vectorised loop for small products, a
no-transpose GEMM above that) or the stored layout (a transposed GEMM). Real
shapes reach the stored layout only in float32 beyond 2^22 multiply-adds a
step, so here the choice is forced on small shapes.
"""
import numpy as np
import pytest

from numbarnn.functional import gru, lstm, rnn

from helpers import DTYPE_PARAMS, VARIANT_PARAMS, check_against_reference


def stored_layout(w_hh, batch):
    return np.empty((0, w_hh.shape[0]), dtype=w_hh.dtype)


@pytest.mark.parametrize("shape", [(5, 3, 4, 6), (4, 8, 6, 48)], ids=["loop-size", "gemm-size"])
@pytest.mark.parametrize("dtype", DTYPE_PARAMS)
@pytest.mark.parametrize("variant", VARIANT_PARAMS)
def test_stored_layout_matches_reference(variant, dtype, shape, monkeypatch):
    for module in (rnn, lstm, gru):
        if hasattr(module, "transposed_hidden_weights"):
            monkeypatch.setattr(module, "transposed_hidden_weights", stored_layout)
    check_against_reference(variant, shape, dtype, tag=("layout",))
