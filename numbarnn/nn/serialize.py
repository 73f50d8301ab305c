"""Saving and loading modules as ``.npz`` files, atomically and verified.

The file is an ordinary ``.npz`` (``numpy.load`` reads it) holding:

* ``__meta__``: a JSON string with the format name and version, the class
  name, the constructor arguments, the parameter names in order, and the
  SHA-256 of the parameter bytes (names, dtypes, shapes and values);
* one ``.npy`` member per parameter, under its PyTorch-style name;
* as the zip archive comment, ``numbarnn-sha256:`` and the SHA-256 of every
  byte of the file before the digest itself.

The whole-file digest is what makes corruption detectable everywhere: zip
checks CRCs of member data only, so a flipped byte in a timestamp or an
attribute field would otherwise load silently. Writes go to a temporary
file in the target's directory that replaces the target with
``os.replace`` once complete, so a crash never leaves a half-written file
under the target's name.
"""
import contextlib
import hashlib
import io
import json
import os
import tempfile
import zipfile

import numpy as np

FORMAT = "numbarnn-module"
VERSION = 1
_TRAILER = b"numbarnn-sha256:"
_DIGEST_LEN = 64  # hex characters of a SHA-256

_REGISTRY = {}


def register(cls):
    """Make ``cls`` loadable by name (called for every Module subclass)."""
    _REGISTRY[cls.__name__] = cls
    return cls


def params_digest(params):
    """SHA-256 (hex) of an ordered mapping of named arrays.

    Covers each name, dtype, shape and the C-order bytes, so two modules
    have the same digest exactly when their parameters are bit-identical.

    Examples
    --------
    >>> import numbarnn
    >>> from numbarnn.nn.serialize import params_digest
    >>> a, b = numbarnn.RNN(2, 3, seed=0), numbarnn.RNN(2, 3, seed=0)
    >>> params_digest(a.params) == params_digest(b.params)
    True
    """
    h = hashlib.sha256()
    for name, a in params.items():
        a = np.ascontiguousarray(a)
        h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _encode(module):
    # state_dict(): host arrays (a module on the GPU writes a copy of its
    # parameters; a model writes its fitted state)
    params = module.state_dict()
    meta = {"format": FORMAT, "version": VERSION, "class": type(module).__name__,
            "config": module.get_config(), "params": list(params),
            "params_sha256": params_digest(params)}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        with zf.open("__meta__.npy", "w") as f:
            np.lib.format.write_array(f, np.array(json.dumps(meta)), allow_pickle=False)
        for name, a in params.items():
            with zf.open(name + ".npy", "w") as f:
                np.lib.format.write_array(f, a, allow_pickle=False)
        # placeholder of the digest's length: the comment is the file's tail
        zf.comment = _TRAILER + b"0" * _DIGEST_LEN
    data = bytearray(buf.getvalue())
    data[-_DIGEST_LEN:] = hashlib.sha256(data[:-_DIGEST_LEN]).hexdigest().encode()
    return bytes(data)


def save(module, path):
    """Write ``module`` to ``path`` atomically (temporary file + ``os.replace``).

    Parameters
    ----------
    module : numbarnn.nn.Module
        A layer or cell, on the CPU or the GPU (its parameters are copied
        to the host; :func:`load` returns a module on the CPU).
    path : str or os.PathLike
        The file to write (used as given: no suffix is added).

    Examples
    --------
    >>> import os, tempfile, numbarnn
    >>> from numbarnn.nn import save, load
    >>> path = os.path.join(tempfile.mkdtemp(), "rnn.npz")
    >>> save(numbarnn.RNN(2, 3, nonlinearity="relu", seed=0), path)
    >>> load(path).nonlinearity
    'relu'
    """
    path = os.fspath(path)
    data = _encode(module)
    directory, base = os.path.split(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{base}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; a saved model is an ordinary file
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _read(path):
    """The verified metadata and arrays of a file, or ValueError."""
    with open(path, "rb") as f:
        data = f.read()
    tail = data[-(len(_TRAILER) + _DIGEST_LEN):]
    if not tail.startswith(_TRAILER):
        raise ValueError(f"{path!s} is not a numbarnn module file, or it is truncated "
                         "(no integrity digest at its end)")
    if hashlib.sha256(data[:-_DIGEST_LEN]).hexdigest().encode() != data[-_DIGEST_LEN:]:
        raise ValueError(f"{path!s} is corrupt: its SHA-256 does not match the digest "
                         "stored in it")
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            meta = json.loads(str(npz["__meta__"][()]))
            arrays = {name: npz[name] for name in meta["params"]}
    except Exception as exc:  # any failure to parse is the same fact for the user
        raise ValueError(f"{path!s} is not a readable numbarnn module file: {exc}") from exc
    return meta, arrays


def load(path, expected=None):
    """Read a module written by :func:`save`.

    Parameters
    ----------
    path : str or os.PathLike
    expected : type, optional
        Require the file to hold this class (or a subclass of it).

    Returns
    -------
    numbarnn.nn.Module
        A new module in training mode with zeroed gradients.

    Raises
    ------
    ValueError
        A truncated or corrupt file (any changed byte), a file of another
        format or version, an unknown or unexpected class, or parameters
        that do not fit the constructor arguments. Nothing is returned
        unless everything checks.
    OSError
        The file cannot be read.

    Examples
    --------
    >>> import os, tempfile, numbarnn
    >>> from numbarnn.nn import load
    >>> path = os.path.join(tempfile.mkdtemp(), "cell.npz")
    >>> numbarnn.LSTMCell(2, 3, seed=0).save(path)
    >>> load(path)
    LSTMCell(input_size=2, hidden_size=3, bias=True, dtype='float64', seed=0, init='pytorch')
    """
    meta, arrays = _read(path)
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path!s} is not a numbarnn module file (format "
                         f"{meta.get('format')!r})")
    if meta.get("version") != VERSION:
        raise ValueError(f"{path!s} has format version {meta.get('version')!r}; this "
                         f"numbarnn reads version {VERSION}")
    cls = _REGISTRY.get(meta.get("class"))
    if cls is None:
        # classes outside numbarnn.nn register when their package is imported
        import numbarnn.train  # noqa: F401
        cls = _REGISTRY.get(meta.get("class"))
    if cls is None:
        raise ValueError(f"{path!s} holds an unknown class {meta.get('class')!r}")
    if expected is not None and not issubclass(cls, expected):
        raise ValueError(f"{path!s} holds a {cls.__name__}, not a {expected.__name__}")
    if params_digest(arrays) != meta.get("params_sha256"):
        raise ValueError(f"{path!s} is corrupt: the parameter digest does not match")
    try:
        module = cls(**meta["config"])
        module.load_state_dict(arrays)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path!s} does not describe a valid {cls.__name__}: {exc}") from exc
    return module
