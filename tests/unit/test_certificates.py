"""The webhook's self-managed certificate: generated, checked, renewed with the same CA."""

from __future__ import annotations

import ssl
from datetime import datetime, timedelta, timezone

from gatepass.process import certificates
from gatepass.process.certificates import Bundle, generate, problems, reusable_ca, service_hosts

NOW = datetime.now(timezone.utc)
HOSTS = service_hosts("gatepass-webhook", "gatepass-system") + ["127.0.0.1"]


def test_a_generated_bundle_serves_its_hosts(tmp_path):
    bundle = generate(HOSTS, NOW)
    assert problems(bundle, HOSTS, NOW) == []
    assert HOSTS[0] == "gatepass-webhook.gatepass-system.svc"
    cert, key = bundle.write(tmp_path / "certs")
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)  # the files are what kopf's WebhookServer loads


def test_problems_say_what_is_wrong():
    bundle = generate(HOSTS, NOW)
    assert problems(None, HOSTS, NOW) == ["there is no certificate"]
    assert problems(bundle, HOSTS + ["other.example"], NOW) == ["the certificate is not for other.example"]
    late = NOW + certificates.CERT_VALIDITY - timedelta(days=1)
    assert any("the certificate expires" in p for p in problems(bundle, HOSTS, late))
    other = generate(HOSTS, NOW)
    mixed = Bundle(ca=other.ca, cert=bundle.cert, key=other.key)
    found = problems(mixed, HOSTS, NOW)
    assert "the key does not belong to the certificate" in found
    assert any(p.startswith("the certificate is not signed by the CA") for p in found)
    assert problems(Bundle(b"junk", b"junk", b"junk"), HOSTS, NOW)[0].startswith("the certificate does not parse")


def test_renewal_keeps_the_ca_so_the_ca_bundle_stays():
    bundle = generate(HOSTS, NOW)
    ca = reusable_ca(bundle, NOW)
    assert ca == (bundle.ca, bundle.ca_key)
    renewed = generate(HOSTS, NOW, ca)
    assert renewed.ca == bundle.ca and renewed.cert != bundle.cert
    assert problems(renewed, HOSTS, NOW) == []
    assert reusable_ca(Bundle(bundle.ca, bundle.cert, bundle.key), NOW) is None  # no CA key kept
    assert reusable_ca(bundle, NOW + certificates.CA_VALIDITY - timedelta(days=100)) is None  # CA ends soon


def test_secret_data_round_trip():
    bundle = generate(HOSTS, NOW)
    data = bundle.to_secret_data()
    assert set(data) == {"ca.crt", "tls.crt", "tls.key", "ca.key"}
    assert Bundle.from_secret_data(data) == bundle
    assert Bundle.from_secret_data(None) is None
    assert Bundle.from_secret_data({"tls.crt": "x"}) is None
