"""A tiny name -> object registry shared by prompts, parsers, adapters and rewards.

    REG = Registry("parser"); @REG.register("name") def f(...): ...; REG.get("name")
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """A name -> item registry of one kind (prompts, parsers, adapters, backends, ...).

    Args:
        kind: what the items are, used in error messages.

    >>> reg = Registry("colour"); _ = reg.add("red", 1)
    >>> reg.get("red"), reg.names(), "blue" in reg
    (1, ['red'], False)
    """
    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, T] = {}

    def add(self, name: str, item: T) -> T:
        """Register `item` under `name` and return it.

        Raises:
            ValueError: `name` is already registered.
        """
        if name in self._items:
            raise ValueError(f"duplicate {self.kind} name {name!r}: already registered")
        self._items[name] = item
        return item

    def register(self, name: str) -> Callable[[T], T]:
        """A decorator form of `add`: `@REG.register(name)` registers the decorated object and returns it."""
        def deco(item: T) -> T:
            """Register `item` under the decorator's name and return it unchanged."""
            return self.add(name, item)

        return deco

    def get(self, name: str) -> T:
        """The item registered under `name`.

        Raises:
            KeyError: an unknown name; the message lists the valid names.
        """
        try:
            return self._items[name]
        except KeyError:
            valid = ", ".join(sorted(self._items)) or "(none)"
            raise KeyError(f"unknown {self.kind} {name!r}; valid names: {valid}") from None

    def names(self) -> list[str]:
        """The registered names, sorted."""
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._items)
