"""sparsecim: the ISSCC 2023 16.2 sparse transformer CIM accelerator in AccelForge."""
__version__ = "0.1.0"
