"""Calibrate the chip model (sparsecim.studies.calibration): the two energy factors to the measured power
curve, and the off-chip link's bandwidth to the BERT latency including off-chip access (154 ms).

    python scripts/calibrate_power.py            # prints the fits and the residual per curve point
    python scripts/calibrate_power.py --write    # also writes them into arch/isscc23_16_2.yaml's defaults

The energy reference run is the GPT-2 / Enwik-8 case at the curve point 0.90 V / 220 MHz with both
factors 1 and off-chip access excluded (offchip_gbps=inf). The link is fitted on the BERT / GLUE case at
the operating point the validation uses for the latency rows (0.64 V / 20 MHz).
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
from sparsecim.studies.calibration import OperatingScaling, fit_power_curve, link_bandwidth_for
from sparsecim.studies.validate import LATENCY_POINT

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
    bert = run(case("bert-glue").request(variables={**REFERENCE, "voltage": LATENCY_POINT[0], "frequency": LATENCY_POINT[1]}))
    bandwidth = link_bandwidth_for(bert, LATENCY_POINT[1], 154e-3)
    print(f"off-chip link: {bandwidth / 1e9:.4f} Gb/s makes the BERT case take 154 ms at {LATENCY_POINT[1] / 1e6:.0f} MHz "
          f"({bert.latency_onchip_s * 1e3:.1f} ms without off-chip time)")
    if args.write:
        text = ARCH.read_text()
        for name, value in (("dynamic_energy_scale", fit.dynamic_scale), ("leakage_scale", fit.leakage_scale), ("offchip_gbps", bandwidth / 1e9)):
            text, count = re.subn(rf"({{% set {name} = {name} \| default\()([0-9.eE+-]+)(\) %}})", rf"\g<1>{value:.4f}\g<3>", text)
            if count != 1:
                print(f"could not find the default of {name} in {ARCH}", file=sys.stderr)
                return 1
        ARCH.write_text(text)
        print(f"wrote the factors into {ARCH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
