"""hwcomponents plug-in: energy/area/latency models of the ISSCC 2023 16.2 chip parts.

hwcomponents registers every public, non-abstract ComponentModel subclass found in this
package's namespace, so each model class is imported here. All models are characterised at
28 nm / 0.9 V and scaled to the requested tech_node and voltage (see _scaling.py).
"""

from .butterfly import ButterflyZeroSkipper
from .cim_macro import CimBitcellArray, DigitalCimMac
from .decoder import ButterflyDecoder
from .lar import LarQkShareUnit, LarWindowBuffer, ModuleComputeUnit, ScaleComputeUnit
from .requantize import QuantizeUnit
from .softmax import SoftmaxUnit

__all__ = [
    "ButterflyDecoder",
    "ButterflyZeroSkipper",
    "CimBitcellArray",
    "DigitalCimMac",
    "LarQkShareUnit",
    "LarWindowBuffer",
    "ModuleComputeUnit",
    "QuantizeUnit",
    "ScaleComputeUnit",
    "SoftmaxUnit",
]
