"""The operator's own HTTP endpoints: /metrics (Prometheus), /healthz (liveness), /readyz (readiness),
and any extra routes it is given (the Slack buttons' POST /slack/actions)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

logger = logging.getLogger("gatepass.endpoints")


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def serve(addr: str, port: int, *, alive: Callable[[], str | None],
                ready: Callable[[], Awaitable[str | None]],
                posts: Sequence[tuple[str, Handler]] = ()) -> web.AppRunner:
    """Starts serving; ``alive`` and ``ready`` return None when all is well, else why not;
    ``posts`` are (path, handler) pairs served for POST."""

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
    for path, handler in posts:
        app.router.add_post(path, handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, addr, port).start()
    extra = "".join(f", {path}" for path, _ in posts)
    logger.info("Serving /metrics, /healthz, /readyz%s on %s:%d", extra, addr, port)
    return runner
