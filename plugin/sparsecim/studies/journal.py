"""The journal extension's decode figures as validation rows (`studies.validate` lists them).

The journal (JETCAS 2026) reports a four-chip system decoding at 186.9 tokens/s and 0.21 J/token, 4.2x
faster and 27.6x more energy-efficient than an A100, without the model, batch, sequence lengths or the
memory system ("likely Llama2-7B"). The rows run the named case `llama2-7b-4chip` (studies.generation:
its assumed conditions in the row) and are of kind "condition": the model's value under stated
assumptions, with what the published figure would need, not an independent check. The A100 side is the
datasheet roofline bound (`studies.reference`), not the journal's measured GPU run.
"""

from __future__ import annotations

from sparsecim.studies.generation import GenerationResult, generation_case, run_generation
from sparsecim.studies.figures import FigureCheck

JOURNAL_CASE = "llama2-7b-4chip"
SOURCE = "journal extension (IEEE JETCAS 2026): four-chip system; published.yaml journal_extension"


def _conditions(result: GenerationResult) -> str:
    v = result.variables
    return (f"{generation_case(JOURNAL_CASE).footnote.split('; ', 1)[-1]}; {float(v['voltage']):.2f} V / {float(v['frequency']) / 1e6:.0f} MHz; "
            f"off-chip {v['offchip_gbps']} Gb/s, {v['offchip_pj_per_bit']} pJ/b per chip; {result.system.label()}")


def journal_checks(journal: dict, progress=None, jobs=None, result: GenerationResult | None = None) -> list[FigureCheck]:
    """Rows for journal_extension.decode_throughput, .decode_energy and .vs_a100 (those present in
    `journal`), from `result` or a run of the named case."""
    wanted = [key for key in ("decode_throughput", "decode_energy", "vs_a100") if key in journal]
    if not wanted:
        return []
    result = result or run_generation(generation_case(JOURNAL_CASE).request(), progress=progress, jobs=jobs)
    decode, chips = result.decode, result.system.chips
    conditions = _conditions(result)
    offchip_bits_per_token = (decode.offchip_weight_bits + decode.kv_offchip_bits) / decode.tokens
    offchip_share = (decode.energy_j["off-chip weights"] + decode.energy_j["KV-cache traffic"]) / decode.energy_total_j
    rows: list[FigureCheck] = []

    def value(key: str, field: str = "value"):
        entry = journal[key]
        return entry.get(field) if isinstance(entry, dict) else entry

    if "decode_throughput" in journal:
        target = value("decode_throughput")
        needed = offchip_bits_per_token * target / chips / 8e9
        rows.append(FigureCheck(
            "journal_extension.decode_throughput", target, "tokens/s", result.tokens_per_s, "condition", conditions, SOURCE,
            f"decode is {decode.bound}-bound ({decode.time_s[decode.bound] / decode.latency_s:.0%} of its time); {target:g} tokens/s needs about "
            f"{needed:.0f} GB/s of off-chip bandwidth per chip at batch {result.batch} (the streamed bits per token x tokens/s), or about "
            f"{target / result.tokens_per_s:.1f} sequences per step at this link (the batch shares the weights)"))
    if "decode_energy" in journal:
        target = value("decode_energy")
        rest = decode.j_per_token * (1 - offchip_share)
        implied = (target - rest) / offchip_bits_per_token * 1e12
        rows.append(FigureCheck(
            "journal_extension.decode_energy", target, "J/token", decode.j_per_token, "condition", conditions, SOURCE,
            f"off-chip traffic is {offchip_share:.0%} of it ({offchip_bits_per_token / 8e9:.2f} GB per token: compressed weights, 8 b per "
            f"stored weight + 1 mask bit per position, and spilled KV rows); {target:g} J/token means about {implied:.1f} pJ per off-chip bit"))
    if "vs_a100" in journal:
        reference = result.reference.decode
        label = result.reference.label
        speedup, gain = value("vs_a100", "speedup"), value("vs_a100", "energy_efficiency")
        a100_speed = value("decode_throughput") / speedup if "decode_throughput" in journal and speedup else None
        a100_energy = value("decode_energy") * gain if "decode_energy" in journal and gain else None
        if speedup is not None:
            rows.append(FigureCheck(
                "journal_extension.vs_a100.speedup", speedup, "x", result.speedup_vs_reference, "condition", f"{conditions}; vs {label}", SOURCE,
                f"model {result.tokens_per_s:.3g} tokens/s vs the roofline's {reference.tokens_per_s:.3g} (weights and KV cache over 2039 GB/s); "
                + (f"the journal's ratio implies an A100 at {a100_speed:.3g} tokens/s, {a100_speed / reference.tokens_per_s:.0%} of its roofline "
                   "(a measured software run, not a bound)" if a100_speed else "")))
        if gain is not None:
            rows.append(FigureCheck(
                "journal_extension.vs_a100.energy_efficiency", gain, "x", result.energy_gain_vs_reference, "condition", f"{conditions}; vs {label}",
                SOURCE,
                f"model {result.j_per_token:.3g} J/token vs the roofline's {reference.j_per_token:.3g} J/token (400 W TDP over the bound's time); "
                + (f"the journal's ratio implies {a100_energy:.2f} J/token on its A100" if a100_energy else "")))
    return rows
