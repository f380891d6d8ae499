"""Stage 4: map each distinct Einsum on an architecture (AccelForge) and add the costs up into a ModelResult."""
