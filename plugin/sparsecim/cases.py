"""The chip's published workloads as named cases (spec table footnotes (1) and (2)).

    sparsecim run --case bert-glue        # BERT-110M, 128 tokens, 75 % weight sparsity, span 32
    sparsecim run --case gpt2-enwik8      # GPT2-124M, 1024 tokens (causal), 75 %, span 83

* "75 % weight sparsity": the chip's hybrid scheme (local fine-grained + global coarse-grained,
  `sparsity.pruning`, per matrix) at 0.75: on the real weights with a checkpoint (`weights`); without one
  (BERT-base and GPT-2 weights are not installable here) on i.i.d. Gaussian stand-in weights, which keeps
  the scheme's structure (K of every 16 inputs per row, then whole 64x16 blocks) at random positions
  (`sparsity.sources.statistical_pruned`).
* "local attention span s": the chip's figure has token i attend keys i - s/2 .. i + s/2, so every head of
  every layer gets the window w = floor(s/2) (|i - j| <= w; s = 32 -> w = 16, 33 keys; s = 83 -> w = 41).
  A causal model keeps the keys j <= i of that window (42 keys for GPT-2). No attention sinks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sparsecim.attention.profile import HeadSpan, SpanProfile, window_of_span
from sparsecim.errors import InputError
from sparsecim.request import RunRequest, SparsitySource
from sparsecim.workload.checkpoint import shape_from_checkpoint
from sparsecim.workload.shapes import TransformerShape, preset

HYBRID_METHOD = "hybrid:S:scope=matrix"


@dataclass(frozen=True)
class Case:
    """A published benchmark of the chip."""

    name: str
    model: str
    seq_len: int
    weight_sparsity: float
    span: int
    footnote: str

    def spans_for(self, shape: TransformerShape) -> SpanProfile:
        """Every head of every layer with the case's span."""
        window = min(window_of_span(self.span), self.seq_len - 1)
        heads = [HeadSpan(window, 0) for _ in range(shape.n_heads)]
        return SpanProfile(
            model=shape.name,
            layers=[list(heads) for _ in range(shape.n_layers)],
            seq_len=self.seq_len,
            causal=shape.causal,
            text_source=f"uniform span {self.span} (window {window}) of the published case {self.name}",
        )

    def request(self, weights: str | Path | None = None, **fields) -> RunRequest:
        """The case as a RunRequest (other request fields, e.g. variables or arch, may be given)."""
        shape = preset(self.model) if weights is None else shape_from_checkpoint(weights, name=None)
        sparsity = SparsitySource(prune=HYBRID_METHOD.replace("S", f"{self.weight_sparsity:g}"))
        return RunRequest(
            model=self.model if weights is None else None,
            weights=weights,
            seq_len=self.seq_len,
            sparsity=sparsity,
            spans=self.spans_for(shape),
            **fields,
        )


CASES: dict[str, Case] = {
    case.name: case
    for case in (
        Case("bert-glue", "bert-base", 128, 0.75, 32, "spec table footnote (1): BERT-110M on GLUE, 128 tokens, 75 %, span 32"),
        Case("gpt2-enwik8", "gpt2", 1024, 0.75, 83, "spec table footnote (2): GPT2-124M on Enwik-8, 1024 tokens, 75 %, span 83"),
    )
}


def case(name: str) -> Case:
    """A published case by name; InputError listing the names otherwise."""
    if name not in CASES:
        raise InputError(f"unknown case {name!r}; known: {', '.join(CASES)}")
    return CASES[name]
