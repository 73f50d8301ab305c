"""Saving and loading modules as ``.npz`` files, atomically and verified.

The file is an ordinary ``.npz`` (``numpy.load`` reads it) holding:

* ``__meta__``: a JSON string with the format name and version, the class
  name, the constructor arguments, the parameter names in order, and the
  SHA-256 of the parameter bytes (names, dtypes, shapes and values);
* one ``.npy`` member per parameter, under its PyTorch-style name;
* as the zip archive comment, ``numbarnn-sha256:`` and the SHA-256 of every
  byte of the file before the digest itself.

Every member is stored uncompressed (``ZIP_STORED``).

The whole-file digest is what makes corruption detectable everywhere: zip
checks CRCs of member data only, so a flipped byte in a timestamp or an
attribute field would otherwise load silently. It is a plain SHA-256, not
a signature: it detects accidents, not tampering (anyone who can change the
file can recompute it). Against a hostile file, :func:`load` relies on its
bounds instead (see there). Writes go to a temporary file in the target's
directory that replaces the target with ``os.replace`` once complete, so a
crash never leaves a half-written file under the target's name.
"""
import contextlib
import hashlib
import importlib
import io
import json
import os
import re
import secrets
import stat
import zipfile

import numpy as np

FORMAT = "numbarnn-module"
VERSION = 1
_TRAILER = b"numbarnn-sha256:"
_DIGEST_LEN = 64  # hex characters of a SHA-256

_REGISTRY = {}
# packages whose classes register on import: load() imports them when a file
# names a class not registered yet (numbarnn imports them lazily)
_PROVIDERS = ("numbarnn.models", "numbarnn.train")


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


_TMP_SUFFIX = ".numbarnn-tmp"
_CHUNK = 1 << 20
# __meta__ holds a JSON string; a bigger one is not a file this module wrote
_MAX_META_BYTES = 1 << 20
# zip headers per member, the central directory and the trailer: what a file
# may hold beyond its arrays' bytes (names are short; see _check_members)
_OVERHEAD_PER_MEMBER = 1024
_OVERHEAD_FIXED = 64 * 1024


def _tmp_name(directory, base):
    # the pid lets a later save tell a dead writer's leftover from a live one
    return os.path.join(directory, f".{base}.{os.getpid()}-{secrets.token_hex(4)}{_TMP_SUFFIX}")


def _pid_alive(pid):
    if os.name != "posix":  # Windows' os.kill(pid, 0) would terminate the process
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError, OverflowError, ValueError):
        return True  # another user's process, or no way to tell: leave it alone
    return True


def _remove_stale_temporaries(directory, base):
    """Delete temporaries of earlier saves to ``base`` whose writer is gone
    (a crash or SIGKILL mid-save); a live writer's (another process saving
    the same file right now, or this process) is left alone."""
    pattern = re.compile(re.escape(f".{base}.") + r"(\d+)-[0-9a-f]{8}" + re.escape(_TMP_SUFFIX))
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        m = pattern.fullmatch(name)
        if m and int(m.group(1)) != os.getpid() and not _pid_alive(int(m.group(1))):
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(directory, name))


def save(module, path):
    """Write ``module`` to ``path`` atomically (temporary file + ``os.replace``).

    The file gets the permissions a plain ``open(path, "wb")`` would give:
    an existing file keeps its mode, a new one gets 0o666 less the umask.
    A symbolic link is written through (its target is replaced, the link
    stays). The temporary file (``.<name>.<pid>-<random>.numbarnn-tmp`` in
    the same directory) is removed if the save fails or is interrupted
    (KeyboardInterrupt included); one left by a process killed mid-save is
    removed by the next save to the same path.

    Parameters
    ----------
    module : numbarnn.nn.Module or a model
        A layer or cell, on the CPU or the GPU (its parameters are copied
        to the host; :func:`load` returns a module on the CPU), or any
        model of :mod:`numbarnn.models`.
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
    # through symlinks (to their final target): the link itself stays
    target = os.path.realpath(path)
    directory, base = os.path.split(target)
    _remove_stale_temporaries(directory, base)
    try:
        mode = stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        mode = None
    tmp = None
    try:
        tmp = _tmp_name(directory, base)
        # 0o666 through the umask, as open() would create it
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                     0o666)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if mode is not None:  # replacing a file: keep its permissions, as open() would
            os.chmod(tmp, mode)
        os.replace(tmp, target)
        tmp = None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    with contextlib.suppress(OSError, AttributeError):  # make the rename durable (POSIX)
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def _open_regular(path):
    """A binary file object on ``path``, which must be a regular file.

    Opened without blocking (a FIFO would otherwise wait for a writer) and
    checked on the open descriptor, so the file cannot be swapped between
    the check and the read."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ValueError(f"{path!s} is not a regular file (a directory, device, FIFO or "
                             "socket): numbarnn reads modules from regular files only")
        return os.fdopen(fd, "rb"), st.st_size
    except BaseException:
        os.close(fd)
        raise


def _npy_header(zf, info, path):
    """(shape, dtype, header bytes) of a .npy member, reading its header only."""
    with zf.open(info) as f:
        try:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
            elif version == (2, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
            else:
                raise ValueError(f"unsupported .npy version {version}")
        except ValueError as exc:
            raise ValueError(f"{path!s}: member {info.filename!r} is not a valid .npy "
                             f"array: {exc}") from exc
        header = f.tell()
    if dtype.hasobject:
        raise ValueError(f"{path!s}: member {info.filename!r} holds Python objects; "
                         "numbarnn files hold plain numbers and strings only")
    nbytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
    if header + nbytes != info.file_size:
        raise ValueError(f"{path!s}: member {info.filename!r} declares {shape} {dtype} "
                         f"({nbytes} bytes) but holds {info.file_size - header}")
    return tuple(shape), dtype, header


def _members(zf, path):
    """Every member by name: stored (not compressed), once each."""
    infos = zf.infolist()
    names = [i.filename for i in infos]
    if len(set(names)) != len(names):
        raise ValueError(f"{path!s} is not a valid numbarnn module file: duplicate members")
    for i in infos:
        if i.compress_type != zipfile.ZIP_STORED or i.compress_size != i.file_size:
            # numbarnn writes ZIP_STORED: decompression is never needed, so a
            # hostile "zip bomb" member is refused before anything is inflated
            raise ValueError(f"{path!s}: member {i.filename!r} is compressed; numbarnn "
                             "files are stored uncompressed")
    return dict(zip(names, infos))


def _read_meta(zf, members, path):
    info = members.get("__meta__.npy")
    if info is None:
        raise ValueError(f"{path!s} is not a numbarnn module file (no __meta__)")
    if info.file_size > _MAX_META_BYTES:
        raise ValueError(f"{path!s}: __meta__ is {info.file_size} bytes; numbarnn "
                         f"writes at most {_MAX_META_BYTES}")
    shape, dtype, _ = _npy_header(zf, info, path)
    if shape != () or dtype.kind != "U":
        raise ValueError(f"{path!s}: __meta__ is not a string")
    with zf.open(info) as f:
        meta = json.loads(str(np.lib.format.read_array(f, allow_pickle=False)[()]))
    if not isinstance(meta, dict):
        raise ValueError(f"{path!s}: __meta__ is not a JSON object")
    return meta


def _check_members(zf, members, meta, declared, path, cls):
    """The headers of every array member, checked against ``declared`` (the
    names, shapes and dtype the config implies; None for a model, whose
    arrays are bounded by the file size only). Returns the total array bytes."""
    names = meta.get("params")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ValueError(f"{path!s}: __meta__ has no list of parameter names")
    wanted = {n + ".npy" for n in names} | {"__meta__.npy"}
    if set(members) != wanted or len(names) != len(set(names)):
        raise ValueError(f"{path!s}: its members do not match the parameter names in "
                         "__meta__")
    if declared is not None:
        shapes, dtype = declared
        if list(shapes) != names:
            raise ValueError(f"{path!s} does not describe a valid {cls.__name__}: "
                             f"parameters {names}, but the configuration implies "
                             f"{list(shapes)}")
    total = 0
    for name in names:
        shape, dt, _ = _npy_header(zf, members[name + ".npy"], path)
        if declared is not None and (shape != shapes[name] or dt != dtype):
            raise ValueError(f"{path!s} does not describe a valid {cls.__name__}: parameter "
                             f"{name!r} is declared {shape} {dt}, but the configuration "
                             f"implies {shapes[name]} {dtype}")
        total += members[name + ".npy"].file_size
    return total


def _check_trailer(f, size, path):
    """The digest stored at the file's end (or ValueError)."""
    tail_len = len(_TRAILER) + _DIGEST_LEN
    tail = b""
    if size >= tail_len:
        f.seek(size - tail_len)
        tail = f.read(tail_len)
    if not tail.startswith(_TRAILER):
        raise ValueError(f"{path!s} is not a numbarnn module file, or it is truncated "
                         "(no integrity digest at its end)")
    return tail[len(_TRAILER):]


def _check_digest(f, size, digest, path):
    """Stream the file through SHA-256 and compare with its stored digest."""
    h = hashlib.sha256()
    f.seek(0)
    left = size - _DIGEST_LEN
    while left:
        chunk = f.read(min(_CHUNK, left))
        if not chunk:
            raise ValueError(f"{path!s} changed while it was read")
        h.update(chunk)
        left -= len(chunk)
    if h.hexdigest().encode() != digest:
        raise ValueError(f"{path!s} is corrupt: its SHA-256 does not match the digest "
                         "stored in it")


def _lookup(meta, path, expected):
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path!s} is not a numbarnn module file (format "
                         f"{meta.get('format')!r})")
    if meta.get("version") != VERSION:
        raise ValueError(f"{path!s} has format version {meta.get('version')!r}; this "
                         f"numbarnn reads version {VERSION}")
    name = meta.get("class")
    cls = _REGISTRY.get(name) if isinstance(name, str) else None
    for provider in _PROVIDERS if cls is None and isinstance(name, str) else ():
        importlib.import_module(provider)
        cls = _REGISTRY.get(name)
        if cls is not None:
            break
    if cls is None:
        raise ValueError(f"{path!s} holds an unknown class {meta.get('class')!r}")
    if expected is not None and not issubclass(cls, expected):
        raise ValueError(f"{path!s} holds a {cls.__name__}, not a {expected.__name__}")
    if not isinstance(meta.get("config"), dict):
        raise ValueError(f"{path!s}: __meta__ has no configuration")
    return cls


def _inspect(zf, size, path, expected):
    """Everything that can be checked from the metadata and the array headers,
    before reading any array: (class, meta, members)."""
    members = _members(zf, path)
    meta = _read_meta(zf, members, path)
    cls = _lookup(meta, path, expected)
    declared = None
    if hasattr(cls, "_declared_params"):  # layers and cells: shapes follow from config
        try:
            declared = cls._declared_params(meta["config"])
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{path!s} does not describe a valid {cls.__name__}: "
                             f"{exc}") from exc
    total = _check_members(zf, members, meta, declared, path, cls)
    bound = total + _MAX_META_BYTES + _OVERHEAD_FIXED + _OVERHEAD_PER_MEMBER * len(members)
    if size > bound:
        raise ValueError(f"{path!s} is {size} bytes, more than its arrays account for "
                         f"({total} bytes)")
    return cls, meta, members


def _read(path, expected):
    """(class, meta, arrays) of a verified file, or ValueError."""
    f, size = _open_regular(path)
    with f:
        digest = _check_trailer(f, size, path)
        zf = None
        try:
            zf = zipfile.ZipFile(f)
            cls, meta, members = _inspect(zf, size, path, expected)
        except Exception as exc:  # noqa: BLE001 - any failure to parse is one fact
            if zf is not None:
                zf.close()
            # damage explains any failure: say so rather than what broke
            _check_digest(f, size, digest, path)
            if isinstance(exc, ValueError):
                raise
            raise ValueError(f"{path!s} is not a readable numbarnn module file: "
                             f"{exc!r}") from exc
        with zf:
            _check_digest(f, size, digest, path)
            try:
                arrays = {}
                for name in meta["params"]:
                    with zf.open(members[name + ".npy"]) as m:
                        arrays[name] = np.lib.format.read_array(m, allow_pickle=False)
            except Exception as exc:  # noqa: BLE001
                raise ValueError(f"{path!s} is not a readable numbarnn module file: "
                                 f"{exc!r}") from exc
    return cls, meta, arrays


def load(path, expected=None):
    """Read a module or model written by :func:`save`.

    A file is checked before anything sizeable is read or allocated: it
    must be a regular file (not a directory, device or FIFO); its members
    must be stored uncompressed (so nothing is ever inflated); the metadata
    is bounded (1 MiB); every array's shape and dtype are read from its
    ``.npy`` header, without its data, and for a layer or cell checked
    against what the configuration implies (a configuration asking for a
    huge layer is refused before any parameter is allocated); and the file
    may not be larger than its arrays account for. A model of
    :mod:`numbarnn.models`, whose shapes the configuration does not imply,
    is bounded by its headers and the file size only. Only then is the
    file's SHA-256 checked and the arrays read (never with pickle).

    What the digest does and does not protect against: it is a plain
    SHA-256 of the file, stored in the file. It detects corruption (a
    truncated or damaged file, any changed byte) but not tampering: anyone
    who can modify the file can recompute it. Only load files from sources
    you trust; the checks above bound the memory and time a hostile file
    can cost, and no file can run code, but a resealed file can hold any
    parameter values.

    Parameters
    ----------
    path : str or os.PathLike
    expected : type, optional
        Require the file to hold this class (or a subclass of it).

    Returns
    -------
    numbarnn.nn.Module or model
        A new module in training mode with zeroed gradients, or a model
        (built as ``cls(**config)``, then ``load_state_dict(arrays)``).

    Raises
    ------
    ValueError
        A truncated or corrupt file (any changed byte), not a regular file,
        a compressed member, a file of another format or version, an
        unknown or unexpected class, a configuration the class refuses
        (a bad dtype, say), or parameters that do not fit it. Nothing is
        returned unless everything checks.
    OSError
        The file cannot be opened.

    Examples
    --------
    >>> import os, tempfile, numbarnn
    >>> from numbarnn.nn import load
    >>> path = os.path.join(tempfile.mkdtemp(), "cell.npz")
    >>> numbarnn.LSTMCell(2, 3, seed=0).save(path)
    >>> load(path)
    LSTMCell(input_size=2, hidden_size=3, bias=True, dtype='float64', seed=0, init='pytorch')
    """
    path = os.fspath(path)
    cls, meta, arrays = _read(path, expected)
    if params_digest(arrays) != meta.get("params_sha256"):
        raise ValueError(f"{path!s} is corrupt: the parameter digest does not match")
    try:
        module = cls(**meta["config"])
        module.load_state_dict(arrays)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path!s} does not describe a valid {cls.__name__}: {exc}") from exc
    return module
