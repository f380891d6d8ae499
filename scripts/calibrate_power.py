"""Fit the chip's two energy factors to its measured power curve (sparsecim.studies.calibration).

    python scripts/calibrate_power.py            # prints the fit and the residual per curve point
    python scripts/calibrate_power.py --write    # also writes the two factors into arch/isscc23_16_2.yaml

The reference run is the GPT-2 / Enwik-8 case at the curve point 0.90 V / 220 MHz with both factors 1
and off-chip access excluded (offchip_gbps=inf).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from sparsecim.cases import case
from sparsecim.mapping.operating import curve_of
from sparsecim.mapping.workers import own_process
from sparsecim.pipeline import run
from sparsecim.studies.calibration import OperatingScaling, fit_power_curve

ARCH = Path(__file__).resolve().parents[1] / "arch" / "isscc23_16_2.yaml"
REFERENCE = {"voltage": 0.90, "frequency": 220e6, "offchip_gbps": "inf", "dynamic_energy_scale": 1.0, "leakage_scale": 1.0}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="write the fitted factors into the arch file's defaults")
    args = parser.parse_args()
    own_process()
    result = run(case("gpt2-enwik8").request(variables=REFERENCE))
    split = OperatingScaling.of(result)
    fit = fit_power_curve(split, curve_of("isscc23_16_2"))
    print(f"reference: {result.model} {result.seq_len} tokens at {split.voltage} V / {split.frequency / 1e6:.0f} MHz: "
          f"on-chip dynamic {sum(split.dynamic_j.values()) * 1e3:.3f} mJ, leakage {sum(split.leakage_j.values()) * 1e3:.3f} mJ, {split.cycles:.4g} cycles")
    print(f"dynamic_energy_scale = {fit.dynamic_scale:.4f}, leakage_scale = {fit.leakage_scale:.4f}, rms residual {fit.rms_residual_pct:.1f} %")
    print("MHz     V   measured mW  modelled mW  residual")
    for (mhz, volt, measured, model), residual in zip(fit.points, fit.residuals_pct):
        print(f"{mhz:4.0f}  {volt:.2f}  {measured:10.1f}  {model:11.1f}  {residual:+7.1f} %")
    if args.write:
        text = ARCH.read_text()
        for name, value in (("dynamic_energy_scale", fit.dynamic_scale), ("leakage_scale", fit.leakage_scale)):
            text, count = re.subn(rf"({{% set {name} = {name} \| default\()([0-9.eE+-]+)(\) %}})", rf"\g<1>{value:.4f}\g<3>", text)
            if count != 1:
                print(f"could not find the default of {name} in {ARCH}", file=sys.stderr)
                return 1
        ARCH.write_text(text)
        print(f"wrote the factors into {ARCH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
