"""kipoi_store: model sources and a content-addressed store for the Kipoi model zoo."""

__version__ = "0.1.0"
