"""A published figure beside the model's value: the row type of `validate` and of the journal checks."""

from __future__ import annotations

from dataclasses import dataclass

TOLERANCE_PCT = 15.0  # an independent figure agrees when the model is within +-15 % of it


@dataclass
class FigureCheck:
    key: str  # dotted path in the published-figures file
    published: object
    unit: str
    modelled: float | None = None
    kind: str = "independent"  # independent / calibrated / input / condition / repeat / cannot produce
    conditions: str = ""
    source: str = ""
    note: str = ""

    @property
    def error_pct(self) -> float | None:
        if self.modelled is None or not isinstance(self.published, (int, float)) or not self.published:
            return None
        return 100.0 * (self.modelled - self.published) / self.published

    @property
    def status(self) -> str:
        err = self.error_pct
        if self.kind in ("cannot produce", "condition", "repeat"):
            return self.kind
        if err is None:
            return self.kind
        within = abs(err) <= TOLERANCE_PCT
        if self.kind == "independent":
            return "ok (within +-15%)" if within else "OUTSIDE +-15%"
        return f"{self.kind}" + ("" if within else ", but OUTSIDE +-15%")
