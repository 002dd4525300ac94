"""A zip's listing measured from its end records before :mod:`zipfile` builds one object per entry.

Python's zipfile ignores the entry count an end record declares: it lists every entry its central directory
holds, one ``ZipInfo`` (some 600 bytes) each. A TorchScript file or an ``.npz`` whose directory holds 2.5
million entries took 1.8 GB before any reader could count them. :func:`check_listing` finds the central
directory as zipfile does (the end record, or the ZIP64 record before it), refuses one that declares more
entries or bytes than the reader allows, and counts its entries by walking their headers, as zipfile
would, stopping at the first one too many.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

_END = struct.Struct("<4s4H2LH")  # end of central directory: 22 bytes
_LOCATOR = struct.Struct("<4sLQL")  # ZIP64 end locator: 20 bytes, just before the end record
_END64 = struct.Struct("<4sqhhllqqqq")  # ZIP64 end record: 56 bytes, just before its locator (as zipfile reads)
_ENTRY = struct.Struct("<4s4B4HL2L5H2L")  # a central directory entry: 46 bytes, then its name, extra, comment


class ListingTooLarge(ValueError):
    """A zip whose listing is larger than the reader allows; the message says what it declares."""


def end_record(read: Callable[[int, int], bytes], size: int) -> tuple[int, int, int] | None:
    """(entries declared, directory bytes, directory start) as zipfile finds them; None: no end record.
    ``read(offset, n)`` returns the file's bytes there."""
    if size < _END.size:
        return None
    tail_at = max(0, size - (1 << 16) - _END.size)
    tail = read(tail_at, size - tail_at)
    at = len(tail) - _END.size
    if not (tail[at : at + 4] == b"PK\x05\x06" and tail[-2:] == b"\0\0"):
        at = tail.rfind(b"PK\x05\x06")
        if at < 0 or at + _END.size > len(tail):
            return None
    _, _, _, _, count, cd_size, cd_offset, _ = _END.unpack_from(tail, at)
    where = tail_at + at
    concat = where - cd_size - cd_offset
    if where >= _LOCATOR.size + _END64.size:
        sig, *_ = _LOCATOR.unpack(read(where - _LOCATOR.size, _LOCATOR.size))
        if sig == b"PK\x06\x07":
            rec = _END64.unpack(read(where - _LOCATOR.size - _END64.size, _END64.size))
            if rec[0] == b"PK\x06\x06":
                count, cd_size, cd_offset = rec[7], rec[8], rec[9]
                concat = where - cd_size - cd_offset - _LOCATOR.size - _END64.size
    return count, cd_size, cd_offset + concat


def check_listing(read: Callable[[int, int], bytes], size: int, max_entries: int, max_dir_bytes: int) -> int | None:
    """The number of entries zipfile would list, counted without building them: ListingTooLarge when the end
    record declares more than ``max_entries`` entries or ``max_dir_bytes`` of listing, or its directory holds
    more entries than that. None when there is no end record (zipfile's own error says what is wrong)."""
    end = end_record(read, size)
    if end is None:
        return None
    count, cd_size, start = end
    if count > max_entries:
        raise ListingTooLarge(f"its listing declares {count:,} entries (at most {max_entries:,})")
    if cd_size > max_dir_bytes:
        raise ListingTooLarge(f"its listing is {cd_size:,} bytes long (at most {max_dir_bytes:,})")
    if cd_size < 0 or start < 0 or start + cd_size > size:
        return None
    data = read(start, cd_size)
    pos = n = 0
    while pos < cd_size and pos + _ENTRY.size <= len(data):
        fields = _ENTRY.unpack_from(data, pos)
        if fields[0] != b"PK\x01\x02":
            break  # zipfile stops here too, with its own error
        n += 1
        if n > max_entries:
            raise ListingTooLarge(f"its listing holds more than {max_entries:,} entries (it declares {count:,})")
        pos += _ENTRY.size + fields[12] + fields[13] + fields[14]
    return n


def check_file_listing(path, max_entries: int, max_dir_bytes: int) -> int | None:
    """:func:`check_listing` of a file, reading only its end records and its directory."""
    import os

    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size

        def read(offset: int, n: int) -> bytes:
            f.seek(offset)
            return f.read(n)

        return check_listing(read, size, max_entries, max_dir_bytes)
