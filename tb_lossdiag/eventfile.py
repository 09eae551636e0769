"""Event files (TFRecord) streamed in chunks: only the records holding bytes a reader asks for are checksummed and handed on."""

import os
import struct
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Tuple

import numpy as np

try:  # Google's CRC32C in C, with the CPU's CRC instructions: the optional extra tb_lossdiag[fast]
    from google_crc32c import value as _c_crc32c
except ImportError:  # the pure fallback below: numpy over many equal-length records, else per byte
    _c_crc32c = None

CHUNK = 4 << 20  # bytes read at a time; a longer record is read whole
_LENGTH = struct.Struct("<Q")
_CRC = struct.Struct("<I")
_HEADER, _FOOTER = 12, 4  # u64 length + masked CRC of the length; masked CRC of the data
_NUMPY_GROUP = 16  # the pure fallback checksums this many records of one length at once with numpy


class Finder:
    """The bytes that mark a record a reader may use: `exact` strings, or `folded` ones in any case."""

    def __init__(self, exact: Iterable[bytes] = (), folded: Iterable[bytes] = (), every: bool = False):
        self.exact = list(exact)
        self.folded = [needle.lower() for needle in folded]
        self.every = every  # every record is used: nothing to search

    def marks(self, buf: bytes) -> List[int]:
        """Sorted offsets in `buf` where a needle begins."""
        found = []
        for hay, needles in ((buf, self.exact), (buf.lower() if self.folded else buf, self.folded)):
            for needle in needles:
                i = hay.find(needle)
                while i >= 0:
                    found.append(i)
                    i = hay.find(needle, i + 1)
        found.sort()
        return found


def batches(path: str, notices: List[str], finder: Finder,
            progress: Optional[Callable[[int], None]] = None) -> Iterator[Tuple[bytes, List[int], List[int]]]:
    """Per chunk read, (chunk, offsets, lengths) of the checked data of the records `finder` marks."""
    # A corrupt or truncated file ends with a notice in `notices`; a marked record whose data fails
    # its checksum is skipped with one. `progress(n)` is told of each n bytes read.
    name = os.path.basename(path)
    with open(path, "rb") as f:
        frames = _Frames(f, finder, progress)
        for buf, base, starts in frames:
            offsets, lengths = [], []
            for start, length, ok in zip(starts, *_data_ok(buf, starts)):
                if ok:
                    offsets.append(start + _HEADER)
                    lengths.append(length)
                elif _heads_ok(buf, [start])[0]:
                    notices.append(f"{name}: damaged record at byte {base + start} (checksum mismatch); skipped")
                else:  # a damaged length (its data checksum failed over the wrong bytes): the framing is lost
                    notices.append(_first_damage(path))
                    yield buf, offsets, lengths
                    return
            yield buf, offsets, lengths
        if frames.tail is not None:
            notices.append(_tail_notice(path, frames.tail))


class _Frames:
    """Rounds of (buffer, its file offset, starts of the marked records wholly in it); `tail` at a ragged end."""

    def __init__(self, f, finder: Finder, progress):
        self.f, self.finder, self.progress = f, finder, progress
        self.size = os.fstat(f.fileno()).st_size  # a file still being written is read as it was here
        self.tail: Optional[Tuple[bytes, int, int]] = None  # (buffer, offset in it, its file offset) at a ragged end

    def __iter__(self):
        buf, base, need, read = b"", 0, CHUNK, 0
        while True:
            chunk = self.f.read(min(max(CHUNK, need), self.size - read))
            read += len(chunk)
            if self.progress and chunk:
                self.progress(len(chunk))
            buf = buf + chunk if buf else chunk
            n = len(buf)
            pos, starts = _walk(buf, None if self.finder.every else self.finder.marks(buf))
            yield buf, base, starts
            whole = pos + _HEADER <= n
            end = base + pos + _HEADER + _FOOTER + _LENGTH.unpack_from(buf, pos)[0] if whole else 0
            if read >= self.size or end > self.size:
                if pos < n:
                    self.tail = (buf, pos, base)  # the last record cannot be whole
                return
            need = end - base - pos if whole else CHUNK
            buf, base = buf[pos:], base + pos


_SENTINEL = 1 << 80  # beyond any record's end


def _walk(buf: bytes, marks: Optional[List[int]]):
    """(where the first record not wholly in `buf` starts, starts of the whole records holding a mark)."""
    # marks None: every whole record.
    unpack, pos, prev = _LENGTH.unpack_from, 0, -1
    starts: List[int] = []
    note = starts.append
    # The hot loops: one length read per record, until a length can no longer be read (past the end).
    try:
        if marks is None:
            while True:
                end = pos + unpack(buf, pos)[0] + (_HEADER + _FOOTER)
                note(pos)
                prev, pos = pos, end
        marks.append(_SENTINEL)
        mark, i = marks[0], 0
        while True:
            end = pos + unpack(buf, pos)[0] + (_HEADER + _FOOTER)
            if mark < end:
                note(pos)
                while marks[i] < end:
                    i += 1
                mark = marks[i]
            prev, pos = pos, end
    except (struct.error, OverflowError):  # OverflowError: a damaged length sent the offset past 2**63
        pass
    if pos > len(buf):  # the last record read runs past the buffer
        pos = prev
        if starts and starts[-1] == prev:
            starts.pop()
    return pos, starts


def _matches(crcs: List[int], stored: List[int]) -> List[bool]:
    """Whether each CRC, masked as TFRecord stores it, equals the stored one."""
    crc = np.array(crcs, dtype=np.uint32)
    return ((((crc >> 15) | (crc << 17)) + np.uint32(0xA282EAD8)) == np.array(stored, dtype=np.uint32)).tolist()


def _heads_ok(buf: bytes, starts: List[int]) -> List[bool]:
    """Whether the length of each record at `starts` in `buf` matches its checksum."""
    stored = [_CRC.unpack_from(buf, s + 8)[0] for s in starts]
    return _matches(_crcs(buf, starts, [8] * len(starts)), stored)


def _data_ok(buf: bytes, starts: List[int]) -> Tuple[List[int], List[bool]]:
    """(lengths, whether the data matches its checksum) of the records at `starts` (wholly in `buf`)."""
    # It also fails, but for 1 in 2**32, when the record's length is damaged: the bytes summed are wrong.
    unpack = _LENGTH.unpack_from
    lengths = [unpack(buf, s)[0] for s in starts]
    stored = [_CRC.unpack_from(buf, s + _HEADER + n)[0] for s, n in zip(starts, lengths)]
    return lengths, _matches(_crcs(buf, [s + _HEADER for s in starts], lengths), stored)


def _crcs(buf: bytes, offsets: List[int], lengths: List[int]) -> List[int]:
    """The CRC32C of each buf[offset:offset+length]."""
    if _c_crc32c is not None:
        return [_c_crc32c(buf[o: o + n]) for o, n in zip(offsets, lengths)]
    result = [0] * len(offsets)
    groups: Dict[int, List[int]] = {}  # length -> indexes of the records of that length
    for index, n in enumerate(lengths):
        groups.setdefault(n, []).append(index)
    for n, indexes in groups.items():
        if len(indexes) < _NUMPY_GROUP:
            for index in indexes:
                result[index] = _python_crc32c(buf[offsets[index]: offsets[index] + n])
        else:
            for index, crc in zip(indexes, _numpy_crc32c(buf, [offsets[j] for j in indexes], n)):
                result[index] = int(crc)
    return result


def _table() -> np.ndarray:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return np.array(table, dtype=np.uint32)


_TABLE = _table()
_TABLE_LIST = _TABLE.tolist()


def _python_crc32c(data: bytes) -> int:
    """The CRC32C of one record, a table step per byte."""
    crc, table = 0xFFFFFFFF, _TABLE_LIST
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _numpy_crc32c(buf: bytes, offsets: List[int], n: int) -> np.ndarray:
    """The CRC32C of many records of `n` bytes at once: one table step per byte column."""
    rows = np.frombuffer(buf, dtype=np.uint8)[np.asarray(offsets)[:, None] + np.arange(n)]
    crc = np.full(len(offsets), 0xFFFFFFFF, dtype=np.uint32)
    for column in rows.T:
        crc = _TABLE[(crc ^ column) & 0xFF] ^ (crc >> 8)
    return crc ^ np.uint32(0xFFFFFFFF)


def _tail_notice(path: str, tail: Tuple[bytes, int, int]) -> str:
    """What a ragged end (`_Frames.tail`) means: a truncated file, unless a damaged length sent the framing astray."""
    buf, pos, base = tail
    if pos + _HEADER > len(buf) or all(_heads_ok(buf, [pos])):
        return _truncated(os.path.basename(path), base + pos)
    return _first_damage(path)


def _first_damage(path: str) -> str:
    """The notice for the first damaged length in the file at `path`, every one checked (slow; rare)."""
    name = os.path.basename(path)
    with open(path, "rb") as f:
        frames = _Frames(f, Finder(every=True), None)
        for buf, base, starts in frames:
            for start, ok in zip(starts, _heads_ok(buf, starts)):
                if not ok:
                    return f"{name}: corrupt record at byte {base + start}; the rest of the file was skipped"
        if frames.tail is not None:
            buf, pos, base = frames.tail
            if pos + _HEADER <= len(buf) and not all(_heads_ok(buf, [pos])):
                return f"{name}: corrupt record at byte {base + pos}; the rest of the file was skipped"
            return _truncated(name, base + pos)
    return f"{name}: corrupt record; the rest of the file was skipped"


def _truncated(name: str, offset: int) -> str:
    return f"{name}: truncated at byte {offset} (the writer crashed or is still writing)"
