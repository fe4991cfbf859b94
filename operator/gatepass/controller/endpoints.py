"""The operator's own HTTP endpoints: /metrics (Prometheus), /healthz (liveness), /readyz (readiness)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

logger = logging.getLogger("gatepass.endpoints")


async def serve(addr: str, port: int, *, alive: Callable[[], str | None],
                ready: Callable[[], Awaitable[str | None]]) -> web.AppRunner:
    """Starts serving; ``alive`` and ``ready`` return None when all is well, else why not."""

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=generate_latest(REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def healthz(_: web.Request) -> web.Response:
        problem = alive()
        return web.Response(text=problem or "ok", status=500 if problem else 200)

    async def readyz(_: web.Request) -> web.Response:
        problem = await ready()
        return web.Response(text=problem or "ok", status=503 if problem else 200)

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, addr, port).start()
    logger.info("Serving /metrics, /healthz and /readyz on %s:%d", addr, port)
    return runner
