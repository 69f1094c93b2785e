"""The ASGI application: the three providers' routes behind the fault-injection layer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from http import HTTPStatus
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .faults import FaultMiddleware, provider_of
from .here import HereAPI
from .informatica import InformaticaAPI
from .options import EmulatorOptions
from .particle import ParticleAPI
from .responses import error_for
from .state import EmulatorState

__all__ = ["create_app"]


def create_app(
    options: EmulatorOptions | None = None,
    *,
    state: EmulatorState | None = None,
    **overrides: Any,
) -> Starlette:
    """A Starlette app speaking the three report APIs (serve it with uvicorn).

    Pass ``options`` and/or option keywords, or an existing ``state`` (what
    :class:`~usage_analysis.emulator.Emulator` does). The state is at
    ``app.state.emulator``; the provider handlers at ``app.state.providers``.
    """
    if state is None:
        state = EmulatorState(EmulatorOptions.build(options, **overrides))
    elif options is not None or overrides:
        raise TypeError("pass either state or options, not both")
    particle, here, informatica = ParticleAPI(state), HereAPI(state), InformaticaAPI(state)

    async def index(request: Request) -> Response:
        # Not a provider endpoint: lets a person (or `make demo`) see that it is up.
        return JSONResponse(
            {
                "emulator": "usage-analysis",
                "providers": {
                    "particle": "/particle/v1/...",
                    "here": "/here/v2/usage/realms/{realmId}/...",
                    "informatica": "/informatica/saas/public/core/v3/...",
                },
            }
        )

    async def http_error(request: Request, exc: Exception) -> Response:
        # Unknown paths and wrong methods answer in the provider's error shape too.
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        provider = provider_of(request.url.path)
        message = f"{request.method} {request.url.path}: {HTTPStatus(status).phrase}"
        if provider is None:
            return JSONResponse({"error": message}, status_code=status)
        return error_for(provider, status, message, request=request)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        state.start_executor()
        try:
            yield
        finally:
            state.stop_executor()

    app = Starlette(
        routes=[
            Route("/", index, methods=["GET"]),
            *particle.routes(),
            *here.routes(),
            *informatica.routes(),
        ],
        middleware=[Middleware(FaultMiddleware, state=state)],
        lifespan=lifespan,
        exception_handlers={404: http_error, 405: http_error},
    )
    app.state.emulator = state
    app.state.providers = {"particle": particle, "here": here, "informatica": informatica}
    return app
