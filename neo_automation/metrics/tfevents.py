"""Scalars from TensorBoard event files (`*.tfevents.*`), read from a byte offset onwards.

An event file is a sequence of TFRecords, each

    length (uint64, little-endian) | masked CRC32C of length | data | masked CRC32C of data

whose data is a serialized `Event` protocol buffer (wall time, step, and a summary of tagged
values). Writers that log scalars (`tensorboardX` and `torch.utils.tensorboard` with
`add_scalar`, TensorFlow's `tf.summary.scalar` as used by Flax's and CLU's metric writers) put
each scalar either in `simple_value` or as a 0-dimensional float tensor tagged with the
`scalars` plugin; both are read, other summaries (histograms, images, text) are ignored.

The `Event` messages are decoded with tensorboardX's generated protocol-buffer classes and the
CRCs checked with its `masked_crc32c` (which uses the native `crc32c` module when installed).
TensorBoard's own loader and `tbparse` read a file only from its start and keep no byte
position, which the store's per-file cursor needs (nothing read twice across processes), so the
record framing is read here. A record is complete when all of its bytes are there: a file still
being written is read up to its last complete record. A record whose CRC does not match is
reported with its offset and skipped; when the length itself cannot be trusted, reading goes on
at the next offset where a record with valid CRCs starts, so one corrupt record never costs the
good ones after it.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, BinaryIO

#: Bytes read at a time.
READ_BYTES = 1 << 20
#: A record longer than this is taken for a corrupt length (scalar events are ~100 bytes;
#: graphs and images, which are ignored, rarely exceed a few MiB).
MAX_RECORD_BYTES = 64 << 20
_HEADER = 12  # length (8) + its CRC (4)
_FOOTER = 4  # the data's CRC


@dataclass(frozen=True)
class Scalar:
    """One scalar of an event: its tag, the event's step and wall time (Unix seconds)."""

    tag: str
    step: int
    wall_time: float
    value: float


@dataclass(frozen=True)
class Record:
    """One complete record at `offset` (its bytes end at `end`): its scalars, or the problem."""

    offset: int
    end: int
    scalars: tuple[Scalar, ...] = ()
    problem: str | None = None


def is_event_file(path: Path) -> bool:
    """Whether `path` is named as TensorBoard names event files (`events.out.tfevents.*`)."""
    return ".tfevents." in path.name


@cache
def _codec() -> tuple[Any, Any]:
    """tensorboardX's `Event` class and `masked_crc32c` (imported on first use: ~100 ms)."""
    from tensorboardX.proto.event_pb2 import Event
    from tensorboardX.record_writer import masked_crc32c

    return Event, masked_crc32c


def first_record(fh: BinaryIO) -> bytes | None:
    """The first complete record's bytes (framing included), or None while there is none."""
    fh.seek(0)
    header = fh.read(_HEADER)
    if len(header) < _HEADER:
        return None
    (length,) = struct.unpack("<Q", header[:8])
    if length > MAX_RECORD_BYTES:
        return header  # corrupt from the start: the header alone names the file
    rest = fh.read(length + _FOOTER)
    return header + rest if len(rest) == length + _FOOTER else None


def read_records(fh: BinaryIO, offset: int, settled: bool = False) -> Iterator[Record]:
    """Each complete record of `fh` from byte `offset`, read `READ_BYTES` at a time.

    Args:
        fh: the event file, opened in binary mode.
        offset: where a record starts (0, or the end of the last record read before).
        settled: the file is no longer written (unchanged for a while): an incomplete last
            record, or garbage at the end, is then final and yielded as a `problem` record
            reaching the end of the file, so that it is reported once and never read again.

    Yields:
        Records in file order. A record that fails its CRC, or whose data is not an `Event`,
        has `problem` set; after a length that fails its CRC the next record with valid CRCs
        is searched for byte by byte, and the bytes skipped are one `problem` record. Before
        an incomplete last record of a file still being written, reading stops: the caller
        keeps that offset and tries again later.
    """
    event_cls, crc = _codec()
    fh.seek(offset)
    buf, base = b"", offset  # base: the file offset of buf[0]
    while True:
        data = fh.read(READ_BYTES)
        buf += data
        final = not data and settled
        pos, records = _parse(buf, base, event_cls, crc, final)
        yield from records
        buf, base = buf[pos:], base + pos
        if not data:
            if final and buf:
                yield Record(base, base + len(buf),
                             problem=f"an incomplete record of {len(buf)} bytes at the end "
                                     "(the file was cut mid-record) skipped")
            return


def _parse(buf: bytes, base: int, event_cls: Any, crc: Any, final: bool
           ) -> tuple[int, list[Record]]:
    """The complete records at the start of `buf`, and how many of its bytes they cover."""
    pos, out = 0, []
    while len(buf) - pos >= _HEADER:
        header = buf[pos:pos + 8]
        (length,) = struct.unpack("<Q", header)
        (header_crc,) = struct.unpack("<I", buf[pos + 8:pos + 12])
        if header_crc != crc(header) or length > MAX_RECORD_BYTES:
            resync = _resync(buf, pos + 1, crc, final)
            if resync is None:
                break  # the next good record may still be on its way
            out.append(Record(base + pos, base + resync,
                              problem=f"{resync - pos} corrupt bytes (the record length fails "
                                      "its CRC) skipped"))
            pos = resync
            continue
        end = pos + _HEADER + length + _FOOTER
        if end > len(buf):
            break  # incomplete: read more, or wait for the writer
        data = buf[pos + _HEADER:pos + _HEADER + length]
        (data_crc,) = struct.unpack("<I", buf[end - _FOOTER:end])
        if data_crc != crc(data):
            out.append(Record(base + pos, base + end, problem="the record fails its CRC"))
        else:
            out.append(_decode(event_cls, data, base + pos, base + end))
        pos = end
    return pos, out


def _resync(buf: bytes, start: int, crc: Any, final: bool) -> int | None:
    """The first offset from `start` where a whole record with valid CRCs starts.

    With none found: the end of `buf` when it ends a settled file (the rest is garbage), else
    None (the record that shows where to go on may not be complete yet).
    """
    for pos in range(start, len(buf) - _HEADER + 1):
        header = buf[pos:pos + 8]
        if struct.unpack("<I", buf[pos + 8:pos + 12])[0] != crc(header):
            continue
        (length,) = struct.unpack("<Q", header)
        end = pos + _HEADER + length + _FOOTER
        if length > MAX_RECORD_BYTES or end > len(buf):
            continue
        if struct.unpack("<I", buf[end - _FOOTER:end])[0] == crc(buf[pos + _HEADER:end - _FOOTER]):
            return pos
    return len(buf) if final else None


def _decode(event_cls: Any, data: bytes, offset: int, end: int) -> Record:
    """The scalars of one serialized `Event`."""
    from google.protobuf.message import DecodeError

    try:
        event = event_cls.FromString(data)
    except DecodeError as exc:
        return Record(offset, end, problem=f"not a TensorBoard event ({exc})")
    if event.WhichOneof("what") != "summary":
        return Record(offset, end)
    scalars = []
    for value in event.summary.value:
        number = _scalar(value)
        if number is not None:
            scalars.append(Scalar(value.tag, event.step, event.wall_time, number))
    return Record(offset, end, tuple(scalars))


#: TensorFlow's dtype numbers for the floating-point scalars, with their `struct` format.
_DTYPES = {1: "<f", 2: "<d", 19: "<e"}  # DT_FLOAT, DT_DOUBLE, DT_HALF


def _scalar(value: Any) -> float | None:
    """A summary value's scalar: `simple_value`, or a 0-d tensor of the `scalars` plugin."""
    kind = value.WhichOneof("value")
    if kind == "simple_value":
        return float(value.simple_value)
    if kind != "tensor" or value.metadata.plugin_data.plugin_name != "scalars":
        return None
    tensor = value.tensor
    if len(tensor.tensor_shape.dim) or tensor.dtype not in _DTYPES:
        return None
    if tensor.float_val:
        return float(tensor.float_val[0])
    if tensor.double_val:
        return float(tensor.double_val[0])
    fmt = _DTYPES[tensor.dtype]
    if len(tensor.tensor_content) == struct.calcsize(fmt):
        return float(struct.unpack(fmt, tensor.tensor_content)[0])
    return None

