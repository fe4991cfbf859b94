"""The Web UI that `kubectl access ui` serves: requests, reviews and grants, in the browser, as the user.

Every read, write and watch is made with the user's own credentials, through the plugin's own API client
(``gatepass.cli.kube.Kube``): on a workstation the kubeconfig's (``kubectl access ui``), in a cluster the
bearer token an authenticating proxy forwards (``kubectl access ui --in-cluster``). The UI has no
credentials of its own, never takes a user's name from a header or a form, and keeps nothing shared
between users. Who asked and who reviewed is the API server's to say, exactly as for kubectl.

It may import the rest of the plugin (``gatepass.cli``), ``gatepass.core``, aiohttp and jinja2. Only
`kubectl access ui` loads it, so that the plugin's other verbs start without a web server.

- ``session``: what a page handler gets for the signed-in user (identity, CSRF token, API calls, changes).
- ``command``: `kubectl access ui` itself: connects, listens, prints the sign-in link, serves until Ctrl-C.
- ``server``: the aiohttp application: the checks before every handler, sign-in, ``/events``, ``/healthz``,
  static files, errors as one line.
- ``security``: the checks themselves (Host, Origin, CSRF) and the headers on every response; no I/O.
- ``users``: who is signed in: the kubeconfig's user, or each proxied bearer token, each with its own
  client, identity, CSRF token and watch.
- ``live``: one user's watch of AccessRequests, fanned out to that user's open pages.
"""
