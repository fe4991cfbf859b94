"""The pure core of Gatepass: every decision, no I/O.

This package may only compute: it turns already-read data (requests, policies,
reviews, the current status, the bindings that exist, and the current time as
a parameter) into plain results (a new status, the bindings to apply or
delete, the next wake-up time, audit events). It must not import kopf,
kubernetes, pykube, aiohttp, pydantic or any other Gatepass package, must not
read the clock, the environment or files, and must not log; callers do that.
"""
