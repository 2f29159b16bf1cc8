#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
"""gen_misuse_seeds.py - writes the seeds of the misuse targets (tests/fuzz/misuse.h) into
tests/fuzz/corpus/misuse_{dma,bounce,reuse}/. Run from anywhere; the output is
deterministic, so a re-run changes no committed file.

Seed names say what they exercise; class1..class4 are the four misuse classes of the
facade's record (include/iovx/dma.h, docs/facade.md): 1 a DMA address near 0 or 2^64 or
beyond the IOVA space (near 2^64 the live-mapping table's key dma + 3 wraps onto its empty,
tombstone and busy markers; the class1-tombstones-* seeds fill a 16-slot table with
tombstones of one shape so that the wrapped key meets one), 2 an sg list changed under the
same nents, direction and total (a moved offset, another phys), 3 an sg list with swapped
lengths or another caller's DMA address or bounce slot, 4 a tagged map when the reuse table
is full of held entries (it must still be a table mapping, reachable by a stop).
"""
import os

# op codes (low 3 bits of an op byte; the slot is op >> 3)
MAP_NEW, MAP_AGAIN, UNMAP, SYNC, MISUSE, STOP, EVICT = 0, 1, 2, 3, 4, 6, 7
SG = 1
TAGGED = 2
WIDE = 0x40                 # segment lengths up to 2 pages, else up to 1536 bytes
TO, FROM, BIDI = 1, 2, 0    # enum iovx_dma_dir
WEAK, PRIV, SKIP = 1 << 1, 1 << 9, 1 << 5
# misuse ctl: call = ctl % 3 (unmap, sync for cpu, sync for device), mutations 1 + ctl/3 % 3
M_UNMAP, M_SYNC_CPU, M_SYNC_DEV = 0, 1, 2
# sg mutation kinds
K_OFFSET, K_LENGTH, K_PHYS, K_DMA, K_DMALEN, K_NENTS, K_DIR, K_ATTRS, K_SWAP, K_MOVE = \
    0, 1, 2, 3, 5, 6, 7, 8, 9, 10
# 64-bit value selectors: 0 base+d, 1 base+d pages, 2 near 0, 3 near 2^64, 4 near 2^64 - pages,
# 5 beyond the IOVA space, 6 another live mapping's DMA address, 7 base ^ (a << s)
# single mutation fields
F_DMA, F_SIZE, F_DIR, F_ATTRS = 0, 1, 2, 3


def u16(v):
    return bytes([(v >> 8) & 0xff, v & 0xff])


def op(code, slot):
    return bytes([(slot << 3) | code])


def seg(page, off, length, wide=False):
    """length is what the target maps: 1 + (encoded % maxlen)."""
    maxlen = 8192 if wide else 1536
    assert 1 <= length <= maxlen
    return bytes([page]) + u16(off) + u16(length - 1)


def map_sg(slot, segs, dir=BIDI, attrs=0, tagged=False, wide=False):
    ctl = SG | (TAGGED if tagged else 0) | dir << 2 | (len(segs) - 1) << 4 | \
        (WIDE if wide else 0)
    a = (1 if attrs & WEAK else 0) | (2 if attrs & PRIV else 0) | (4 if attrs & SKIP else 0)
    return op(MAP_NEW, slot) + bytes([ctl, a]) + b"".join(segs)


def map_single(slot, page, off, length, dir=BIDI, tagged=False, wide=False):
    ctl = (TAGGED if tagged else 0) | dir << 2 | (WIDE if wide else 0)
    return op(MAP_NEW, slot) + bytes([ctl, 0]) + seg(page, off, length, wide)


def map_again(slot):
    return op(MAP_AGAIN, slot) + b"\x00"


def unmap(slot):
    return op(UNMAP, slot)


def sync(slot, for_cpu=True):
    return op(SYNC, slot) + bytes([1 if for_cpu else 0])


def misuse(slot, call, muts, then_sync_cpu=False):
    assert 1 <= len(muts) <= 3
    ctl = call + 3 * (len(muts) - 1) + (0x80 if then_sync_cpu else 0)
    return op(MISUSE, slot) + bytes([ctl]) + b"".join(muts)


def v64(sel, a=0, hi=0):
    return bytes([sel | hi << 3]) + u16(a)


def v32(sel, a=0):
    return bytes([sel]) + u16(a)


def m_sg(kind, entry, *rest):
    return bytes([kind, entry]) + b"".join(rest)


def m_single(field, *rest):
    return bytes([field]) + b"".join(rest)


def stop(slot, buffer_level=False):
    return op(STOP, slot) + bytes([1 if buffer_level else 0])


SEEDS = {}


def seed(target, name, hdr, *parts):
    SEEDS[(target, name)] = bytes([hdr]) + b"".join(parts)


TWO = [seg(0, 0x100, 0x600), seg(2, 0, 0x400)]      # two segments, not merged
TWO_B = [seg(5, 0x80, 0x300), seg(7, 0x40, 0x200)]

for t in ("dma", "bounce", "reuse"):
    # --- class 1: DMA addresses near 2^64, near 0, beyond the IOVA space
    seed(t, "class1-sg-unmap-near-top", 0,
         map_sg(0, TWO, BIDI),
         misuse(0, M_UNMAP, [m_sg(K_DMA, 0, v64(3, 2))]),     # UINT64_MAX - 2
         unmap(0))
    seed(t, "class1-sg-unmap-top-each", 1,
         map_sg(0, TWO, TO), map_sg(1, TWO_B, FROM),
         misuse(0, M_UNMAP, [m_sg(K_DMA, 0, v64(3, 0))]),
         misuse(0, M_UNMAP, [m_sg(K_DMA, 0, v64(3, 1))]),
         misuse(1, M_UNMAP, [m_sg(K_DMA, 0, v64(3, 3))]),
         misuse(1, M_UNMAP, [m_sg(K_DMA, 0, v64(4, 0x15))]),
         unmap(0), unmap(1))
    seed(t, "class1-sg-sync-near-top", 0,
         map_sg(0, TWO, BIDI),
         misuse(0, M_SYNC_CPU, [m_sg(K_DMA, 0, v64(3, 2))]),
         misuse(0, M_SYNC_DEV, [m_sg(K_DMA, 0, v64(3, 0))]),
         unmap(0))
    seed(t, "class1-single-sync-near-top", 0,
         map_single(0, 3, 0x10, 0x200, BIDI),
         misuse(0, M_SYNC_CPU, [m_single(F_DMA, v64(3, 2))]),
         misuse(0, M_SYNC_DEV, [m_single(F_DMA, v64(3, 0))]),
         unmap(0))
    seed(t, "class1-single-unmap-edges", 0,
         map_single(0, 3, 0x10, 0x200, TO),
         misuse(0, M_UNMAP, [m_single(F_DMA, v64(3, 2))]),
         misuse(0, M_UNMAP, [m_single(F_DMA, v64(2, 0))]),
         misuse(0, M_UNMAP, [m_single(F_DMA, v64(5, 3, 0))]),
         misuse(0, M_UNMAP, [m_single(F_DMA, v64(4, 0x21))]),
         unmap(0))
    seed(t, "class1-sg-near-zero-beyond-iova", 0,
         map_sg(0, TWO, FROM),
         misuse(0, M_UNMAP, [m_sg(K_DMA, 0, v64(2, 0))]),
         misuse(0, M_UNMAP, [m_sg(K_DMA, 0, v64(2, 3))]),
         misuse(0, M_UNMAP, [m_sg(K_DMA, 0, v64(5, 1, 0))]),
         misuse(0, M_SYNC_CPU, [m_sg(K_DMA, 0, v64(5, 0, 15))]),
         unmap(0))
    # The facade's live-mapping table keys an entry by dma + 3 and a removed entry leaves a
    # tombstone (key 1) with its meta: fill a 16-slot table (header bit 2) with tombstones
    # of one shape so that a wrapped key meets one on its probe.
    tombs_sg = [map_sg(i, [seg(i, 0x40, 0x200)], TO) for i in range(15)] + \
        [unmap(i) for i in range(1, 15)]
    tombs_single = [map_single(i, i, 0x40, 0x200, TO if i == 0 else FROM)
                    for i in range(15)] + [unmap(i) for i in range(1, 15)]
    tombs_single_same = [map_single(i, i, 0x40, 0x200, TO) for i in range(15)] + \
        [unmap(i) for i in range(1, 15)]
    seed(t, "class1-tombstones-sg-unmap", 4, *tombs_sg,
         misuse(0, M_UNMAP, [m_sg(K_DMA, 0, v64(3, 1))]),      # key wraps to TOMB
         misuse(0, M_UNMAP, [m_sg(K_DMA, 0, v64(3, 2))]),      # key wraps to EMPTY
         misuse(0, M_UNMAP, [m_sg(K_DMA, 0, v64(3, 0))]),      # key wraps to BUSY
         unmap(0))
    seed(t, "class1-tombstones-sg-sync", 4, *tombs_sg,
         misuse(0, M_SYNC_CPU, [m_sg(K_DMA, 0, v64(3, 1))]),
         misuse(0, M_SYNC_DEV, [m_sg(K_DMA, 0, v64(3, 1))]),
         unmap(0))
    # single: dma = 2^64 - 2 and size 1 (no wrap): a tombstone of another direction
    # (-EINVAL today) or of the same shape (0 today); -ENOENT by the contract
    one = m_single(F_SIZE, v64(2, 1))
    seed(t, "class1-tombstones-single-sync", 4, *tombs_single,
         misuse(0, M_SYNC_CPU, [m_single(F_DMA, v64(3, 1)), one]),
         misuse(0, M_SYNC_DEV, [m_single(F_DMA, v64(3, 1)), one,
                                m_single(F_DIR, bytes([2]))]),
         unmap(0))
    seed(t, "class1-tombstones-single-same", 4, *tombs_single_same,
         misuse(0, M_SYNC_DEV, [m_single(F_DMA, v64(3, 1)), one]),
         misuse(0, M_UNMAP, [m_single(F_DMA, v64(3, 1)), one]),
         unmap(0))
    # --- class 2: same nents, dir, total length and sg[0].dma_address, an offset moved
    seed(t, "class2-moved-offset-neighbour", 0,
         map_sg(0, [seg(0, 0x100, 0xe00, True), seg(1, 0x800, 0x300, True)], BIDI,
                wide=True),
         map_sg(1, [seg(4, 0x0, 0x600)], BIDI),
         map_single(2, 6, 0, 0x500, TO),
         misuse(0, M_UNMAP, [m_sg(K_MOVE, 0, u16(0xcff))]),     # +0xd00: [1] spans 2 pages
         unmap(1), unmap(2), unmap(0))
    seed(t, "class2-moved-offset-wide", 0,
         map_sg(0, [seg(0, 0xc00, 0x1800, True), seg(3, 0x0, 0x1000, True)], TO,
                wide=True),
         map_sg(1, [seg(8, 0, 0x1000, True)], TO, wide=True),
         misuse(0, M_UNMAP, [m_sg(K_MOVE, 0, u16(0xbff))]),
         misuse(0, M_SYNC_DEV, [m_sg(K_MOVE, 1, u16(0x0ff))]),
         unmap(0), unmap(1))
    seed(t, "class2-phys-offset-length", 0,
         map_sg(0, TWO, TO), map_sg(1, TWO_B, TO),
         misuse(0, M_UNMAP, [m_sg(K_OFFSET, 1, v32(0, 0x10))]),
         misuse(0, M_UNMAP, [m_sg(K_LENGTH, 0, v32(0, 0xfff0))]),
         misuse(0, M_UNMAP, [m_sg(K_PHYS, 1, v64(1, 1))]),
         misuse(0, M_UNMAP, [m_sg(K_NENTS, 0, bytes([0x00]))]),
         misuse(0, M_UNMAP, [m_sg(K_DIR, 0, bytes([2]))]),
         misuse(0, M_UNMAP, [m_sg(K_ATTRS, 0, bytes([1]))]),
         unmap(0), unmap(1))
    # --- class 3: swapped segment lengths; a DMA address of another caller's slot
    seed(t, "class3-swapped-lengths", 0,
         map_sg(0, [seg(0, 0, 0x100), seg(2, 0x40, 0x380)], BIDI),
         map_sg(1, TWO_B, TO),
         misuse(0, M_UNMAP, [m_sg(K_SWAP, 0, bytes([1, 1]))]),
         unmap(0), unmap(1))
    seed(t, "class3-other-slot-address", 0,
         map_sg(0, [seg(0, 0, 0x100), seg(2, 0x40, 0x380)], TO),
         map_sg(1, [seg(5, 0, 0x80), seg(6, 0, 0x300)], TO),
         misuse(0, M_UNMAP, [m_sg(K_DMA, 1, v64(6, 1))]),
         misuse(0, M_UNMAP, [m_sg(K_DMA, 1, v64(6, 2))]),
         unmap(0), unmap(1))
    seed(t, "class3-swap-dma-and-lengths", 0,
         map_sg(0, [seg(0, 0, 0x100), seg(2, 0x40, 0x380), seg(9, 0, 0x40)], FROM),
         map_single(1, 11, 0, 0x80, FROM),
         misuse(0, M_UNMAP, [m_sg(K_SWAP, 0, bytes([3, 2]))]),
         misuse(0, M_UNMAP, [m_sg(K_SWAP, 1, bytes([4, 2]))]),
         misuse(0, M_UNMAP, [m_sg(K_DMALEN, 2, v32(0, 1))]),
         misuse(0, M_SYNC_CPU, [m_sg(K_SWAP, 0, bytes([5, 1]))]),
         unmap(0), unmap(1))
    # --- well-formed sequences
    seed(t, "ok-map-sync-unmap", 0,
         map_sg(0, TWO, BIDI), map_single(1, 10, 0x20, 0x300, FROM),
         sync(0, True), sync(0, False), sync(1, True), sync(1, False),
         unmap(0), map_again(0), unmap(1), unmap(0))
    seed(t, "ok-hostile-attrs-nents", 1,
         map_sg(0, [seg(0, 0, 0x600), seg(1, 0, 0x600), seg(2, 0, 0x100)], TO, WEAK),
         misuse(0, M_UNMAP, [m_sg(K_ATTRS, 0, bytes([0])), m_sg(K_NENTS, 0, bytes([0x83]))]),
         misuse(0, M_UNMAP, [m_sg(K_NENTS, 0, bytes([0x84])),
                             m_sg(K_LENGTH, 0, v32(1))]),
         misuse(0, M_SYNC_DEV, [m_sg(K_DIR, 0, bytes([4]))]),
         unmap(0))

# --- class 4: a tagged map when the reuse table (4 entries) is full of held entries
FOUR = [[seg(2 * i, 0x100, 0x200)] for i in range(4)]
seed("reuse", "class4-full-table-tagged-map", 0,
     *[map_sg(i, FOUR[i], TO, tagged=True) for i in range(4)],
     map_sg(4, [seg(12, 0, 0x300)], TO, tagged=True),
     unmap(4), stop(4),
     *[unmap(i) for i in range(4)])
seed("reuse", "class4-full-table-tagged-single", 0,
     *[map_single(i, 2 * i, 0x40, 0x100, BIDI, tagged=True) for i in range(4)],
     map_single(4, 14, 0, 0x100, BIDI, tagged=True),
     misuse(4, M_UNMAP, [m_single(F_ATTRS, bytes([2]))]),
     unmap(4), stop(4, True),
     *[unmap(i) for i in range(4)])
seed("reuse", "ok-tagged-hits-stop-evict", 2,
     map_sg(0, TWO, TO, tagged=True),
     map_single(1, 10, 0, 0x200, FROM, tagged=True),
     unmap(0), map_again(0), unmap(0), stop(0),
     unmap(1), map_again(1),
     misuse(1, M_UNMAP, [m_single(F_ATTRS, bytes([2]))]),
     misuse(1, M_UNMAP, [m_single(F_ATTRS, bytes([0]))]),
     misuse(1, M_SYNC_CPU, [m_single(F_SIZE, v64(0, 0xff00))]),
     unmap(1), op(EVICT, 0),
     map_sg(2, TWO_B, BIDI, tagged=True), map_sg(3, TWO_B, BIDI, tagged=False),
     misuse(2, M_SYNC_CPU, [m_sg(K_LENGTH, 1, v32(0, 1))]),
     unmap(3), unmap(2), stop(2, True))
# a tagged list carrying the first DMA address of an untagged mapping of the same buffer
seed("reuse", "class2-tagged-list-untagged-address", 0,
     map_sg(2, TWO_B, BIDI, tagged=True), map_sg(3, TWO_B, BIDI, tagged=False),
     misuse(2, M_UNMAP, [m_sg(K_DMA, 0, v64(6, 0))]),
     unmap(3), unmap(2), stop(2, True))


def main():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
    for (target, name), data in sorted(SEEDS.items()):
        d = os.path.join(root, "misuse_" + target)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
    print("wrote %d seeds under %s" % (len(SEEDS), root))


if __name__ == "__main__":
    main()
