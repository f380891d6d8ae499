"""The models are reachable through hwcomponents' public API and listed by `hwc --list`."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import hwcomponents
import pytest
from hwcomponents.find_models import get_models_in_module

import hwcomponents_sparsecim
from hwcomponents_sparsecim import (
    ButterflyDecoder,
    ButterflyZeroSkipper,
    CimBitcellArray,
    DigitalCimMac,
    LarQkShareUnit,
    LarWindowBuffer,
    ModuleComputeUnit,
    QuantizeUnit,
    ScaleComputeUnit,
    SoftmaxUnit,
)

MODEL_CLASSES = [
    DigitalCimMac,
    CimBitcellArray,
    ButterflyZeroSkipper,
    ButterflyDecoder,
    LarWindowBuffer,
    LarQkShareUnit,
    ModuleComputeUnit,
    ScaleComputeUnit,
    QuantizeUnit,
    SoftmaxUnit,
]
QUERIES = [
    ("sparsecim_cim_mac", DigitalCimMac, {"tech_node": 22e-9, "voltage": 0.8}, "compute", {}),
    ("sparsecim_cim_array", CimBitcellArray, {"width": 16, "size": 4096}, "write", {"bits_per_action": 32}),
    ("sparsecim_cim_array", CimBitcellArray, {"width": 16}, "read", {}),
    ("sparsecim_butterfly", ButterflyZeroSkipper, {"n_lanes": 32}, "route", {}),
    ("sparsecim_butterfly", ButterflyZeroSkipper, {"n_lanes": 32}, "configure", {}),
    ("sparsecim_butterfly", ButterflyZeroSkipper, {"n_lanes": 32}, "read", {}),
    ("sparsecim_lar_window_buffer", LarWindowBuffer, {"size": 8192, "width": 64}, "read", {}),
    ("sparsecim_lar_window_buffer", LarWindowBuffer, {"size": 8192, "width": 64}, "write", {}),
    ("sparsecim_lar_qk_share", LarQkShareUnit, {"width": 16}, "share", {}),
    ("sparsecim_softmax", SoftmaxUnit, {"n_lanes": 8}, "compute", {}),
    ("sparsecim_cim_mac", DigitalCimMac, {"time_slots": 4, "stretch_clock": False}, "compute", {}),
    ("sparsecim_cim_array", CimBitcellArray, {"transistors": 10, "width": 16}, "write", {}),
    ("sparsecim_butterfly", ButterflyZeroSkipper, {"config_bits_per_switch": 0}, "configure", {}),
    ("sparsecim_bfly_decoder", ButterflyDecoder, {"n_lanes": 32}, "decode", {}),
    ("sparsecim_bfly_decoder", ButterflyDecoder, {"n_lanes": 16}, "read", {}),
    ("sparsecim_module_compute", ModuleComputeUnit, {"head_dim": 128}, "compute", {}),
    ("sparsecim_module_compute", ModuleComputeUnit, {}, "read", {}),
    ("sparsecim_scale_compute", ScaleComputeUnit, {"n_lanes": 4}, "compute", {}),
    ("sparsecim_scale_compute", ScaleComputeUnit, {}, "read", {}),
    ("sparsecim_latch_buffer", LarWindowBuffer, {"size": 256, "width": 16}, "read", {}),
    ("sparsecim_latch_buffer", LarWindowBuffer, {"size": 16, "width": 16}, "write", {}),
    ("sparsecim_quantize", QuantizeUnit, {"acc_bits": 20}, "compute", {}),
    ("sparsecim_quantize", QuantizeUnit, {}, "read", {}),
]
NAMES = sorted({q[0] for q in QUERIES})


def test_package_exports_every_model_and_nothing_abstract():
    # The function hwcomponents applies to each installed hwcomponents_* package.
    found = get_models_in_module(hwcomponents_sparsecim, set())
    assert set(found) == set(MODEL_CLASSES)
    assert sorted(hwcomponents_sparsecim.__all__) == sorted(c.__name__ for c in MODEL_CLASSES)


@pytest.mark.parametrize("name,cls,attrs,action_name,args", QUERIES, ids=[f"{q[0]}.{q[3]}" for q in QUERIES])
def test_public_api_by_component_name(name, cls, attrs, action_name, args):
    direct = cls(**attrs)
    expected = getattr(direct, action_name)(**args)
    cost = hwcomponents.get_action_cost(name.upper(), attrs, action_name, args, models=MODEL_CLASSES)
    assert cost.energy == pytest.approx(expected.energy)
    assert cost.latency == pytest.approx(expected.latency)
    assert cost.throughput == pytest.approx(expected.throughput)
    assert hwcomponents.get_area(name, attrs, models=MODEL_CLASSES) == pytest.approx(direct.area)
    assert hwcomponents.get_leak_power(name, attrs, models=MODEL_CLASSES) == pytest.approx(direct.leak_power)


def test_bad_attributes_surface_through_the_api():
    with pytest.raises(Exception, match="n_lanes must be a power of two"):
        hwcomponents.get_area("sparsecim_butterfly", {"n_lanes": 24}, models=MODEL_CLASSES)


@pytest.fixture(scope="module")
def installed_layout(tmp_path_factory):
    """sys.path entry holding the package under its import name, as `pip install .` lays it out.

    hwcomponents discovers plug-ins with pkgutil.iter_modules() (directories named
    hwcomponents_* on sys.path) and with distributions whose name starts with "hwcomponents".
    setuptools' default editable install serves the package through an import hook that
    iter_modules cannot see, and the distribution is called "sparsecim", so a plain
    `pip install -e .` is not discovered; a regular or `editable_mode=strict` install is.
    """
    root = tmp_path_factory.mktemp("site")
    package_dir = Path(hwcomponents_sparsecim.__file__).parent
    (root / "hwcomponents_sparsecim").symlink_to(package_dir, target_is_directory=True)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH", "")]))
    return env


def test_hwc_list_shows_the_models(installed_layout):
    hwc = shutil.which("hwc", path=os.path.dirname(sys.executable)) or shutil.which("hwc")
    assert hwc, "hwc executable not found next to the test interpreter"
    out = subprocess.run([hwc, "--list"], env=installed_layout, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    primary = {cls.component_name[0] for cls in MODEL_CLASSES}
    for name in NAMES:
        listed = f"{name}(" if name in primary else f"{name}: alias for LarWindowBuffer"
        assert listed in out.stdout, f"{name} missing from hwc --list"
    assert "route()" in out.stdout and "configure()" in out.stdout
    assert "decode()" in out.stdout


def test_auto_discovered_model_answers_a_query(installed_layout):
    code = (
        "import hwcomponents;"
        "c = hwcomponents.get_action_cost('sparsecim_butterfly', {'n_lanes': 16}, 'route', {});"
        "print(c.energy)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=installed_layout, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    expected = ButterflyZeroSkipper(n_lanes=16).route().energy
    assert float(out.stdout.strip().splitlines()[-1]) == pytest.approx(expected)
