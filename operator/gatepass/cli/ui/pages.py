"""The pages: the request list, a request, the new-request form, reviews, drops and the active grants.

Each handler reads the signed-in user's ``Session`` (``request[SESSION]``), makes its API calls through
``session.call`` (the user's own client, never another) and reads the user's requests from
``session.requests()`` (their own watch's view; a write's answer goes into it with ``session.saw``), turns
what came back into a screen with the pure ``screens`` and ``forms`` and renders it with jinja2
(autoescaped). A POST answers 303 to the page that shows
its result, so every action works as a plain form; the server's middleware has checked Origin and the CSRF
token before a handler runs. An API failure is shown as the API server's one line, never as a traceback.

The ``/fragments/...`` routes render just the live region of a page, for htmx to fetch again when the
server's ``/events`` stream says a request changed.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import jinja2
from aiohttp import web

from gatepass.core.rbac import RoleKey

from ..commands import drop_annotations, readable_policies, review_body
from ..errors import CliError
from . import forms, screens
from .session import SESSION, Session

__all__ = ["add_routes", "environment"]

TEMPLATES = Path(__file__).parent / "templates"
#: The revocation reason a drop from the UI records.
DROP_REASON = "dropped in the Gatepass web UI"
_ENV = web.AppKey("gatepass.pages.environment", jinja2.Environment)
Clock = Callable[[], datetime]
_CLOCK = web.AppKey("gatepass.pages.clock", object)


def environment() -> jinja2.Environment:
    """The templates, autoescaped, failing loudly on an undefined name."""
    return jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                              undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def add_routes(app: web.Application, *, clock: Clock | None = None) -> None:
    """Register the pages on ``app`` (``clock`` gives ``now``; the real UTC clock unless a test sets one)."""
    app[_ENV] = environment()
    app[_CLOCK] = clock or (lambda: datetime.now(timezone.utc))
    app.router.add_get("/", request_list)
    app.router.add_get("/fragments/requests", request_list_fragment)
    app.router.add_get("/requests/new", new_request)
    app.router.add_post("/requests/new", new_request_submit)
    app.router.add_get("/requests/{name}", request_page)
    app.router.add_get("/fragments/requests/{name}", request_fragment)
    app.router.add_post("/requests/{name}/review", review)
    app.router.add_post("/requests/{name}/drop", drop)
    app.router.add_get("/grants", grants_page)
    app.router.add_get("/fragments/grants", grants_fragment)


# -- rendering ------------------------------------------------------------------------------------


def _session(request: web.Request) -> Session:
    return request[SESSION]


def _now(request: web.Request) -> datetime:
    return request.app[_CLOCK]()


def render(request: web.Request, template: str, *, status: int = 200, section: str = "", error: str = "",
           **context: Any) -> web.Response:
    session = _session(request)
    html = request.app[_ENV].get_template(template).render(
        me=session.me, csrf=session.csrf, section=section, error=error, **context)
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")


def error_page(request: web.Request, message: str, *, status: int) -> web.Response:
    heading = "Not found" if status == 404 else "The API server refused"
    return render(request, "error.html", status=status, heading=heading, message=message)


def _not_found(error: CliError) -> bool:
    return error.message.endswith(" not found")


async def _policies(session: Session) -> list:
    """The policies the user may read; none when they may read none (reviewing then is admission's to say)."""
    try:
        return readable_policies(await session.call(lambda kube: kube.list_policies()))
    except CliError:
        return []


# -- the request list -----------------------------------------------------------------------------


async def _list_screen(request: web.Request) -> screens.ListScreen:
    session = _session(request)
    objs = await session.requests()
    policies = await _policies(session)
    tab = screens.tab_of(request.query.get("tab"))
    return screens.list_screen(objs, session.me, policies, tab, screens.Filters.of(request.query), _now(request),
                               page=screens.page_of(request.query.get("page")))


def _list_context(screen: screens.ListScreen) -> dict:
    def tab_query(tab: str) -> str:
        return urlencode({"tab": tab, **screen.filters.query()})

    def page_query(page: int) -> str:
        return urlencode({"tab": screen.tab, **screen.filters.query(), **({"page": page} if page > 1 else {})})
    return {"screen": screen, "tabs": screens.TABS, "states": screens.STATES, "tab_query": tab_query,
            "page_query": page_query, "query": page_query(screen.paging.page)}


async def request_list(request: web.Request) -> web.Response:
    try:
        screen = await _list_screen(request)
    except CliError as error:
        empty = screens.list_screen((), _session(request).me, (), screens.tab_of(request.query.get("tab")),
                                    screens.Filters.of(request.query), _now(request))
        return render(request, "list.html", status=502, section="requests", error=error.message,
                      **_list_context(empty))
    return render(request, "list.html", section="requests", **_list_context(screen))


async def request_list_fragment(request: web.Request) -> web.Response:
    try:
        screen = await _list_screen(request)
    except CliError as error:
        return web.Response(text=error.message, status=502)
    return render(request, "_requests.html", **_list_context(screen))


# -- one request ----------------------------------------------------------------------------------


async def _request_screen(request: web.Request) -> screens.RequestScreen:
    session = _session(request)
    name = request.match_info["name"]
    obj = await session.call(lambda kube: kube.get_request(name))
    return screens.request_screen(obj, session.me, await _policies(session), _now(request))


async def request_page(request: web.Request, *, error: str = "", status: int = 200) -> web.Response:
    try:
        screen = await _request_screen(request)
    except CliError as failure:
        return error_page(request, failure.message, status=404 if _not_found(failure) else 502)
    return render(request, "request.html", status=status, section="requests", error=error, screen=screen)


async def request_fragment(request: web.Request) -> web.Response:
    try:
        screen = await _request_screen(request)
    except CliError as error:
        return web.Response(text=error.message, status=404 if _not_found(error) else 502)
    return render(request, "_request.html", screen=screen)


async def review(request: web.Request) -> web.Response:
    session = _session(request)
    name = request.match_info["name"]
    form = await request.post()
    decision = str(form.get("decision") or "")
    if decision not in ("Approve", "Deny"):
        return await request_page(request, error="choose Approve or Deny", status=400)
    body = review_body(name, decision, str(form.get("reason") or "").strip(), session.me.username)
    try:
        await session.call(lambda kube: kube.create_review(body))
    except CliError as error:
        return await request_page(request, error=error.message, status=400)
    raise web.HTTPSeeOther(f"/requests/{quote(name)}")


async def drop(request: web.Request) -> web.Response:
    session = _session(request)
    name = request.match_info["name"]
    form = await request.post()
    back = "/grants" if form.get("back") == "grants" else f"/requests/{quote(name)}"

    def dropping(kube) -> dict:
        return kube.annotate_request(name, drop_annotations(kube.get_request(name), DROP_REASON))

    try:
        session.saw(await session.call(dropping))
    except CliError as error:
        if _not_found(error):
            return error_page(request, error.message, status=404)
        return await request_page(request, error=error.message, status=400)
    raise web.HTTPSeeOther(back)


# -- a new request --------------------------------------------------------------------------------


async def _bound_rules(session: Session, policies: list) -> dict:
    """The rules of the ClusterRoles that bound the user's resource requests, read as the user (None where
    they may not)."""
    names = sorted({b.cluster_role for p in policies if p.requesters.contains(session.me) for b in p.resources})
    if not names:
        return {}

    def read(kube) -> dict:
        return {name: kube.role_rules(RoleKey("ClusterRole", name)) for name in names}
    return await session.call(read)


async def new_request(request: web.Request) -> web.Response:
    session = _session(request)
    policies = await _policies(session)
    screen = forms.new_screen(policies, session.me, bound_rules=await _bound_rules(session, policies))
    return render(request, "new.html", section="new", screen=screen)


async def new_request_submit(request: web.Request) -> web.Response:
    session = _session(request)
    form = await request.post()
    draft = forms.Draft.of(form, lambda name: form.getall(name, []))  # a field left out (no box checked): none
    policies = await _policies(session)
    bound_rules = await _bound_rules(session, policies)
    dry_run = form.get("action") != "create"
    try:
        body = draft.body(session.me)
        answer = await session.call(lambda kube: kube.create_request(body, dry_run=dry_run))
    except CliError as error:
        screen = forms.new_screen(policies, session.me, draft, error=error.message, bound_rules=bound_rules)
        return render(request, "new.html", status=400, section="new", error=error.message, screen=screen)
    if dry_run:
        preview = forms.preview(answer, policies, _now(request))
        screen = forms.new_screen(policies, session.me, draft, preview=preview, bound_rules=bound_rules)
        return render(request, "new.html", section="new", screen=screen)
    session.saw(answer)
    raise web.HTTPSeeOther(f"/requests/{quote(answer['metadata']['name'])}")


# -- active grants --------------------------------------------------------------------------------


async def _grants(request: web.Request) -> tuple:
    session = _session(request)
    return screens.grants(await session.requests(), session.me, _now(request))


async def grants_page(request: web.Request) -> web.Response:
    try:
        found = await _grants(request)
    except CliError as error:
        return render(request, "grants.html", status=502, section="grants", error=error.message, grants=())
    return render(request, "grants.html", section="grants", grants=found)


async def grants_fragment(request: web.Request) -> web.Response:
    try:
        found = await _grants(request)
    except CliError as error:
        return web.Response(text=error.message, status=502)
    return render(request, "_grants.html", grants=found)
