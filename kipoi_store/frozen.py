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


class Frozen:
    __slots__ = ()
    DEFAULTS = {}

    def __init__(self, *args, **kwargs):
        names = type(self).__slots__
        if len(args) > len(names):
            raise TypeError("%s() takes at most %d arguments (%d given)"
                            % (type(self).__name__, len(names), len(args)))
        values = dict(zip(names, args, strict=False))  # fewer args than fields: the rest by keyword
        for name, value in kwargs.items():
            if name not in names:
                raise TypeError("%s() got an unexpected keyword argument '%s'"
                                % (type(self).__name__, name))
            if name in values:
                raise TypeError("%s() got multiple values for argument '%s'"
                                % (type(self).__name__, name))
            values[name] = value
        defaults = self.DEFAULTS
        for name in names:
            if name in values:
                value = values[name]
            else:
                value = defaults.get(name, _MISSING)
                if value is _MISSING:
                    raise TypeError("%s() missing required argument: '%s'"
                                    % (type(self).__name__, name))
                if isinstance(value, fresh):
                    value = value.make()
            object.__setattr__(self, name, value)

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
