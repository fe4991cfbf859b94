"""Admin only from a registered device: a reviewer that checks a device label against a registry.

A request for ``admin`` must carry the label ``gatepass.dev/device: <id>``
naming a device the registry says belongs to the requester; it is approved if
so and denied, with the reason, if not. Requests without ``admin`` are left to
the other reviewers.

    GATEPASS_DEVICES=devices.yaml gatepass-reviewer examples/reviewers/devices.py:review --context review-bot

The registry is an interface: swap ``FileDevices`` for your MDM's inventory.
The label is the requester's word; the registry only confirms that the device
is theirs. Tie it to the device itself (a client certificate issued to it, a
device-bound token) when that matters.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

import yaml

from gatepass.reviewers import Abstain, Approve, Deny, Result, Reviewer, ReviewRequest

DEVICE_LABEL = "gatepass.dev/device"


class DeviceRegistry(Protocol):
    def owner(self, device: str) -> str | None:
        """The Kubernetes username the device is registered to, or None if it is not registered."""


class FileDevices:
    """Registered devices from a YAML or JSON file: ``{device id: username}``; read on every call."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def owner(self, device: str) -> str | None:
        devices = yaml.safe_load(self.path.read_text()) or {}
        if not isinstance(devices, dict):
            raise ValueError(f"{self.path} must map device IDs to usernames")
        owner = devices.get(device)
        return str(owner) if owner is not None else None


def device_reviewer(registry: DeviceRegistry, *, roles: Iterable[str] = ("admin",)) -> Reviewer:
    guarded = frozenset(roles)

    def review(request: ReviewRequest) -> Result:
        wanted = sorted(guarded.intersection(request.roles))
        if not wanted:
            return Abstain()
        role = ", ".join(wanted)
        device = request.labels.get(DEVICE_LABEL)
        if not device:
            return Deny(f"{role} is granted only to a registered device: label the request {DEVICE_LABEL}=<device id>")
        owner = registry.owner(device)
        if owner is None:
            return Deny(f"device {device} is not registered")
        if owner != request.user:
            return Deny(f"device {device} is not registered to {request.user}")
        return Approve(f"device {device} is registered to {request.user}")

    return review


review = device_reviewer(FileDevices(os.environ.get("GATEPASS_DEVICES", "devices.yaml")))
