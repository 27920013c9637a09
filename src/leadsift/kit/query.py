"""Query strings taken as declared: a parameter the route does not take is refused (422), so a
misspelt option (`?form=` for `?from=`) is an error rather than silently ignored."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

Who = TypeVar("Who")
# The query parameters of each route (its own and its dependencies') are kept on the route
# itself: an id() key could be reused by a later app's route once the first is collected.
_DECLARED = "_leadsift_query_names"


def _declared(route: APIRoute) -> frozenset[str]:
    found: frozenset[str] | None = getattr(route, _DECLARED, None)
    if found is None:
        names: set[str] = set()
        pending = [route.dependant]
        while pending:
            dependant = pending.pop()
            names.update(field.alias for field in dependant.query_params)
            pending.extend(dependant.dependencies)
        found = frozenset(names)
        setattr(route, _DECLARED, found)
    return found


def refuse_unknown_query(request: Request) -> None:
    """Refuse (422, each with its name) the query parameters the route does not declare."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    known = _declared(route)
    takes = ", ".join(sorted(known)) or "none"
    unknown = dict.fromkeys(name for name in request.query_params if name not in known)
    if unknown:
        raise RequestValidationError(
            [
                {"loc": ("query", name), "msg": f"unknown parameter (this takes {takes})"}
                for name in unknown
            ]
        )


def strict_query(policy: Callable[..., Awaitable[Who]]) -> Callable[..., Awaitable[Who]]:
    """POLICY (a route's key check), then refuse_unknown_query: the key is checked first, so
    nobody without one learns which parameters a route takes."""

    async def checked(request: Request, who: Any = Depends(policy)) -> Who:  # noqa: B008
        refuse_unknown_query(request)
        return who  # type: ignore[no-any-return]

    return checked
