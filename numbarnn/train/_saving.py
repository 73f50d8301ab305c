"""Saving the training kit's objects with :mod:`numbarnn.nn.serialize`.

The file format is the layers' (atomic write, whole-file digest, no pickle):
the constructor arguments (``get_config()``) go into the metadata, the
arrays of ``state_dict()`` into the archive, and loading calls
``cls(**config)`` then ``load_state_dict(arrays)``, which validates.
"""
from ..nn import serialize


class Saveable:
    """Mixin: ``save(path)`` and the classmethod ``load(path)``; registers subclasses."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        serialize.register(cls)

    def save(self, path):
        """Write this object to ``path`` atomically (see :func:`numbarnn.nn.save`).

        Parameters
        ----------
        path : str or os.PathLike

        Examples
        --------
        >>> import os, tempfile
        >>> from numbarnn.train import Linear
        >>> path = os.path.join(tempfile.mkdtemp(), "readout.npz")
        >>> Linear(3, 1, seed=0).save(path)
        >>> Linear.load(path)
        Linear(in_features=3, out_features=1, bias=True, dtype=float64)
        """
        serialize.save(self, path)

    @classmethod
    def load(cls, path):
        """Read an object of this class written by :meth:`save`.

        Parameters
        ----------
        path : str or os.PathLike

        Returns
        -------
        An instance of this class (or of a subclass, as saved).

        Examples
        --------
        >>> import os, tempfile
        >>> from numbarnn.train import Linear
        >>> path = os.path.join(tempfile.mkdtemp(), "readout.npz")
        >>> Linear(3, 1, seed=0).save(path)
        >>> Linear.load(path).params["weight"].shape
        (1, 3)
        """
        return serialize.load(path, expected=cls)
