"""The vendored htmx files: exact pins, committed files matching their hashes, tarballs verified before use."""

from __future__ import annotations

import importlib.util
import io
import json
import re
import shutil
import tarfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SPEC = importlib.util.spec_from_file_location("ui_vendor", REPO / "hack/ui_vendor.py")
ui_vendor = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(ui_vendor)

PINS = json.loads(ui_vendor.PINS.read_text())["packages"]


def test_the_pin_file_names_exact_versions_of_htmx_2_and_its_sse_extension_2():
    versions = {package["name"]: package["version"] for package in PINS}
    assert set(versions) == {"htmx.org", "htmx-ext-sse"}
    for version in versions.values():
        assert re.fullmatch(r"2\.\d+\.\d+", version), version
    assert re.fullmatch(r"2\.0\.\d+", versions["htmx.org"])
    for package in PINS:
        assert package["tarball"] == f"https://registry.npmjs.org/{package['name']}/-/{package['name']}-{package['version']}.tgz"
        assert re.fullmatch(r"sha512-[A-Za-z0-9+/]{86}==", package["integrity"])


def test_the_committed_files_match_their_pinned_hashes():
    assert ui_vendor.problems() == []
    files = {name for package in PINS for name in package["files"]}
    assert {"htmx.min.js", "sse.js"} <= files
    assert len([name for name in files if name.endswith("LICENSE")]) == 2  # one per package, kept
    for package in PINS:
        for entry in package["files"].values():
            assert re.fullmatch(r"sha384-[A-Za-z0-9+/]{64}", entry["sha384"])


def test_make_lint_runs_the_offline_check():
    makefile = (REPO / "Makefile").read_text()
    lint = makefile.split("\nlint:", 1)[1].split("\n\n", 1)[0]
    assert "hack/ui_vendor.py check" in lint
    assert re.search(r"^ui-vendor: .*## ", makefile, re.M) and re.search(r"^ui-vendor-check: .*## ", makefile, re.M)


def test_the_vendored_files_ship_with_the_package_and_the_image():
    pyproject = (REPO / "pyproject.toml").read_text()
    assert '"gatepass.cli.ui" = ["static/**/*", "templates/**/*"]' in pyproject
    dockerignore = (REPO / ".dockerignore").read_text().splitlines()
    assert "!operator/" in dockerignore
    assert not [line for line in dockerignore if "static" in line or "templates" in line or "/ui" in line]


@pytest.fixture()
def vendor(tmp_path):
    """A copy of the vendor folder, to be changed."""
    folder = tmp_path / "vendor"
    shutil.copytree(ui_vendor.VENDOR, folder, ignore=shutil.ignore_patterns("__pycache__"))
    return folder / ui_vendor.PINS.name


def test_a_changed_missing_or_unlisted_file_is_reported_one_line_each(vendor):
    (vendor.parent / "htmx.min.js").write_text("alert(1)")
    (vendor.parent / "sse.js").unlink()
    (vendor.parent / "extra.js").write_text("")
    assert ui_vendor.problems(vendor) == [
        "htmx.min.js: does not match its pinned sha384 (make ui-vendor)",
        "sse.js: missing (make ui-vendor)",
        "extra.js: not in VENDORED.json",
    ]


def test_a_range_instead_of_an_exact_version_is_reported(vendor):
    packages = ui_vendor.load(vendor)
    packages[0]["version"] = "^2.0.0"
    ui_vendor.save(packages, vendor)
    assert f"{packages[0]['name']}: '^2.0.0' is not an exact version" in ui_vendor.problems(vendor)


def tarball(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def one_package(vendor: Path, data: bytes) -> None:
    ui_vendor.save([{"name": "htmx.org", "version": "2.0.99", "tarball": ui_vendor.tarball_url("htmx.org", "2.0.99"),
                     "integrity": ui_vendor.sri("sha512", data), "files": {"htmx.min.js": {"from": "package/dist/htmx.min.js"}}}],
                   vendor)


def test_fetch_writes_the_files_of_a_verified_tarball_and_records_their_hashes(vendor):
    data = tarball({"package/dist/htmx.min.js": b"/* htmx */", "package/../../escape": b"x"})
    one_package(vendor, data)
    for path in vendor.parent.iterdir():
        if path != vendor:
            path.unlink()
    urls = []
    assert ui_vendor.fetch(vendor, get=lambda url: urls.append(url) or data) == ["htmx.min.js from htmx.org@2.0.99"]
    assert urls == ["https://registry.npmjs.org/htmx.org/-/htmx.org-2.0.99.tgz"]
    assert (vendor.parent / "htmx.min.js").read_bytes() == b"/* htmx */"
    assert sorted(p.name for p in vendor.parent.iterdir()) == ["VENDORED.json", "htmx.min.js"]
    assert ui_vendor.problems(vendor) == []


def test_fetch_refuses_a_tarball_that_does_not_match_the_pinned_integrity(vendor):
    good = tarball({"package/dist/htmx.min.js": b"/* htmx */"})
    one_package(vendor, good)
    before = (vendor.parent / "htmx.min.js").read_bytes()
    with pytest.raises(ui_vendor.VendorError, match="^htmx.org@2.0.99: the tarball does not match the pinned integrity$"):
        ui_vendor.fetch(vendor, get=lambda url: tarball({"package/dist/htmx.min.js": b"evil()"}))
    assert (vendor.parent / "htmx.min.js").read_bytes() == before


def test_fetch_names_a_pinned_file_the_tarball_lacks(vendor):
    data = tarball({"package/dist/other.js": b""})
    one_package(vendor, data)
    with pytest.raises(ui_vendor.VendorError, match="has no file package/dist/htmx.min.js$"):
        ui_vendor.fetch(vendor, get=lambda url: data)


def test_pin_records_the_registrys_integrity_and_clears_the_old_file_hashes(vendor):
    dist = {"dist": {"tarball": ui_vendor.tarball_url("htmx-ext-sse", "2.9.0"), "integrity": "sha512-" + "A" * 86 + "=="}}
    ui_vendor.pin("htmx-ext-sse", "2.9.0", vendor, get=lambda url: json.dumps(dist).encode())
    [entry] = [p for p in ui_vendor.load(vendor) if p["name"] == "htmx-ext-sse"]
    assert (entry["version"], entry["integrity"]) == ("2.9.0", dist["dist"]["integrity"])
    assert all("sha384" not in file for file in entry["files"].values())
    with pytest.raises(ui_vendor.VendorError, match="is not an exact version"):
        ui_vendor.pin("htmx-ext-sse", "latest", vendor, get=lambda url: b"")


def test_the_check_command_fails_with_one_line_per_problem(vendor, monkeypatch, capsys):
    (vendor.parent / "sse.js").write_text("")
    monkeypatch.setattr(ui_vendor, "PINS", vendor)
    assert ui_vendor.main(["check"]) == 1
    assert capsys.readouterr().err == "ui-vendor-check: sse.js: does not match its pinned sha384 (make ui-vendor)\n"
