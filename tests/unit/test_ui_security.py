"""The Web UI's defences, one attack at a time: DNS rebinding (Host), cross-site requests (Origin, CSRF),
stolen or replayed sign-in links (the one-time token, the cookie), headers that are missing on some
responses, CORS, and, in the cluster, identities taken from anything but the forwarded bearer token."""

from __future__ import annotations

import asyncio
import functools

import pytest
from multidict import CIMultiDict

from gatepass.cli.ui import security

from .ui_server_fakes import (CLUSTER_HOST, HOST, ORIGIN, PORT, Browser, FakeKube, Served, cluster,
                              local)


def aio(test):
    @functools.wraps(test)
    def run(*args, **kwargs):
        asyncio.run(test(*args, **kwargs))
    return run


async def signed_in(served: Served, browser: Browser) -> str:
    await browser.sign_in(served.registry)
    response = await browser.get("/")
    return (await response.text()).split("csrf=")[1]


# -- Host: DNS rebinding ------------------------------------------------------------------------------

@pytest.mark.parametrize("host", [
    "evil.example", f"evil.example:{PORT}", f"127.0.0.1:{PORT + 1}", "127.0.0.1", f"localhost.:{PORT}",
    f"[::1]:{PORT}", f"127.0.0.2:{PORT}", f"0.0.0.0:{PORT}", f"127.0.0.1:{PORT}.evil.example",
    f"2130706433:{PORT}", "", f"LOCALHOST:{PORT + 1}",
])
@aio
async def test_a_host_the_server_does_not_answer_to_is_refused(host):
    served = Served(local())
    async with served as browser:
        token = served.registry.token
        response = await browser.get(f"/?token={token}", headers={"Host": host})
        assert response.status == 421
        assert (await response.text()).count("\n") == 1
        assert served.registry.token == token  # the refused request did not use the sign-in link
        assert "421" in served.lines[-1] and "token" not in served.lines[-1].lower().replace("csrf token", "")


@pytest.mark.parametrize("host", [HOST, f"localhost:{PORT}", f"LocalHost:{PORT}"])
@aio
async def test_the_served_hosts_are_answered(host):
    served = Served(local())
    async with served as browser:
        browser.host = host
        await browser.sign_in(served.registry)
        assert (await browser.get("/")).status == 200


@aio
async def test_a_request_without_a_host_or_with_two_is_refused():
    served = Served(local())
    async with served as browser:
        await browser.sign_in(served.registry)
        response = await browser.client.get("/", headers={"Cookie": f"gatepass_session={browser.cookie}"},
                                            skip_auto_headers=["Host"], allow_redirects=False)
        assert response.status == 421
    assert not security.host_allowed([], [HOST])
    assert not security.host_allowed([HOST, HOST], [HOST])
    assert not security.host_allowed([HOST, "evil.example"], [HOST])


@aio
async def test_health_answers_any_host_and_says_nothing_about_users():
    served = Served(local(FakeKube("bob")))
    async with served as browser:
        response = await browser.get("/healthz", headers={"Host": "10.0.0.7:8080"})
        assert response.status == 200
        assert "bob" not in await response.text()


# -- Origin: cross-site form posts ------------------------------------------------------------------

@pytest.mark.parametrize("origin", [
    None, "null", f"http://127.0.0.1:{PORT + 1}", f"http://localhost:{PORT + 1}", f"https://127.0.0.1:{PORT}",
    "https://evil.example", f"http://evil.example:{PORT}", "http://127.0.0.1", f"{ORIGIN}/", f"{ORIGIN}.evil.example",
    "",
])
@aio
async def test_a_post_from_another_origin_is_refused_before_its_handler(origin):
    served = Served(local())
    async with served as browser:
        csrf = await signed_in(served, browser)
        browser.origin = ""
        response = await browser.post("/requests/new", data={"csrf": csrf, "reason": "x"},
                                      headers={"Origin": origin})
        assert response.status == 403
        assert "Origin" in await response.text()


@pytest.mark.parametrize("origin", [ORIGIN, f"http://localhost:{PORT}"])
@aio
async def test_a_post_from_the_served_origin_with_its_csrf_token_reaches_its_handler(origin):
    served = Served(local())
    async with served as browser:
        csrf = await signed_in(served, browser)
        browser.origin = origin
        response = await browser.post("/requests/new", data={"csrf": csrf, "reason": "ticket 9"})
        assert response.status == 200
        assert await response.text() == "posted by bob: ticket 9"
        response = await browser.post("/requests/new", data={"reason": "by header"}, headers={"X-CSRF-Token": csrf})
        assert await response.text() == "posted by bob: by header"


def test_two_origin_headers_are_refused():
    assert not security.origin_allowed([ORIGIN, ORIGIN], [ORIGIN])
    assert not security.origin_allowed([], [ORIGIN])
    assert security.origin_allowed([ORIGIN], [ORIGIN])


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE", "OPTIONS"])
@aio
async def test_every_method_that_is_not_get_or_head_needs_the_origin(method):
    served = Served(local())
    async with served as browser:
        await signed_in(served, browser)
        browser.origin = f"http://127.0.0.1:{PORT + 1}"
        response = await browser.request(method, "/requests/new")
        assert response.status == 403
        assert not [h for h in response.headers if h.lower().startswith("access-control-")]


# -- CSRF ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("sent", [None, "", "wrong", "csrf"])
@aio
async def test_a_post_without_the_sessions_csrf_token_is_refused(sent):
    served = Served(local())
    async with served as browser:
        csrf = await signed_in(served, browser)
        data = {"reason": "x"} if sent is None else {"csrf": sent if sent != "csrf" else csrf[:-1], "reason": "x"}
        response = await browser.post("/requests/new", data=data)
        assert response.status == 403
        assert "CSRF" in await response.text()
        header = await browser.post("/requests/new", data={"reason": "x"}, headers={"X-CSRF-Token": csrf + "x"})
        assert header.status == 403


@aio
async def test_the_csrf_token_is_compared_in_constant_time_and_of_the_session():
    assert security.secret_matches("abc", "abc")
    assert not security.secret_matches("abd", "abc")
    assert not security.secret_matches(None, "abc")
    assert not security.secret_matches("", "")


@aio
async def test_another_users_csrf_token_is_refused_in_the_cluster():
    registry, _ = cluster(FakeKube("alice"), FakeKube("bob"))
    served = Served(registry, hosts=[CLUSTER_HOST], origins=[f"https://{CLUSTER_HOST}"])
    async with served as browser:
        browser.host, browser.origin = CLUSTER_HOST, f"https://{CLUSTER_HOST}"
        as_alice = {"Authorization": "Bearer token-alice"}
        as_bob = {"Authorization": "Bearer token-bob"}
        alice_csrf = (await (await browser.client.get("/", headers={"Host": CLUSTER_HOST, **as_alice})).text()
                      ).split("csrf=")[1]
        response = await browser.post("/requests/new", data={"csrf": alice_csrf}, headers=as_bob)
        assert response.status == 403
        response = await browser.post("/requests/new", data={"csrf": alice_csrf, "reason": "r"}, headers=as_alice)
        assert await response.text() == "posted by alice: r"


# -- the sign-in link and the cookie --------------------------------------------------------------------

@aio
async def test_the_sign_in_link_works_once_and_sets_a_strict_http_only_cookie_that_is_not_the_token():
    served = Served(local())
    async with served as browser:
        token = served.registry.token
        response = await browser.get(f"/?token={token}&tab=review")
        assert response.status == 303
        assert response.headers["Location"] == "/?tab=review"
        cookie = response.cookies["gatepass_session"]
        assert cookie["httponly"] and cookie["samesite"] == "Strict" and cookie["path"] == "/"
        assert cookie.value and token not in cookie.value
        again = await Browser(browser.client).get(f"/?token={token}")
        assert again.status == 403
        assert (await again.text()).count("\n") == 1
        assert "token" not in again.cookies
        assert all(token not in line for line in served.lines)  # never logged


@pytest.mark.parametrize("token", ["", "wrong", "x" * 43])
@aio
async def test_a_wrong_sign_in_token_is_refused_and_the_right_one_still_works(token):
    served = Served(local())
    async with served as browser:
        response = await browser.get(f"/?token={token}")
        assert response.status == 403
        assert not response.cookies
        await browser.sign_in(served.registry)


@pytest.mark.parametrize("cookie", [None, "", "forged", "gatepass_session"])
@aio
async def test_a_missing_or_forged_cookie_gets_one_line_saying_to_run_the_command_again(cookie):
    served = Served(local())
    async with served as browser:
        await browser.sign_in(served.registry)
        browser.cookie = cookie or ""
        for path in ("/", "/events", "/anything"):
            response = await browser.get(path)
            assert response.status == 401
            text = await response.text()
            assert text.count("\n") == 1 and "kubectl access ui" in text


@aio
async def test_the_sign_in_token_is_not_a_session_cookie():
    served = Served(local())
    async with served as browser:
        token = served.registry.token
        await browser.sign_in(served.registry)
        browser.cookie = token
        assert (await browser.get("/")).status == 401


@aio
async def test_a_post_without_a_session_is_refused_even_with_a_csrf_token():
    served = Served(local())
    async with served as browser:
        csrf = await signed_in(served, browser)
        browser.cookie = ""
        response = await browser.post("/requests/new", data={"csrf": csrf})
        assert response.status == 401


# -- headers on every response ----------------------------------------------------------------------

def assert_secure(response) -> None:
    for name, value in security.HEADERS.items():
        assert response.headers.get(name) == value, (response.status, name)
    assert not [h for h in response.headers if h.lower().startswith("access-control-")]


@aio
async def test_every_response_carries_the_security_headers_and_no_cors(tmp_path):
    (tmp_path / "app.css").write_text("body { color: black }\n")
    served = Served(local(), static_dir=tmp_path)
    async with served as browser:
        seen = {}
        seen[421] = await browser.get("/", headers={"Host": "evil.example"})
        seen[401] = await browser.get("/")
        seen[403] = await browser.get("/?token=wrong")
        seen[303] = await browser.get(f"/?token={served.registry.token}")
        browser.cookie = seen[303].cookies["gatepass_session"].value
        seen[200] = await browser.get("/")
        seen[404] = await browser.get("/no/such/page")
        seen[500] = await browser.get("/boom")
        seen[400] = await browser.get("/api-error")
        seen["static"] = await browser.get("/static/app.css")
        seen["static 404"] = await browser.get("/static/missing.css")
        seen["health"] = await browser.get("/healthz")
        seen["moved"] = await browser.get("/moved")
        seen["preflight"] = await browser.request("OPTIONS", "/", headers={
            "Access-Control-Request-Method": "POST", "Origin": "https://evil.example"})
        for key, response in seen.items():
            assert_secure(response)
        assert seen["static"].status == 200 and await seen["static"].text() == "body { color: black }\n"
        assert seen[404].status == 404 and seen["static 404"].status == 404
        assert seen[500].status == 500 and seen["moved"].status == 303


@aio
async def test_failures_are_one_line_for_the_user_and_one_on_stderr_never_a_traceback():
    served = Served(local())
    async with served as browser:
        await browser.sign_in(served.registry)
        before = len(served.lines)
        boom = await browser.get("/boom")
        text = await boom.text()
        assert text.count("\n") == 1 and "Traceback" not in text and "a bug" not in text
        assert len(served.lines) == before + 1 and "RuntimeError: a bug" in served.lines[-1]
        api = await browser.get("/api-error")
        assert await api.text() == ('admission webhook "requests.gatepass.dev" denied the request: '
                                    "a reason is required\n")
        assert "status=400" in served.lines[-1] and "\n" not in served.lines[-1]
        missing = await browser.get("/missing")
        assert (missing.status, await missing.text()) == (404, 'AccessRequest "x" not found\n')
        unknown = await browser.get("/no/such")
        assert (unknown.status, await unknown.text()) == (404, "Not Found\n")


@aio
async def test_a_log_line_is_one_line_and_never_holds_the_query():
    served = Served(local())
    async with served as browser:
        await browser.get("/%0Aui: signed in%0D?token=wrong&x=%0A")
        await browser.get("/?token=not-the-token")
        assert len(served.lines) == 2
        assert all("\n" not in line and "\r" not in line and "token=" not in line for line in served.lines)
        assert 'path="/%0Aui:%20signed%20in%0D"' in served.lines[0]


def test_cors_headers_set_by_anyone_are_taken_away():
    headers = CIMultiDict({"Access-Control-Allow-Origin": "*", "access-control-allow-credentials": "true",
                           "Content-Type": "text/html"})
    headers.add("Access-Control-Allow-Origin", "https://evil.example")
    security.secure_headers(headers)
    assert not [h for h in headers if h.lower().startswith("access-control-")]
    assert headers["Content-Type"] == "text/html"


# -- in the cluster: identity only from the forwarded bearer token ----------------------------------

async def cluster_served(*kubes):
    registry, made = cluster(*kubes)
    served = Served(registry, hosts=[CLUSTER_HOST], origins=[f"https://{CLUSTER_HOST}"])
    return served, made


@pytest.mark.parametrize("authorization", [None, "", "Bearer", "Bearer ", "Basic Ym9iOnB3", "token-bob"])
@aio
async def test_in_the_cluster_a_request_without_a_bearer_token_is_401(authorization):
    served, made = await cluster_served(FakeKube("bob"))
    async with served as browser:
        browser.host = CLUSTER_HOST
        headers = {"Authorization": authorization, "X-Forwarded-User": "bob", "X-Remote-User": "bob"}
        response = await browser.get("/", headers=headers)
        assert response.status == 401
        assert "bearer token" in await response.text()
        assert not made  # no client was made for it


@aio
async def test_in_the_cluster_a_token_the_api_server_refuses_is_401():
    served, _ = await cluster_served(FakeKube("bob"))
    async with served as browser:
        browser.host = CLUSTER_HOST
        response = await browser.get("/", headers={"Authorization": "Bearer stolen"})
        assert response.status == 401
        assert "did not accept your credentials" in await response.text()
        assert len(served.registry) == 0


@pytest.mark.parametrize("header", ["X-Forwarded-User", "X-Forwarded-Email", "X-Forwarded-Preferred-Username",
                                    "X-Remote-User", "X-Remote-Group", "Remote-User", "X-Auth-Request-User",
                                    "X-User", "Impersonate-User"])
@aio
async def test_in_the_cluster_identity_headers_change_nothing(header):
    served, _ = await cluster_served(FakeKube("bob"), FakeKube("alice"))
    async with served as browser:
        browser.host = CLUSTER_HOST
        plain = await browser.get("/", headers={"Authorization": "Bearer token-bob"})
        claimed = await browser.get("/", headers={"Authorization": "Bearer token-bob", header: "alice"})
        assert (await plain.text()) == (await claimed.text())
        assert (await claimed.text()).startswith("bob ")
        alone = await browser.get("/", headers={header: "alice"})
        assert alone.status == 401


@aio
async def test_in_the_cluster_two_tokens_are_two_users_with_nothing_shared():
    bob, alice = FakeKube("bob"), FakeKube("alice")
    served, made = await cluster_served(bob, alice)
    async with served as browser:
        browser.host = CLUSTER_HOST
        as_bob = await (await browser.get("/", headers={"Authorization": "Bearer token-bob"})).text()
        as_alice = await (await browser.get("/", headers={"Authorization": "Bearer token-alice"})).text()
        assert as_bob.startswith("bob ") and as_alice.startswith("alice ")
        assert as_bob.split("csrf=")[1] != as_alice.split("csrf=")[1]
        again = await (await browser.get("/", headers={"Authorization": "Bearer token-bob"})).text()
        assert again == as_bob  # the same token: the same session, the same CSRF token
        sessions = list(served.registry._sessions.values())
        assert len(sessions) == 2
        assert sessions[0].kube is not sessions[1].kube and sessions[0].watch is not sessions[1].watch
        assert {s.me.username for s in sessions} == {"bob", "alice"}
        assert set(made) == {"token-bob", "token-alice"}
        assert all("token-" not in key for key in served.registry._sessions)  # kept by digest only


@aio
async def test_in_the_cluster_the_session_cookie_means_nothing():
    served, _ = await cluster_served(FakeKube("bob"))
    async with served as browser:
        browser.host = CLUSTER_HOST
        browser.cookie = "anything"
        assert (await browser.get("/")).status == 401
        response = await browser.get("/?token=anything", headers={"Authorization": "Bearer token-bob"})
        assert response.status == 200 and not response.cookies


@aio
async def test_in_the_cluster_only_the_allowed_hosts_and_their_https_origin():
    served, _ = await cluster_served(FakeKube("bob"))
    async with served as browser:
        bearer = {"Authorization": "Bearer token-bob"}
        for host in ("evil.example", f"{CLUSTER_HOST}.evil.example", "10.0.0.7:8080", "localhost:8080"):
            assert (await browser.get("/", headers={"Host": host, **bearer})).status == 421
        browser.host = CLUSTER_HOST
        csrf = (await (await browser.get("/", headers=bearer)).text()).split("csrf=")[1]
        for origin in (f"http://{CLUSTER_HOST}", "https://evil.example", "null"):
            browser.origin = origin
            assert (await browser.post("/requests/new", data={"csrf": csrf}, headers=bearer)).status == 403
        browser.origin = f"https://{CLUSTER_HOST}"
        assert (await browser.post("/requests/new", data={"csrf": csrf}, headers=bearer)).status == 200
