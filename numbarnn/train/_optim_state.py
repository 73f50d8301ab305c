"""What every optimizer shares besides its update: binding to parameters,
argument checks, and its state as arrays (``state_dict``/``load_state_dict``,
``save``/``load``).

The state is a flat dict of numpy arrays, so it goes into the layers' file
format unchanged: ``"optimizer"`` holds a 0-d string of JSON (the class, the
hyperparameters, the step count and the label, shape and dtype of every
parameter, in order), and ``"state.<i>.<name>"`` the per-parameter arrays
(``"step"`` is a 0-d int64), as torch.optim keys its state by position.
"""
import json
import math
import numbers
import re
from collections.abc import Mapping

import numpy as np

from ._core import collect
from ._saving import Saveable

_KEY = re.compile(r"state\.(\d+)\.([a-z_]+)\Z")
# per optimizer class: the arrays each parameter's state holds once stepped
_STATE_NAMES = {"SGD": ({"momentum_buffer"}, set()),
                "Adam": ({"step", "exp_avg", "exp_avg_sq"}, {"max_exp_avg_sq"}),
                "AdamW": ({"step", "exp_avg", "exp_avg_sq"}, {"max_exp_avg_sq"})}


def check_real(name, value, low=0.0):
    """A finite real number (not a bool), at least ``low`` unless that is None."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not math.isfinite(value) or (low is not None and value < low):
        bound = "finite" if low is None else f">= {low:g} and finite"
        raise ValueError(f"{name} must be {bound}, got {value}")
    return value


def check_flag(name, value):
    """A real boolean (``bool`` or ``numpy.bool_``): strings and ints are refused."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__} {value!r}")
    return bool(value)


def _describe(triples):
    return [{"label": label, "shape": list(p.shape), "dtype": p.dtype.name}
            for label, p, _ in triples]


class StateMixin(Saveable):
    """Binding, ``get_config``, ``state_dict``, ``load_state_dict`` and ``load``."""

    def bind(self, params):
        """Attach an optimizer made with ``params=None`` (or loaded) to parameters.

        A state loaded before (:meth:`load_state_dict`, :meth:`load`) is
        checked against the parameters (count, labels, shapes, dtypes) and
        applied.

        Parameters
        ----------
        params : module, (params, grads) pair, or list of those

        Returns
        -------
        self

        Examples
        --------
        >>> from numbarnn.train import Adam, Linear
        >>> opt = Adam(lr=0.01)               # not bound yet
        >>> opt.bind(Linear(2, 1, seed=0)).steps
        0
        """
        if self.triples is not None:
            raise RuntimeError(f"this {type(self).__name__} already steps "
                               f"{len(self.triples)} parameters; make a new one")
        triples = collect(params, "params")
        if not triples:
            raise ValueError("the optimizer got no parameters")
        for label, p, _ in triples:
            if p.dtype.kind != "f":
                raise TypeError(f"parameter {label} must be a float array, got {p.dtype}")
            if not p.flags.writeable:
                raise ValueError(f"parameter {label} is read-only; optimizers update in place")
        state, steps = [dict() for _ in triples], 0
        if self._pending is not None:
            meta, per_param = self._pending
            self._match(meta["params"], triples)
            state, steps = per_param, meta["steps"]
        self.triples, self.state, self.steps, self._pending = triples, state, steps, None
        return self

    def _bound(self, what):
        if self.triples is None:
            raise RuntimeError(f"{what}: this {type(self).__name__} is not bound to any "
                               "parameters; bind it (opt.bind(modules)) or pass it to fit")
        return self.triples

    def get_config(self):
        """The constructor arguments but ``params``: the hyperparameters.

        Returns
        -------
        dict

        Examples
        --------
        >>> from numbarnn.train import SGD
        >>> SGD(lr=0.1, momentum=0.9).get_config()["momentum"]
        0.9
        """
        return self._hyperparameters()

    def state_dict(self):
        """The optimizer's state as a flat dict of numpy arrays (copies).

        ``"optimizer"``: a 0-d string array of JSON with the class, the
        hyperparameters, the step count and the parameters' labels, shapes
        and dtypes; ``"state.<i>.<name>"``: the state of parameter ``i``
        (``exp_avg``, ``exp_avg_sq``, ``step``, ``max_exp_avg_sq`` for Adam;
        ``momentum_buffer`` for SGD), as torch.optim's ``state`` by position.

        Returns
        -------
        dict of str to ndarray

        Examples
        --------
        >>> from numbarnn.train import Adam, Linear
        >>> lin = Linear(2, 1, seed=0)
        >>> opt = Adam(lin, lr=0.1)
        >>> opt.step()
        >>> sorted(opt.state_dict())[:3]
        ['optimizer', 'state.0.exp_avg', 'state.0.exp_avg_sq']
        """
        if self.triples is None and self._pending is not None:
            meta, per_param = self._pending
        else:
            meta = {"params": _describe(self.triples) if self.triples else [],
                    "steps": self.steps}
            per_param = self.state or []
        meta = {"class": type(self).__name__, "hyperparameters": self._hyperparameters(),
                "steps": int(meta["steps"]), "params": meta["params"]}
        out = {"optimizer": np.array(json.dumps(meta))}
        for i, st in enumerate(per_param):
            for name in sorted(st):
                out[f"state.{i}.{name}"] = np.array(st[name], copy=True)
        for key in out:
            if key.endswith(".step"):
                out[key] = out[key].astype(np.int64)
        return out

    def load_state_dict(self, state_dict):
        """Restore a state from :meth:`state_dict` (all or nothing), as torch.optim does.

        The hyperparameters (``lr``, ...) are restored too. Every entry is
        checked before anything changes: the class, the parameters' count,
        labels, shapes and dtypes against those this optimizer steps (or,
        for an unbound optimizer, when it is bound), the names and shapes
        of the state arrays.

        Parameters
        ----------
        state_dict : mapping of str to ndarray

        Raises
        ------
        ValueError
            Anything that does not fit.
        TypeError
            An entry that is not an array, or of the wrong dtype.

        Examples
        --------
        >>> import numpy as np
        >>> from numbarnn.train import Adam, Linear
        >>> lin = Linear(2, 1, seed=0)
        >>> opt = Adam(lin, lr=0.1)
        >>> lin.grads["weight"][...] = 1.0
        >>> opt.step()
        >>> again = Adam(lin)
        >>> again.load_state_dict(opt.state_dict())
        >>> again.lr, again.steps
        (0.1, 1)
        """
        if not isinstance(state_dict, Mapping) or "optimizer" not in state_dict:
            raise ValueError("state_dict must be a mapping with an 'optimizer' entry, as "
                             "made by state_dict()")
        try:
            meta = json.loads(str(np.asarray(state_dict["optimizer"])[()]))
            cls, hyper = meta["class"], meta["hyperparameters"]
            described, steps = meta["params"], meta["steps"]
        except (TypeError, ValueError, KeyError, IndexError) as exc:
            raise ValueError(f"state_dict['optimizer'] is not an optimizer description: "
                             f"{exc}") from None
        if cls != type(self).__name__:
            raise ValueError(f"state_dict holds the state of a {cls}, not of a "
                             f"{type(self).__name__}")
        if (isinstance(steps, bool) or not isinstance(steps, int) or steps < 0
                or not isinstance(hyper, dict) or not isinstance(described, list)):
            raise ValueError("state_dict['optimizer'] is malformed")
        try:
            fresh = type(self)(None, **hyper)  # validates the hyperparameters
        except TypeError as exc:
            raise ValueError(f"state_dict has invalid hyperparameters: {exc}") from None
        per_param = self._arrays(state_dict, described)
        if self.triples is not None:
            self._match(described, self.triples)
        for name, value in vars(fresh).items():
            if name not in ("triples", "state", "steps", "_pending"):
                setattr(self, name, value)
        if self.triples is None:
            self._pending = ({"params": described, "steps": steps}, per_param)
        else:
            self.state, self.steps = per_param, steps

    def _arrays(self, state_dict, described):
        required, optional = _STATE_NAMES[type(self).__name__]
        per_param = [dict() for _ in described]
        for key, a in state_dict.items():
            if key == "optimizer":
                continue
            m = _KEY.match(key)
            if m is None or int(m.group(1)) >= len(described) or \
                    m.group(2) not in required | optional:
                raise ValueError(f"state_dict has an unexpected entry {key!r}")
            i, name = int(m.group(1)), m.group(2)
            if not isinstance(a, np.ndarray):
                raise TypeError(f"state_dict[{key!r}] must be a numpy array, got "
                                f"{type(a).__name__}")
            d = described[i]
            if name == "step":
                if a.shape != () or a.dtype.kind not in "iu" or a < 1:
                    raise ValueError(f"state_dict[{key!r}] must be a positive 0-d integer")
                per_param[i][name] = int(a)
                continue
            if not isinstance(d, dict) or list(a.shape) != d.get("shape"):
                raise ValueError(f"state_dict[{key!r}] has shape {a.shape}, its parameter "
                                 f"{d}")
            if a.dtype.name != d.get("dtype"):
                raise TypeError(f"state_dict[{key!r}] has dtype {a.dtype}, its parameter "
                                f"{d.get('dtype')}")
            per_param[i][name] = np.array(a, copy=True)
        for i, st in enumerate(per_param):
            if st and not required <= set(st):
                raise ValueError(f"state_dict: the state of parameter {i} lacks "
                                 f"{sorted(required - set(st))}")
        return per_param

    @staticmethod
    def _match(described, triples):
        have = _describe(triples)
        if len(described) != len(have):
            raise ValueError(f"the state is for {len(described)} parameters, the optimizer "
                             f"steps {len(have)}")
        for d, h in zip(described, have):
            if d != h:
                raise ValueError(f"the state's parameter {d} does not match the "
                                 f"optimizer's {h}")

    @classmethod
    def load(cls, path, params=None):
        """Read an optimizer written by :meth:`save`, bound to ``params`` if given.

        Parameters
        ----------
        path : str or os.PathLike
        params : module, (params, grads) pair, or list of those, optional
            The parameters to step (checked against the saved state). Without
            them the optimizer is unbound until :meth:`bind` or
            :func:`~numbarnn.train.fit` binds it.

        Returns
        -------
        Optimizer

        Examples
        --------
        >>> import os, tempfile
        >>> from numbarnn.train import Adam, Linear
        >>> lin = Linear(2, 1, seed=0)
        >>> path = os.path.join(tempfile.mkdtemp(), "adam.npz")
        >>> Adam(lin, lr=0.05).save(path)
        >>> Adam.load(path, lin).lr
        0.05
        """
        opt = super().load(path)
        if params is not None:
            opt.bind(params)
        return opt
