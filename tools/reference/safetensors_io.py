"""Minimal safetensors reader/writer on numpy (no `safetensors` package needed).

File layout: u64 little-endian header length N, then N bytes of JSON
    {name: {"dtype": str, "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {str: str}}
then the raw little-endian, row-major tensor data; offsets are relative to the start of the data.

BF16 tensors are returned as numpy uint16 arrays holding the bit patterns; use `bf16_to_f32` and
`f32_to_bf16` to convert (round to nearest even, NaN kept quiet).
"""

import json
import os
import struct

import numpy as np

# safetensors dtype name -> numpy little-endian dtype (BF16 is carried as raw uint16 bits)
_DTYPES = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "BF16": np.dtype("<u2"),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "U8": np.dtype("u1"),
}
_NUMPY_TO_ST = {
    np.dtype("float64"): "F64",
    np.dtype("float32"): "F32",
    np.dtype("int64"): "I64",
    np.dtype("int32"): "I32",
    np.dtype("uint8"): "U8",
    np.dtype("bool"): "U8",
}


class BF16(object):
    """Marks a uint16 array (bf16 bit patterns) to be saved with dtype BF16."""

    def __init__(self, bits):
        bits = np.asarray(bits)
        if bits.dtype != np.uint16:
            raise TypeError("BF16 wants uint16 bit patterns; use f32_to_bf16 first")
        self.bits = bits


def bf16_to_f32(bits):
    """uint16 bf16 bit patterns -> float32 (exact)."""
    bits = np.asarray(bits, dtype=np.uint16)
    return (bits.astype(np.uint32) << 16).view(np.float32)


def f32_to_bf16(x):
    """float32 -> uint16 bf16 bit patterns, round to nearest even (NaN stays NaN)."""
    x = np.ascontiguousarray(np.asarray(x, dtype=np.float32))
    u = x.view(np.uint32).astype(np.uint64)
    rounding_bias = ((u >> 16) & 1) + 0x7FFF
    rounded = ((u + rounding_bias) >> 16).astype(np.uint16)
    nan = np.isnan(x)
    if nan.any():
        rounded = np.where(nan, ((u >> 16) | 0x40).astype(np.uint16), rounded)
    return rounded


def round_to_bf16(x):
    """float32 values rounded to the nearest bf16 value, returned as float32."""
    return bf16_to_f32(f32_to_bf16(x))


def load(path):
    """Returns (dict name -> np.ndarray, metadata dict). BF16 tensors come back as uint16 bits."""
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise ValueError("%s: too short for a safetensors file" % path)
    (n,) = struct.unpack("<Q", raw[:8])
    if 8 + n > len(raw):
        raise ValueError("%s: header length %d exceeds file size" % (path, n))
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    data = memoryview(raw)[8 + n:]
    metadata = header.pop("__metadata__", None) or {}
    tensors = {}
    for name, info in header.items():
        dtype = _DTYPES.get(info["dtype"])
        if dtype is None:
            raise ValueError("%s: tensor %s has unsupported dtype %s" % (path, name, info["dtype"]))
        shape = tuple(int(s) for s in info["shape"])
        begin, end = (int(v) for v in info["data_offsets"])
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if end - begin != count * dtype.itemsize or end > len(data) or begin < 0:
            raise ValueError("%s: tensor %s has bad data_offsets" % (path, name))
        arr = np.frombuffer(data[begin:end], dtype=dtype, count=count).reshape(shape).copy()
        if dtype.byteorder not in ("=", "|") and not np.little_endian:  # pragma: no cover
            arr = arr.byteswap().newbyteorder()
        tensors[name] = arr
    return tensors, metadata


def load_f32(path):
    """Like load(), with every floating tensor (F32, F64, BF16) converted to float32."""
    tensors, metadata = load(path)
    header_dtypes = dtypes(path)
    out = {}
    for name, arr in tensors.items():
        if header_dtypes[name] == "BF16":
            out[name] = bf16_to_f32(arr)
        elif header_dtypes[name] in ("F32", "F64"):
            out[name] = arr.astype(np.float32)
        else:
            out[name] = arr
    return out, metadata


def dtypes(path):
    """name -> safetensors dtype string, read from the header only."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n).decode("utf-8"))
    header.pop("__metadata__", None)
    return {k: v["dtype"] for k, v in header.items()}


def save(path, tensors, metadata=None):
    """Writes tensors (name -> np.ndarray, or BF16(bits)) in sorted-name order.

    float64/float32/int64/int32/uint8 arrays keep their dtype (bool is written as U8); wrap uint16
    bf16 bit patterns in BF16(...). The JSON header is padded with spaces to a multiple of 8 bytes.
    """
    header = {}
    blobs = []
    offset = 0
    for name in sorted(tensors):
        value = tensors[name]
        if isinstance(value, BF16):
            st_dtype, arr = "BF16", value.bits.astype("<u2")
        else:
            arr = np.asarray(value)
            st_dtype = _NUMPY_TO_ST.get(arr.dtype)
            if st_dtype is None:
                raise TypeError("tensor %s: unsupported numpy dtype %s" % (name, arr.dtype))
            arr = arr.astype(_DTYPES[st_dtype])
        blob = np.ascontiguousarray(arr).tobytes()
        header[name] = {"dtype": st_dtype, "shape": list(arr.shape),
                        "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    if metadata:
        for k, v in metadata.items():
            if not isinstance(k, str) or not isinstance(v, str):
                raise TypeError("metadata keys and values must be strings")
        header["__metadata__"] = dict(metadata)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * ((-len(text)) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)
    os.replace(tmp, path)
