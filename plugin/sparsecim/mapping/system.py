"""A system of N copies of an arch joined by die-to-die (D2D) links: the request's `system` field.

Each chip keeps its own off-chip link (the arch's `offchip_gbps` / `offchip_pj_per_bit`), its own KV
banks and its share of the work (`rewrite.partition`). The D2D link defaults are a published 28 nm
chiplet link (the chip's node), with the synchronisation latency assumed:

* bandwidth 320 Gb/s per chip and direction: NVIDIA's ground-referenced signalling (GRS) test chip in
  28 nm CMOS, two 16-lane links at 20 Gb/s per lane over 4.5 mm of organic package (Poulton et al.,
  "A 0.54 pJ/b 20 Gb/s Ground-Referenced Single-Ended Short-Reach Serial Link in 28 nm CMOS for Advanced
  Packaging Applications", IEEE JSSC 48(12), 2013): one 16-lane link per chip, 16 x 20 Gb/s;
* energy 0.54 pJ/bit: the same link (a board-level GRS link over PCB is 1.17 pJ/bit at 25 Gb/s,
  Turner et al., CICC 2018: use `--d2d pj_per_bit=1.17` for chips on a board);
* synchronisation 100 ns per message: assumed (a handshake across the link and a barrier in the
  receiving chip's controller at 220 MHz, ~20 cycles; the link's own flight time is a few ns).

Topology and overlap (assumed): the chips form a ring; an all-reduce is a ring all-reduce (2 (N - 1)
steps of 1/N of the message each, every step one synchronisation); communication does not overlap the
computation it separates (the next matmul needs the reduced activations; `overlap` hides a fraction).
"""

from __future__ import annotations

from pydantic import Field, field_validator

from sparsecim.rewrite.partition import Partition
from sparsecim.schema import Strict, lax_enum

MAX_CHIPS = 64
D2D_SOURCE = "GRS 28 nm, 16 lanes x 20 Gb/s, 0.54 pJ/b (Poulton et al., JSSC 2013); sync 100 ns assumed"


class D2DLink(Strict):
    """One chip's die-to-die link (each direction)."""

    gbps: float = 320.0  # Poulton et al., JSSC 2013: 16 lanes x 20 Gb/s
    pj_per_bit: float = Field(0.54, ge=0)  # same source
    sync_ns: float = Field(100.0, ge=0)  # assumed, per message or ring step

    @field_validator("gbps")
    @classmethod
    def _bandwidth(cls, gbps: float) -> float:
        if not gbps > 0 or gbps != gbps:
            raise ValueError(f"D2D link bandwidth must be > 0 Gb/s, got {gbps:g} (a link of zero bandwidth never delivers)")
        return gbps

    def seconds(self, bits: float, messages: float) -> float:
        """Time to move `bits` over the link in `messages` synchronised messages."""
        return bits / (self.gbps * 1e9) + messages * self.sync_ns * 1e-9


class SystemOptions(Strict):
    """N chips (default one) with a partitioning strategy and their D2D links."""

    chips: int = Field(1, ge=1, le=MAX_CHIPS)
    partition: lax_enum(Partition) = Partition.TENSOR
    link: D2DLink = D2DLink()
    reduce_bits: int = Field(16, ge=1, le=64)  # assumed: partial sums requantised to 16 b before an all-reduce
    overlap: float = Field(0.0, ge=0.0, le=1.0)  # fraction of the D2D time hidden behind computation (assumed 0)

    def label(self) -> str:
        if self.chips == 1:
            return "1 chip"
        return f"{self.chips} chips, {self.partition}-parallel, D2D {self.link.gbps:g} Gb/s {self.link.pj_per_bit:g} pJ/b sync {self.link.sync_ns:g} ns"
