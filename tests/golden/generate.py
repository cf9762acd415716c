#!/usr/bin/env python3
"""Writes the golden log files in tests/golden/: format-v1 and format-v2 logs, clean and damaged.

Written from docs/format.md alone, independently of the Rust encoder, so the files check the
document and the code against each other (tests/tests/golden.rs pins what each recovers to, and
that running this script again gives byte-identical files). The layout, as fuzz/gen_corpus.py
also writes it:
  header (64 bytes): magic, version u32, header length u32, salt u64, base LSN u64,
                     28 reserved zero bytes, CRC32 of bytes 0..60
  frame:             CRC32 u32, frame length u32 (header included), payload
                     CRC32 over salt u64 || LSN u64 || frame length u32 || payload
All integers little-endian; CRC32 is IEEE (zlib's crc32 is the same function as crc32fast's).
The reserved header bytes stay zero: format v1 gives them no meaning.

Format v2 (tests/golden/v2/): two header slots at offsets 0 and 64 (version 2, the slot's sequence
number u64 at bytes 44..52), frames from offset 128; sync marker frames (a 12-byte payload: kind
u32 = 1, durable LSN u64) whose CRC32 is the record CRC32 of the same bytes XOR 0x57414C44.

The META file (tests/golden/meta/): two slots at offsets 0 and 8192, each: magic b"\x89WALMETA",
version u32 = 1, sequence u64, truncation count u32, metadata length u32, CRC32 u32 of bytes
0..28 then of the body, then the body: truncations (from u64, to u64) and the metadata bytes. A
rewrite goes to slot sequence % 2.

Deterministic: fixed salts, base LSNs and payloads, no randomness. Run from anywhere:
    python3 tests/golden/generate.py [--out DIR]
(DIR defaults to this script's directory). See tests/golden/README.md for what each file is.
"""
import argparse
import os
import struct
import zlib

MAGIC = b"\x89WALDEN\n"
FORMAT_VERSION = 1
HEADER_LEN = 64
FRAME_HEADER_LEN = 8

SALT = 0x601D_E4F1_1E5A_1701
OTHER_SALT = 0x0B5E_1E7E_D5A1_7002
BASE_LSN = 4096

PAYLOADS = [
    b"golden record 0: the first",
    b"",
    b"golden record 2: " + b"x" * 40,
    bytes(range(64)),
    b"put k1 v1",
    b"golden record 5",
    b"\x00" * 12,
    b"golden record 7: the last",
]
TORN_PAYLOAD = b"golden record 8: torn by a crash"
OLD_PAYLOADS = [b"older incarnation record %02d: " % i + b"o" * (i % 7) for i in range(12)]
ZERO_TAIL_BYTES = 1024
OVER_LIMIT_PAYLOAD_LEN = 2000


def header(salt, base_lsn, version=FORMAT_VERSION, sync_mark=None):
    head = MAGIC + struct.pack("<IIQQ", version, HEADER_LEN, salt, base_lsn)
    if sync_mark is not None:
        head += struct.pack("<QI", sync_mark, 1)  # the sync mark; flags bit 0: present
    head += bytes(60 - len(head))
    return head + struct.pack("<I", zlib.crc32(head))


def header_v2(salt, base_lsn, sequence, sync_mark):
    head = MAGIC + struct.pack("<IIQQQIQ", 2, HEADER_LEN, salt, base_lsn, sync_mark, 1, sequence)
    head += bytes(60 - len(head))
    return head + struct.pack("<I", zlib.crc32(head))


def marker(salt, lsn, durable):
    payload = struct.pack("<IQ", 1, durable)
    length = FRAME_HEADER_LEN + len(payload)
    crc = zlib.crc32(struct.pack("<QQI", salt, lsn, length) + payload) ^ 0x57414C44
    return struct.pack("<II", crc, length) + payload


def v2_body(salt, base_lsn, batches):
    """Records committed in `batches` (lists of payloads), each batch after the first ending with
    a sync marker saying that everything before the batch (the end of the batch before it, its
    marker included) was durable, as a v2 writer drains after each sync. Returns the bytes and
    each record's LSN."""
    out = bytearray()
    lsns = []
    for index, batch in enumerate(batches):
        durable = base_lsn + len(out)
        for payload in batch:
            lsns.append(base_lsn + len(out))
            out += frame(salt, base_lsn + len(out), payload)
        if index > 0:
            out += marker(salt, base_lsn + len(out), durable)
    return bytes(out), lsns


META_MAGIC = b"\x89WALMETA"
META_SLOT_BYTES = 8192


def meta_slot(sequence, truncations, metadata, version=1):
    body = b"".join(struct.pack("<QQ", start, end) for start, end in truncations) + metadata
    head = META_MAGIC + struct.pack("<IQII", version, sequence, len(truncations), len(metadata))
    crc = zlib.crc32(body, zlib.crc32(head))
    return head + struct.pack("<I", crc) + body


def meta_file(slots):
    """A META file image holding `slots` (sequence, bytes), each at its slot's offset."""
    out = bytearray()
    for sequence, slot in slots:
        at = (sequence % 2) * META_SLOT_BYTES
        if len(out) < at + len(slot):
            out += bytes(at + len(slot) - len(out))
        out[at:at + len(slot)] = slot
    return bytes(out)


def frame(salt, lsn, payload):
    length = FRAME_HEADER_LEN + len(payload)
    crc = zlib.crc32(struct.pack("<QQI", salt, lsn, length) + payload)
    return struct.pack("<II", crc, length) + payload


def body(salt, base_lsn, payloads):
    """The frames of `payloads` from `base_lsn`; returns the bytes and each frame's LSN."""
    out = bytearray()
    lsns = []
    for payload in payloads:
        lsns.append(base_lsn + len(out))
        out += frame(salt, base_lsn + len(out), payload)
    return bytes(out), lsns


def log(salt, base_lsn, payloads, sync_mark=None):
    frames, _ = body(salt, base_lsn, payloads)
    return header(salt, base_lsn, sync_mark=sync_mark) + frames


def golden_files():
    """Every golden file, by relative path."""
    files = {}
    clean = log(SALT, BASE_LSN, PAYLOADS)
    end = BASE_LSN + len(clean) - HEADER_LEN
    files["clean.wal"] = clean

    # A crash while the next record was being written: its first 13 bytes landed.
    files["torn_tail.wal"] = clean + frame(SALT, end, TORN_PAYLOAD)[:13]

    # A torn write whose length field landed but whose payload did not: a whole frame's worth
    # of bytes with a checksum that does not match, and nothing valid after it.
    torn = bytearray(frame(SALT, end, TORN_PAYLOAD))
    torn[FRAME_HEADER_LEN:] = b"\xee" * len(TORN_PAYLOAD)
    files["torn_tail_checksum.wal"] = clean + bytes(torn)

    # Preallocated space after the last record, never written.
    files["zero_tail.wal"] = clean + bytes(ZERO_TAIL_BYTES)

    # One bit flipped in the payload of record 3: damage followed by valid records.
    _, lsns = body(SALT, BASE_LSN, PAYLOADS)
    mid = bytearray(clean)
    mid[HEADER_LEN + (lsns[3] - BASE_LSN) + FRAME_HEADER_LEN + 5] ^= 0x10
    files["mid_log_corruption.wal"] = bytes(mid)

    # The file of an older incarnation of the log (another salt, more records) was reused: the
    # new log's header and records overwrote its start, and its later frames are still there.
    old = log(OTHER_SALT, BASE_LSN, OLD_PAYLOADS)
    assert len(old) > len(clean)
    files["other_salt.wal"] = clean + old[len(clean):]

    # A record written under a larger payload limit (2000 bytes) between two small ones.
    files["over_limit.wal"] = log(
        SALT, 0, [b"small before", b"L" * OVER_LIMIT_PAYLOAD_LEN, b"small after"]
    )

    # Header damage and foreign files: each must be refused and left untouched.
    files["newer_version.wal"] = header(SALT, BASE_LSN, version=3) + clean[HEADER_LEN:]
    files["truncated_header.wal"] = header(SALT, BASE_LSN)[:40]
    damaged = bytearray(clean)
    damaged[24] ^= 0x01  # the base LSN's low byte, under the header checksum
    files["header_checksum.wal"] = bytes(damaged)
    files["not_a_wal.wal"] = b"SQLite format 3\x00" + bytes(range(48)) * 2

    # With a sync mark (records 0..3 synced): a power loss lost the write of record 5 in the
    # batch after the mark, while records 6 and 7 of the same batch landed. An interrupted batch.
    marked = bytearray(log(SALT, BASE_LSN, PAYLOADS, sync_mark=lsns[4]))
    hole = HEADER_LEN + (lsns[5] - BASE_LSN)
    marked[hole:HEADER_LEN + (lsns[6] - BASE_LSN)] = bytes(lsns[6] - lsns[5])
    files["unsynced_hole.wal"] = bytes(marked)

    # With the sync mark at the end (a cleanly closed log), cut in the middle of record 6:
    # records that were durable are gone.
    closed = log(SALT, BASE_LSN, PAYLOADS, sync_mark=end)
    files["lost_below_sync_mark.wal"] = closed[:HEADER_LEN + (lsns[6] - BASE_LSN) + 10]

    # A log directory of three segments, each named by its base LSN (sixteen lower-case hex
    # digits), every segment with the log's salt.
    bases = []
    base = 0
    for chunk in (PAYLOADS[0:3], PAYLOADS[3:6], PAYLOADS[6:8]):
        bases.append(base)
        segment = log(SALT, base, chunk)
        files["segments/%016x.wal" % base] = segment
        base += len(segment) - HEADER_LEN

    # The same directory with its last segment replaced by one of another log (another salt)
    # that happens to start at the same LSN.
    for name in ("%016x.wal" % b for b in bases[:2]):
        files["foreign_segment/" + name] = files["segments/" + name]
    files["foreign_segment/%016x.wal" % bases[2]] = log(OTHER_SALT, bases[2], PAYLOADS[6:8])

    # Format v2: the eight records committed in four batches (each commit one sync).
    batches = [PAYLOADS[0:1], PAYLOADS[1:3], PAYLOADS[3:4], PAYLOADS[4:8]]
    frames2, lsns2 = v2_body(SALT, BASE_LSN, batches)
    slots = header_v2(SALT, BASE_LSN, 0, BASE_LSN) + header_v2(SALT, BASE_LSN, 1, BASE_LSN)
    clean2 = slots + frames2
    end2 = BASE_LSN + len(frames2)
    files["v2/clean.wal"] = clean2
    # A close: the header's mark moved to the end, in slot 0 (sequence 2).
    sealed_slot = header_v2(SALT, BASE_LSN, 2, end2)
    files["v2/closed.wal"] = sealed_slot + clean2[HEADER_LEN:]
    # That rewrite torn after 30 bytes: slot 1 (sequence 1) still holds the header.
    files["v2/torn_slot.wal"] = sealed_slot[:30] + clean2[30:]
    # Both slots damaged: no header to trust.
    both = bytearray(clean2)
    both[24] ^= 0x01
    both[HEADER_LEN + 24] ^= 0x01
    files["v2/both_slots_damaged.wal"] = bytes(both)
    # A bit flipped in record 3 (the third batch), which the fourth batch's marker vouches for:
    # damage to an acknowledged record, refused (v1's header mark could not see it).
    flipped = bytearray(clean2)
    flipped[2 * HEADER_LEN + (lsns2[3] - BASE_LSN) + FRAME_HEADER_LEN + 5] ^= 0x10
    files["v2/flip_below_marker.wal"] = bytes(flipped)
    # Record 5's bytes zero (a lost write of the last, unvouched batch), records 6, 7 and the
    # batch's marker landed: an interrupted batch.
    hole = bytearray(clean2)
    start = 2 * HEADER_LEN + (lsns2[5] - BASE_LSN)
    hole[start:start + (lsns2[6] - lsns2[5])] = bytes(lsns2[6] - lsns2[5])
    files["v2/unsynced_hole.wal"] = bytes(hole)

    # A log directory with a META file: one v2 segment of the eight records (base 0, one batch,
    # no markers), truncated twice: first from record 6 (sequence 1, in slot 1), then from
    # record 5 (sequence 2, in slot 0), each time up to the segment's end.
    meta_frames, meta_lsns = v2_body(SALT, 0, [PAYLOADS])
    meta_end = len(meta_frames)
    segment = header_v2(SALT, 0, 0, 0) + header_v2(SALT, 0, 1, 0) + meta_frames
    first = meta_slot(1, [(meta_lsns[6], meta_end)], b"vote: term 6, node 1")
    second = meta_slot(2, [(meta_lsns[5], meta_end)], b"vote: term 7, node 2")
    for name in ("truncated", "torn_rewrite", "damaged", "newer"):
        files["meta/%s/0000000000000000.wal" % name] = segment
    files["meta/truncated/META"] = meta_file([(1, first), (2, second)])
    # The second rewrite torn after 20 bytes (the rest of its slot still zero).
    files["meta/torn_rewrite/META"] = meta_file([(1, first), (2, second[:20])])
    # Both copies damaged: one bit of each checksum.
    damaged = bytearray(meta_file([(1, first), (2, second)]))
    damaged[28] ^= 0x01
    damaged[META_SLOT_BYTES + 28] ^= 0x01
    files["meta/damaged/META"] = bytes(damaged)
    # Written by a newer release: version 2.
    files["meta/newer/META"] = meta_file([(1, meta_slot(1, [], b"", version=2))])
    return files


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=here, help="directory to write into")
    out = parser.parse_args().out
    for name, data in sorted(golden_files().items()):
        path = os.path.join(out, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as file:
            file.write(data)


if __name__ == "__main__":
    main()
