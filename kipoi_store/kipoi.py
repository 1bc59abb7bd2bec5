"""The adapter to kipoi's own objects: a model resolved through the store, loaded by kipoi 0.8.6.

    from kipoi_store.kipoi import get_model
    model = get_model("lab:Basset@v1")            # kipoi.model.BaseModel subclass, from the store
    model.predict_on_batch(x)

kipoi is imported here only, on the first call: the rest of kipoi_store never needs it.
"""

import os
import sys
from contextlib import contextmanager

from kipoi_store import api


def get_model(spec, offline=False, refresh=False, examples=False, **kwargs):
    """Resolve `spec` with its files (weights, dataloader defaults; `examples`: also the example
    files and test expectation) and return `kipoi.get_model(<its directory>, source="dir", **kwargs)`.

    Raises the KipoiError of a spec that cannot be resolved, ImportError without kipoi, and
    whatever kipoi raises while loading."""
    if "source" in kwargs:
        raise TypeError("get_model() takes a spec (SOURCE:PATH[@REF]), not a source: got source=%r"
                        % (kwargs["source"],))
    result = api.resolve(spec, files=True, examples=examples, offline=offline, refresh=refresh)
    try:
        import kipoi
    except ImportError as exc:
        raise ImportError("kipoi_store.kipoi.get_model needs the kipoi package: pip install kipoi six "
                          "(%s)" % exc) from exc
    with isolated_imports(_snapshot_root(result), result.kipoi_path):
        return kipoi.get_model(result.kipoi_path, source="dir", **kwargs)


def _snapshot_root(result):
    """The snapshot tree a result lies in: its directory less the model's (or group's) path."""
    inside = result.group if result.group is not None else result.model
    root = result.directory
    if inside:
        root = root[:-len(inside)].rstrip("/")
    return os.path.realpath(root)


def _module_names(directory):
    """Top-level module names a directory provides (`x.py`, a package `x/`)."""
    try:
        entries = os.listdir(directory)
    except OSError:
        return set()
    names = set()
    for entry in entries:
        if entry.endswith(".py"):
            names.add(entry[:-3])
        elif os.path.isfile(os.path.join(directory, entry, "__init__.py")):
            names.add(entry)
    return names


@contextmanager
def isolated_imports(snapshot, kipoi_path):
    """Load a model's modules as its own, and leave them out of sys.modules afterwards.

    kipoi imports `defined_as: model.TinyModel` with importlib.import_module: with '' on sys.path
    (python -c, notebooks) a second model whose module is also `model` would get the first one's
    class from sys.modules. So the names the model's directories provide (the model directory and
    each one up to the snapshot: dataloaders live in `..` too) are hidden while kipoi loads, and
    every module it loaded from the store is dropped afterwards (the model keeps its classes)."""
    names = set()
    here = os.path.realpath(kipoi_path)
    while True:
        names |= _module_names(here)
        if here == snapshot or not here.startswith(os.path.join(snapshot, "")):
            break
        here = os.path.dirname(here)
    hidden = {name: sys.modules.pop(name) for name in sorted(names) if name in sys.modules}
    before = set(sys.modules)
    inside = os.path.join(snapshot, "")
    try:
        yield
    finally:
        for name in set(sys.modules) - before:
            origin = getattr(sys.modules[name], "__file__", None) or ""
            if origin and os.path.realpath(origin).startswith(inside):
                del sys.modules[name]
        sys.modules.update(hidden)
