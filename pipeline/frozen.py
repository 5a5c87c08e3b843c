"""Fast constructors of frozen slots dataclasses, for objects made once per message."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import MISSING, fields
from typing import Any, TypeVar

T = TypeVar("T")

__all__ = ["frozen_maker"]


def _constant(value: object) -> Callable[[], object]:
    return lambda: value


def frozen_maker(cls: type[T], names: Sequence[str]) -> Callable[..., T]:
    """A constructor of the frozen slots dataclass ``cls`` from the fields ``names``, in order.

    It sets the slots as the dataclass's own ``__init__`` does (``object.__setattr__``), the
    other fields to their defaults, minus the generic machinery: half the time, and a Score is
    made for every reading.

    >>> from pipeline.processor import Source
    >>> make = frozen_maker(Source, ["topic", "offset"])
    >>> make("t", 7) == Source("t", offset=7)
    True
    """
    others = [f for f in fields(cls) if f.name not in names]  # type: ignore[arg-type]
    defaults: list[tuple[Callable[[Any, Any], None], Callable[[], Any]]] = []
    for f in others:
        if f.default_factory is not MISSING:
            defaults.append((getattr(cls, f.name).__set__, f.default_factory))
        elif f.default is not MISSING:
            defaults.append((getattr(cls, f.name).__set__, _constant(f.default)))
        else:
            raise TypeError(f"field {f.name!r} of {cls.__name__} has no default")
    # unrolled, as dataclasses writes __init__: a loop over the fields costs as much as it saves
    arguments = ", ".join(f"v{i}" for i in range(len(names)))
    lines = [f"def make({arguments}):", "    instance = new(cls)"]
    lines += [f"    set{i}(instance, v{i})" for i in range(len(names))]
    lines += [f"    default_set{j}(instance, default{j}())" for j in range(len(defaults))]
    lines += ["    return instance"]
    namespace: dict[str, Any] = {"new": object.__new__, "cls": cls}
    namespace.update({f"set{i}": getattr(cls, name).__set__ for i, name in enumerate(names)})
    for j, (setter, default) in enumerate(defaults):
        namespace[f"default_set{j}"], namespace[f"default{j}"] = setter, default
    exec("\n".join(lines), namespace)  # noqa: S102 - fixed code over field positions
    make: Callable[..., T] = namespace["make"]
    return make
