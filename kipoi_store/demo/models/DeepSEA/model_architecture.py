"""Architecture shared by the DeepSEA demo models, referenced as ../model_architecture.py."""


class DeepSEA(object):
    """Stand-in for the torch module kipoi would build."""
