"""The plug-in's own error: a component was given attributes it cannot model.

The plug-in stands alone (it imports hwcomponents and nothing of the application that uses it);
hwcomponents skips a model that raises and tries the next candidate, reporting every reason.
"""


class ComponentAttributeError(ValueError):
    """An attribute outside the range a sparsecim component model supports (e.g. voltage)."""
