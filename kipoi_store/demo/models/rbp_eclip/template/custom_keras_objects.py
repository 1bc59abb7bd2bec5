"""Custom Keras layers the rbp_eclip models need when their weights are loaded."""

OBJECTS = {}
