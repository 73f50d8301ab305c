"""Where :class:`~numbarnn.LatentAR` continues from, and what it saves.

The *end state* is the filtered state after the last fitted series (and
every :meth:`~StateMixin.update` since): what ``forecast(n)`` without a
history starts from. It is a function of the parameters, so it is cached
together with the SHA-256 of the parameters it was computed with and
recomputed from the kept observations (the *context*) whenever they differ:
after more training through the module protocol (``Adam(model)``,
``loss_and_grad``) or any in-place change of a weight, a forecast still
reflects the current parameters. The digest costs microseconds for the
model sizes LatentAR is used at.
"""
import json

import numpy as np

from ..functional.cells import CELLS
from ..nn.serialize import params_digest
from . import _latent_io as io_
from . import _pandas


def _state_arrays(state):
    """A layer state as a tuple of arrays (h,) or (h, c); () for the start state."""
    if state is None:
        return ()
    return tuple(state) if isinstance(state, tuple) else (state,)


class StateMixin:
    """The end-state cache, :meth:`update`, ``state_dict`` and ``load_state_dict``."""

    def _set_context(self, enc, ex, frame):
        """Start a new context (at fit): the observations the end state follows."""
        self._context = [(enc, ex)]
        self._frame = frame
        self._end = self._end_digest = None

    def _end_state(self):
        """(state, next observation input) after the context, for the current parameters."""
        digest = params_digest(self.params)
        if self._end is None or self._end_digest != digest:
            enc = np.concatenate([c[0] for c in self._context])
            ex = None if self._context[0][1] is None else \
                np.concatenate([c[1] for c in self._context])
            self._end = self._final_state(enc, ex)
            self._end_digest = digest
        return self._end

    def update(self, y_new, exog=None):
        """Advance the end state by new observations (streaming).

        ``forecast(n)`` without ``history`` then continues after ``y_new``
        without running the model over the earlier observations again: the
        model only steps through ``y_new``. The parameters are not changed
        (that is what :meth:`fit` with ``warm_start`` is for). The
        observations are kept, so that the end state can be recomputed if
        the parameters change later.

        Parameters
        ----------
        y_new : array_like (T,) or (T, D), or a pandas Series/DataFrame
            Observations that follow the last fitted series (or the last
            update). A pandas index becomes the one forecasts continue; numpy
            rows after a pandas fit advance the index by their count.
        exog : array_like (T, K), optional
            Their covariates, for a model fitted with ``exog``.

        Returns
        -------
        self

        Examples
        --------
        >>> import numpy as np
        >>> from numbarnn import LatentAR
        >>> x = np.sin(0.3 * np.arange(130.0))
        >>> m = LatentAR("gru", hidden_size=4, seed=0).fit(x[:100], epochs=2, progress=False)
        >>> bool(np.allclose(m.update(x[100:]).forecast(5), m.forecast(5, history=x)))
        True
        """
        self._check_fitted()
        _, frames, single = io_.unpack(y_new)
        enc, _ = self._series(y_new, "y_new")
        if not single or len(enc) != 1:
            raise ValueError("y_new: expected one series")
        ex = self._exog(exog, [enc[0].shape[0]])
        enc, ex = enc[0], (None if ex is None else ex[0])
        if enc.shape[0] == 0:
            return self
        frame = self._frame
        if frames is not None and frames[0] is not None:
            frame = frames[0]
        elif frame is not None:  # numpy rows after pandas ones continue their index
            frame = frame._replace(index=_pandas.future_index(frame, enc.shape[0]))
        state, u = self._end_state()
        x = np.concatenate([u, enc[:-1]]).astype(self.layer_.dtype)
        if ex is not None:
            x = np.concatenate([x, ex.astype(x.dtype)], axis=1)
        _, state = self.layer_.forward(x[:, None], state, keep_cache=False)
        self._end = (state, enc[-1:].astype(self.layer_.dtype))
        self._context.append((enc, ex))
        self._frame = frame
        return self

    # -- pickling (Dask, multiprocessing, copy.deepcopy) ----------------------
    def __getstate__(self):
        state = dict(self.__dict__)
        if state.get("_frame") is not None:  # a module cannot be pickled
            state["_frame"] = state["_frame"]._replace(pd=None)
        return state

    def __setstate__(self, state):
        frame = state.get("_frame")
        if frame is not None and frame.pd is None:
            import pandas
            state["_frame"] = frame._replace(pd=pandas)
        self.__dict__.update(state)

    # -- persistence -------------------------------------------------------
    def _facts(self):
        facts = {"n_features": self.n_features_, "n_exog": self.n_exog_,
                 "n_obs": self.n_obs_, "univariate": getattr(self, "univariate_", None),
                 "n_states": getattr(self, "n_states_", None),
                 "columns": None if self.columns_ is None else
                 [io_._plain(c, "column") for c in self.columns_],
                 "end_digest": self._end_digest}
        return facts

    def state_dict(self):
        """The fitted state as named arrays (what :meth:`save` writes).

        The layer's and the readout's parameters (``layer.<name>``,
        ``readout.<name>``), the scaling, the covariates' scaling, the kept
        observations and the cached end state with the digest of the
        parameters it belongs to, so that a loaded model predicts and
        forecasts bit-identically. An unfitted model has no arrays.

        Examples
        --------
        >>> import numpy as np
        >>> from numbarnn import LatentAR
        >>> m = LatentAR("rnn", 2, seed=0).fit(np.arange(5.0), epochs=0, progress=False)
        >>> sorted(m.state_dict())[:3]
        ['context', 'end_h', 'end_u']
        """
        if not hasattr(self, "layer_"):
            return {}
        state, u = self._end_state()
        out = {f"layer.{k}": v for k, v in self.layer_.state_dict().items()}
        out.update({f"readout.{k}": v.copy() for k, v in self.readout_.params.items()})
        if not self._categorical:
            out["mean_"], out["scale_"] = self.mean_.copy(), self.scale_.copy()
        if self.n_exog_:
            out["exog_mean_"], out["exog_scale_"] = (self.exog_mean_.copy(),
                                                     self.exog_scale_.copy())
            out["context_exog"] = np.concatenate([c[1] for c in self._context])
        out["context"] = np.concatenate([c[0] for c in self._context])
        for name, a in zip(("end_h", "end_c"), _state_arrays(state)):
            out[name] = np.array(a)
        out["end_u"] = np.array(u)
        out["facts"] = np.array(json.dumps(self._facts()))
        out["frame"] = np.array(io_.frame_to_json(self._frame))
        return out

    def _param_shapes(self, D, K):
        """The parameter shapes the arguments imply for D features and K covariates."""
        G = CELLS[self.cell].gates
        H, L = int(self.hidden_size), int(self.num_layers)
        shapes = {}
        for i in range(L):
            shapes.update({f"layer.weight_ih_l{i}": (G * H, D + K if i == 0 else H),
                           f"layer.weight_hh_l{i}": (G * H, H),
                           f"layer.bias_ih_l{i}": (G * H,), f"layer.bias_hh_l{i}": (G * H,)})
        n_out = D if self._categorical else 2 * D
        shapes.update({"readout.weight": (n_out, H), "readout.bias": (n_out,)})
        return shapes

    def load_state_dict(self, arrays):
        """Restore the fitted state from :meth:`state_dict`'s arrays, checked first.

        Raises
        ------
        ValueError
            Missing or unexpected arrays, or shapes that do not fit the
            model's arguments.
        TypeError
            A dtype other than the model's.

        Examples
        --------
        >>> import numpy as np
        >>> from numbarnn import LatentAR
        >>> a = LatentAR("gru", 3, seed=0).fit(np.sin(np.arange(30.0)), epochs=1,
        ...                                    progress=False)
        >>> b = LatentAR("gru", 3)
        >>> b.load_state_dict(a.state_dict())
        >>> bool((b.forecast(4) == a.forecast(4)).all())
        True
        """
        if not arrays:
            return
        if "facts" not in arrays:
            raise ValueError("state_dict: no 'facts' entry")
        facts = json.loads(str(np.asarray(arrays["facts"])[()]))
        D, K = facts.get("n_features"), facts.get("n_exog")
        for name, v in (("n_features", D), ("n_exog", K), ("n_obs", facts.get("n_obs"))):
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError(f"state_dict: {name} must be a non-negative integer, got {v!r}")
        self._check_options()
        if self._categorical and facts.get("n_states") != D:
            raise ValueError("state_dict: n_states does not match n_features")
        # names and shapes first, before the model's size is allocated
        shapes = self._param_shapes(D, K)
        expected = set(shapes) | {"context", "end_u", "facts", "frame"}
        expected |= set() if self._categorical else {"mean_", "scale_"}
        expected |= {"exog_mean_", "exog_scale_", "context_exog"} if K else set()
        expected |= {"end_" + s for s in CELLS[self.cell].states}
        if set(arrays) != expected:
            raise ValueError(f"state_dict does not fit this LatentAR: missing "
                             f"{sorted(expected - set(arrays))}, unexpected "
                             f"{sorted(set(arrays) - expected)}")
        for name, shape in shapes.items():
            if np.shape(arrays[name]) != shape:
                raise ValueError(f"state_dict[{name!r}] has shape {np.shape(arrays[name])}, "
                                 f"expected {shape} from the model's arguments")
        layer, readout = self._build(D + K, D, np.random.default_rng(0))
        layer.load_state_dict({k[6:]: v for k, v in arrays.items() if k.startswith("layer.")})
        for k, p in readout.params.items():
            _check_array(arrays, f"readout.{k}", p.shape, p.dtype)
            np.copyto(p, arrays[f"readout.{k}"])
        L, H = layer.num_layers, layer.hidden_size
        for name in ("end_" + s for s in layer.cell.states):
            _check_array(arrays, name, (L, 1, H), layer.dtype)
        _check_array(arrays, "end_u", (1, D), layer.dtype)
        context = _check_array(arrays, "context", (None, D), np.float64)
        scaling = {}
        for name, width in (("mean_", D), ("scale_", D), ("exog_mean_", K),
                            ("exog_scale_", K)):
            if name in arrays:
                scaling[name] = _check_array(arrays, name, (width,), np.float64).copy()
        ctx_exog = None
        if K:
            ctx_exog = _check_array(arrays, "context_exog", (context.shape[0], K), np.float64)
        frame = io_.frame_from_json(str(np.asarray(arrays["frame"])[()]))
        # every check passed: now change the model
        self.layer_, self.readout_ = layer.eval(), readout
        self.n_features_, self.n_exog_, self.n_obs_ = D, K, facts["n_obs"]
        if self._categorical:
            self.n_states_ = D
        else:
            self.univariate_ = bool(facts.get("univariate"))
        self.columns_ = facts.get("columns")
        for name, a in scaling.items():
            setattr(self, name, a)
        self._set_context(context.copy(), None if ctx_exog is None else ctx_exog.copy(),
                          frame)
        end = tuple(np.array(arrays[n]) for n in ("end_h", "end_c") if n in arrays)
        self._end = (layer.cell.pack_state(end), np.array(arrays["end_u"]))
        self._end_digest = facts.get("end_digest")


def _check_array(arrays, name, shape, dtype):
    a = np.asarray(arrays[name])
    if a.ndim != len(shape) or any(s is not None and s != n for s, n in zip(shape, a.shape)):
        raise ValueError(f"state_dict[{name!r}] has shape {a.shape}, expected "
                         f"{tuple('?' if s is None else s for s in shape)}")
    if a.dtype != dtype:
        raise TypeError(f"state_dict[{name!r}] has dtype {a.dtype}, expected {np.dtype(dtype)}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"state_dict[{name!r}] contains NaN or Inf")
    return a
