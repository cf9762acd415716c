#!/usr/bin/env python3
"""Writes the seed corpus in fuzz/corpus/<target>/: a few small valid logs, a torn one, a zero tail.

The seeds only need to be good starting points: each target checks everything itself. The format
written here (docs/format.md, core/src/header.rs and core/src/frame.rs) is v1:
  header (64 bytes): magic, version u32, header length u32, salt u64, base LSN u64,
                     28 reserved zero bytes, CRC32 of bytes 0..60
  frame:             CRC32 u32, frame length u32 (header included), payload
                     CRC32 over salt u64 || LSN u64 || frame length u32 || payload
All integers little-endian; CRC32 is IEEE (zlib's crc32 is the same function as crc32fast's).

Run from anywhere: python3 fuzz/gen_corpus.py. Output is deterministic.
"""
import os
import random
import struct
import zlib

MAGIC = b"\x89WALDEN\n"
FORMAT_VERSION = 1
HEADER_LEN = 64
FRAME_HEADER_LEN = 8
DEFAULT_MAX_PAYLOAD_LEN = 1 << 20

HERE = os.path.dirname(os.path.abspath(__file__))


def header(salt, base_lsn, sync_mark=None):
    head = MAGIC + struct.pack("<IIQQ", FORMAT_VERSION, HEADER_LEN, salt, base_lsn)
    if sync_mark is not None:
        head += struct.pack("<QI", sync_mark, 1)  # the sync mark, and flags bit 0: present
    head += bytes(60 - len(head))
    return head + struct.pack("<I", zlib.crc32(head))


def frame(salt, lsn, payload):
    length = FRAME_HEADER_LEN + len(payload)
    crc = zlib.crc32(struct.pack("<QQI", salt, lsn, length) + payload)
    return struct.pack("<II", crc, length) + payload


def log(salt, base_lsn, payloads, sync_mark=None):
    """A header and one frame per payload; returns the image and the LSN after the last frame."""
    image = bytearray(header(salt, base_lsn, sync_mark))
    lsn = base_lsn
    for payload in payloads:
        encoded = frame(salt, lsn, payload)
        image += encoded
        lsn += len(encoded)
    return bytes(image), lsn


def write(target, name, data):
    directory = os.path.join(HERE, "corpus", target)
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, name), "wb") as out:
        out.write(data)


def main():
    rng = random.Random(0x5EED)
    salt = 0x5EED_5A17_0000_0001
    payloads = [b"", b"hello", b"put k1 v1", bytes(rng.randrange(256) for _ in range(100)),
                b"\x00" * 12, bytes(rng.randrange(256) for _ in range(300))]

    # decode: 20 parameter bytes (LSN, salt, payload limit), then the bytes to decode.
    def params(lsn, limit=DEFAULT_MAX_PAYLOAD_LEN):
        return struct.pack("<QQI", lsn, salt, limit)

    write("decode", "record_small", params(4096) + frame(salt, 4096, b"hello"))
    write("decode", "record_empty", params(0) + frame(salt, 0, b""))
    write("decode", "record_100b", params(1 << 30) + frame(salt, 1 << 30, payloads[3]))
    write("decode", "torn_frame", params(64) + frame(salt, 64, payloads[5])[:40])
    write("decode", "zero_fill", params(64) + bytes(32))
    write("decode", "over_limit", params(64, limit=4) + frame(salt, 64, b"too long"))
    write("decode", "lsn_near_max", params(2**64 - 16) + frame(salt, 2**64 - 16, b"x"))

    # recovery: whole file images.
    clean, end = log(salt, 4096, payloads)
    write("recovery", "clean_log", clean)
    write("recovery", "header_only", header(salt, 0))
    write("recovery", "torn_tail", clean + frame(salt, end, b"the last record, torn")[:13])
    write("recovery", "torn_tail_garbage",
          clean + frame(salt, end, payloads[3])[:50] + bytes(rng.randrange(256) for _ in range(200)))
    write("recovery", "zero_tail", clean + bytes(512))
    mid = bytearray(clean)
    mid[HEADER_LEN + len(frame(salt, 4096, b"")) + FRAME_HEADER_LEN + 1] ^= 0x40  # in "hello"
    write("recovery", "corrupt_mid_log", bytes(mid))
    write("recovery", "base_lsn_near_max", log(salt, 2**64 - 200, [b"a", b"bc"])[0] + bytes(16))
    write("recovery", "truncated_header", header(salt, 0)[:30])
    newer = bytearray(header(salt, 0))
    newer[8] = 2
    write("recovery", "newer_version", bytes(newer))

    # recovery with a sync mark: a hole past it (an interrupted batch), and a cut below it.
    first_two_end = log(salt, 4096, payloads[:2])[1]
    marked, _ = log(salt, 4096, payloads, sync_mark=first_two_end)
    hole = bytearray(marked)
    third = HEADER_LEN + first_two_end - 4096
    hole[third:third + FRAME_HEADER_LEN + len(payloads[2])] = bytes(FRAME_HEADER_LEN + len(payloads[2]))
    write("recovery", "unsynced_hole", bytes(hole))
    write("recovery", "cut_below_sync_mark", log(salt, 4096, payloads, sync_mark=end)[0][:third + 3])

    # open: one options byte (bit 0 preallocation, bit 1 small limit, bit 2 PointInTime), then
    # a file image: the recovery seeds under default and preallocating options.
    for name in sorted(os.listdir(os.path.join(HERE, "corpus", "recovery"))):
        with open(os.path.join(HERE, "corpus", "recovery", name), "rb") as seed:
            image = seed.read()
        write("open", name, b"\x00" + image)
        write("open", name + "_prealloc", b"\x01" + image)

    # roundtrip: bytes read by `arbitrary` into (salt, base LSN, cut, zero tail, payloads).
    write("roundtrip", "empty", b"")
    write("roundtrip", "random_64", bytes(rng.randrange(256) for _ in range(64)))
    write("roundtrip", "random_512", bytes(rng.randrange(256) for _ in range(512)))
    write("roundtrip", "text", b"".join(payloads[:4]) * 4)

    # header: bytes read by `arbitrary` into (salt, base LSN and sync mark fields, flags,
    # reserved bytes, options, payloads, zeros, raw bytes); the target recomputes the header CRC.
    write("header", "empty", b"")
    write("header", "ones", b"\xff" * 96)
    write("header", "random_64", bytes(rng.randrange(256) for _ in range(64)))
    write("header", "random_512", bytes(rng.randrange(256) for _ in range(512)))


if __name__ == "__main__":
    main()
