"""kipoi_store: model sources and a content-addressed store for the Kipoi model zoo.

The Python API (see the README's "Python API"), imported on first use so that `import kipoi_store`
and every command's start stay cheap:

    kipoi_store.resolve(spec, files=False, examples=False, offline=False)  -> api.Result
    kipoi_store.resolve_many(specs, ...)                                   -> [api.Result, ...]
    kipoi_store.kipoi.get_model(spec, **kwargs)                            -> kipoi's model object
"""

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

