"""Studies on top of the pipeline: compare, validate, sparsity curve, attention savings, sweeps."""
