"""Small immutable value classes without the dataclasses module.

`import dataclasses` costs ~10 ms (it pulls in inspect, ast, dis), and decorating each class costs
more: too much for a warm resolve that takes ~50 ms above the interpreter's own start. A subclass
lists its fields in `__slots__` (constructor order) and their defaults in `DEFAULTS`:

    class Point(Frozen):
        __slots__ = ("x", "y", "tags")
        DEFAULTS = {"y": 0, "tags": fresh(list)}   # fresh(f): f() per instance, never shared

It gets what a `@dataclass(frozen=True)` gives: keyword or positional construction, equality with
its own class only, hashing (TypeError if a field is unhashable), a repr naming every field,
AttributeError on assignment, pickling, and `p.replace(y=2)` (for `dataclasses.replace`).
"""

_MISSING = object()


class fresh:
    """A default made anew for every instance (a list or dict shared between instances would leak)."""

    __slots__ = ("make",)

    def __init__(self, make):
        self.make = make


def _make_init(cls):
    """A plain `__init__(self, x, y=0, ...)` for `cls`, written out and compiled once per class as
    dataclasses does: a generic *args/**kwargs loop costs ~8 us per object, and a resolve makes
    two objects per spec."""
    params, body, namespace = [], [], {"_set": object.__setattr__, "_MISSING": _MISSING}
    for name in cls.__slots__:
        if not name.isidentifier():
            raise TypeError("%s: field %r is not an identifier" % (cls.__name__, name))
        default = cls.DEFAULTS.get(name, _MISSING)
        if default is _MISSING:
            if any("=" in p for p in params):
                raise TypeError("%s: required field %r follows one with a default" % (cls.__name__, name))
            params.append(name)
            body.append("    _set(self, %r, %s)" % (name, name))
        elif isinstance(default, fresh):
            namespace["_default_" + name] = default
            params.append("%s=_MISSING" % name)
            body.append("    _set(self, %r, _default_%s.make() if %s is _MISSING else %s)"
                        % (name, name, name, name))
        else:
            namespace["_default_" + name] = default
            params.append("%s=_default_%s" % (name, name))
            body.append("    _set(self, %r, %s)" % (name, name))
    source = "def __init__(self, %s):\n%s\n" % (", ".join(params), "\n".join(body) or "    pass")
    exec(source, namespace)  # the source is built from identifiers checked above, nothing else
    init = namespace["__init__"]
    init.__qualname__ = "%s.__init__" % cls.__qualname__
    return init


class Frozen:
    __slots__ = ()
    DEFAULTS = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.__init__ = _make_init(cls)

    def _values(self):
        return tuple(getattr(self, name) for name in self.__slots__)

    def replace(self, **changes):
        """A copy with `changes` (field=value) applied."""
        return type(self)(**dict(zip(self.__slots__, self._values(), strict=True), **changes))

    def __setattr__(self, name, value):
        raise AttributeError("cannot assign to field '%s' of %s" % (name, type(self).__name__))

    def __delattr__(self, name):
        raise AttributeError("cannot delete field '%s' of %s" % (name, type(self).__name__))

    def __eq__(self, other):
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()

    def __hash__(self):
        return hash(self._values())

    def __repr__(self):
        return "%s(%s)" % (type(self).__qualname__, ", ".join(
            "%s=%r" % (name, value) for name, value in zip(self.__slots__, self._values(), strict=True)))

    def __reduce__(self):
        # Through the constructor: unpickling must not assign fields one by one (__setattr__ refuses).
        return type(self), self._values()
