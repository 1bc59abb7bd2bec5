"""kipoi_store: model sources and a content-addressed store for the Kipoi model zoo.

The Python API (see the README's "Python API"), imported on first use so that `import kipoi_store`
and every command's start stay cheap:

    kipoi_store.resolve(spec, files=False, examples=False, offline=False)  -> api.Result
    kipoi_store.resolve_many(specs, ...)                                   -> [api.Result, ...]
    kipoi_store.kipoi.get_model(spec, **kwargs)                            -> kipoi's model object
"""

import sys as _sys

__version__ = "0.1.0"

_API = ("resolve", "resolve_many", "Result")
__all__ = list(_API) + ["kipoi"]


def __getattr__(name):
    if name in _API:
        from kipoi_store import api

        return getattr(api, name)
    if name == "kipoi":
        import importlib

        return importlib.import_module("kipoi_store.kipoi")
    raise AttributeError("module 'kipoi_store' has no attribute %r" % (name,))


def __dir__():
    return sorted(list(globals()) + __all__)


class _Package(type(_sys)):
    """This package's module type. Importing the submodule kipoi_store.resolve (the pipeline)
    would set the package's attribute `resolve` to that module and hide the function resolve();
    the submodule stays in sys.modules, where `from kipoi_store.resolve import ...` finds it."""

    def __setattr__(self, name, value):
        if name == "resolve" and isinstance(value, type(_sys)):
            return
        super().__setattr__(name, value)


_sys.modules[__name__].__class__ = _Package
