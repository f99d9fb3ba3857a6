"""A method cache that lives in its instance: unlike `functools.lru_cache` on a method, whose cache is global and keeps
every instance it saw alive (solvers, scenes, models), it goes away with the instance."""

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

Method = TypeVar("Method", bound=Callable[..., Any])


def cached_per_instance(method: Method) -> Method:
    """Cache `method`'s results by its (hashable, positional) arguments in a dict of the instance."""
    slot = f"_cache_{method.__name__}"

    @wraps(method)
    def cached(self: Any, *args: Any) -> Any:
        cache = self.__dict__.setdefault(slot, {})
        if args not in cache:
            cache[args] = method(self, *args)
        return cache[args]

    return cached  # type: ignore[return-value]
