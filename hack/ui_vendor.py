"""Vendor the Web UI's JavaScript (htmx and its SSE extension) from the npm registry, pinned and verified.

The pin file, operator/gatepass/cli/ui/static/vendor/VENDORED.json, names each package's exact version,
its registry tarball and the tarball's `integrity` (sha512, as the registry's metadata gives it), and for
each file taken from the tarball its source path and its sha384 (in Subresource Integrity form).

    python hack/ui_vendor.py fetch                  # make ui-vendor: download, verify, extract, record hashes
    python hack/ui_vendor.py check                  # make ui-vendor-check: offline, committed files = pins
    python hack/ui_vendor.py pin htmx.org 2.0.12    # move a pin: record the registry's integrity for a version

Only the standard library; no Node.js, no npm. Members are read from the tarball by name, never extracted
wholesale, so a tarball cannot write outside the vendor folder.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import re
import sys
import tarfile
import urllib.request
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VENDOR = REPO / "operator/gatepass/cli/ui/static/vendor"
PINS = VENDOR / "VENDORED.json"
REGISTRY = "https://registry.npmjs.org"
EXACT_VERSION = re.compile(r"\d+\.\d+\.\d+")


class VendorError(Exception):
    """One line saying what did not match."""


def sri(algorithm: str, data: bytes) -> str:
    """A Subresource Integrity string: ``sha384-<base64>``."""
    return f"{algorithm}-" + base64.b64encode(hashlib.new(algorithm, data).digest()).decode()


def tarball_url(package: str, version: str) -> str:
    return f"{REGISTRY}/{package}/-/{package.rsplit('/', 1)[-1]}-{version}.tgz"


def load(pins: Path = PINS) -> list[dict]:
    return json.loads(pins.read_text())["packages"]


def save(packages: list[dict], pins: Path = PINS) -> None:
    pins.write_text(json.dumps({"packages": packages}, indent=2) + "\n")


def download(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 (a fixed https registry URL)
        return response.read()


def verified_files(package: dict, tarball: bytes) -> dict[str, bytes]:
    """The pinned files of a tarball whose sha512 matches the pin, destination name -> content."""
    if sri("sha512", tarball) != package["integrity"]:
        raise VendorError(f"{package['name']}@{package['version']}: the tarball does not match the pinned integrity")
    files = {}
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        for destination, entry in package["files"].items():
            try:
                member = archive.extractfile(entry["from"])
            except KeyError:
                member = None
            if member is None:
                raise VendorError(f"{package['name']}@{package['version']}: the tarball has no file {entry['from']}")
            files[destination] = member.read()
    return files


def fetch(pins: Path = PINS, get: Callable[[str], bytes] = download) -> list[str]:
    """Download each pinned tarball, verify it, write its files next to the pin file and record their hashes."""
    packages = load(pins)
    written = []
    for package in packages:
        files = verified_files(package, get(package["tarball"]))
        for destination, content in files.items():
            (pins.parent / destination).write_bytes(content)
            package["files"][destination]["sha384"] = sri("sha384", content)
            written.append(f"{destination} from {package['name']}@{package['version']}")
    save(packages, pins)
    return written


def problems(pins: Path = PINS) -> list[str]:
    """What differs between the vendor folder and its pin file, one line each; empty when they agree."""
    found = []
    listed = {pins.name}
    for package in load(pins):
        name, version = package["name"], package["version"]
        if not EXACT_VERSION.fullmatch(version):
            found.append(f"{name}: {version!r} is not an exact version")
        if package["tarball"] != tarball_url(name, version):
            found.append(f"{name}@{version}: the tarball URL is not the registry's for that version")
        if not package["integrity"].startswith("sha512-"):
            found.append(f"{name}@{version}: the integrity is not a sha512")
        for destination, entry in package["files"].items():
            listed.add(destination)
            path = pins.parent / destination
            if not path.is_file():
                found.append(f"{destination}: missing (make ui-vendor)")
            elif sri("sha384", path.read_bytes()) != entry.get("sha384"):
                found.append(f"{destination}: does not match its pinned sha384 (make ui-vendor)")
    found += [f"{path.name}: not in {pins.name}" for path in sorted(pins.parent.iterdir())
              if path.name not in listed and path.name != "__pycache__"]
    return found


def pin(package: str, version: str, pins: Path = PINS, get: Callable[[str], bytes] = download) -> None:
    """Point a package's pin at another exact version, with the integrity the registry's metadata gives."""
    if not EXACT_VERSION.fullmatch(version):
        raise VendorError(f"{version!r} is not an exact version")
    packages = load(pins)
    [entry] = [p for p in packages if p["name"] == package] or [None]
    if entry is None:
        raise VendorError(f"{package} is not in {pins.name}")
    dist = json.loads(get(f"{REGISTRY}/{package}/{version}"))["dist"]
    entry.update(version=version, tarball=dist["tarball"], integrity=dist["integrity"])
    if entry["tarball"] != tarball_url(package, version):
        raise VendorError(f"{package}@{version}: the registry names an unexpected tarball {dist['tarball']}")
    for file in entry["files"].values():
        file.pop("sha384", None)
    save(packages, pins)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("fetch", help="download, verify and extract the pinned files")
    commands.add_parser("check", help="offline: the committed files match their pinned hashes")
    moving = commands.add_parser("pin", help="pin a package to another exact version (then run fetch)")
    moving.add_argument("package")
    moving.add_argument("version")
    args = parser.parse_args(argv)
    try:
        if args.command == "fetch":
            for line in fetch(PINS):
                print(f"Vendored {line}")
        elif args.command == "pin":
            pin(args.package, args.version, PINS)
            print(f"Pinned {args.package}@{args.version}; run make ui-vendor")
        else:
            found = problems(PINS)
            for line in found:
                print(f"ui-vendor-check: {line}", file=sys.stderr)
            return 1 if found else 0
    except (VendorError, OSError) as error:
        print(f"ui-vendor: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
