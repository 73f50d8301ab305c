"""What every model shares: scikit-learn's parameter protocol and saving.

``get_params``/``set_params`` follow scikit-learn's estimator contract
without importing it: the parameters are the constructor's arguments, each
stored under its own name, so ``sklearn.base.clone`` and grid searches
work. ``save``/``load`` write the constructor arguments and the fitted state
(``state_dict``) through the same atomic, digest-checked ``.npz`` format as
the layers; a subclass provides ``state_dict()`` and ``load_state_dict()``.
"""
import inspect

from ..nn import serialize


class ModelBase:
    """Mixin: ``get_params``, ``set_params``, ``get_config``, ``save``, ``load``.

    Subclasses store every constructor argument under its own name and
    implement ``state_dict()`` (a dict of numpy arrays holding the fitted
    state; facts that are not arrays go in as 0-d string arrays of JSON) and
    ``load_state_dict(arrays)`` (validates and restores it).

    Examples
    --------
    >>> from numbarnn import AutoRegressive
    >>> AutoRegressive(3, trend="n").get_params()
    {'order': 3, 'trend': 'n'}
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        serialize.register(cls)

    @classmethod
    def _param_names(cls):
        sig = inspect.signature(cls.__init__)
        return [p.name for p in sig.parameters.values()
                if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]

    def get_params(self, deep=True):
        """The constructor arguments as a dict (scikit-learn's protocol).

        Parameters
        ----------
        deep : bool, default True
            Accepted for scikit-learn; models hold no nested estimators.
        """
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params):
        """Set constructor arguments; returns self (scikit-learn's protocol).

        Unknown names raise ValueError. The new values are validated by the
        next ``fit``, as in scikit-learn.
        """
        valid = self._param_names()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(f"{type(self).__name__}.set_params: unknown parameter "
                                 f"{name!r}; valid ones are {valid}")
            setattr(self, name, value)
        return self

    def get_config(self):
        """The constructor arguments, as saved with the model."""
        return self.get_params()

    def save(self, path):
        """Write the model (arguments and fitted state) to ``path`` atomically.

        Read it back with ``type(model).load(path)`` or ``numbarnn.load(path)``.
        """
        serialize.save(self, path)

    @classmethod
    def load(cls, path):
        """Read a model of this class written by :meth:`save`."""
        return serialize.load(path, expected=cls)
