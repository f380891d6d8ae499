"""Stage 1: transformer shapes, the tensor-name table and the canonical Einsums of a model."""
