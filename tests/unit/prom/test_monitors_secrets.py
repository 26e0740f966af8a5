"""Resolving Secret and ConfigMap references for monitors."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from otel_operator.admission import certs
from otel_operator.prom.monitors import tlsassets
from otel_operator.prom.monitors.common import Invalid
from otel_operator.prom.monitors.generate import generate_scrape_configs
from otel_operator.prom.monitors.options import GeneratorOptions
from otel_operator.prom.monitors.secrets import SecretStore


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def secret(name: str, namespace: str = "apps", **fields: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": namespace}, **fields}


STORE = SecretStore.from_objects(
    [
        secret("auth", data={"user": b64("admin"), "pass": b64("pä$$"), "bad": "%%%"}),
        secret("auth", namespace="other", data={"user": b64("someone-else")}),
        secret("mixed", data={"k": b64("from-data")}, stringData={"k": "from-stringData"}),
        {
            "kind": "ConfigMap",
            "metadata": {"name": "bundle", "namespace": "apps"},
            "data": {"ca.crt": "PEM"},
            "binaryData": {"ca.crt": b64("binary"), "raw": b64("bytes")},
        },
        {"kind": "Service", "metadata": {"name": "auth", "namespace": "apps"}},
    ]
)


def test_secret_data_is_base64_decoded() -> None:
    assert STORE.secret_key("apps", {"name": "auth", "key": "pass"}, "f") == "pä$$"


def test_references_resolve_in_the_monitors_namespace_only() -> None:
    assert STORE.secret_key("other", {"name": "auth", "key": "user"}, "f") == "someone-else"
    with pytest.raises(Invalid) as err:
        STORE.secret_key("elsewhere", {"name": "auth", "key": "user"}, "spec.basicAuth.username")
    assert err.value.field == "spec.basicAuth.username.name"
    assert err.value.message == (
        'Secret "elsewhere/auth" not found; one exists in apps, other, but references resolve in the '
        'monitor\'s namespace "elsewhere": copy it there'
    )
    with pytest.raises(Invalid) as err:
        STORE.secret_key("apps", {"name": "nothing", "key": "user"}, "f")
    assert err.value.message == 'Secret "apps/nothing" not found; create it or fix the name'


def test_string_data_wins_over_data_as_the_api_server_merges_it() -> None:
    assert STORE.secret_key("apps", {"name": "mixed", "key": "k"}, "f") == "from-stringData"


def test_configmap_binary_data_is_not_read_as_prometheus_operator_reads_only_data() -> None:
    assert STORE.config_map_key("apps", {"name": "bundle", "key": "ca.crt"}, "f") == "PEM"
    with pytest.raises(Invalid) as err:
        STORE.config_map_key("apps", {"name": "bundle", "key": "raw"}, "spec.x")
    assert err.value.field == "spec.x.key"
    assert err.value.message == 'ConfigMap "apps/bundle" has "raw" under binaryData, which is not read; move it to data'


def test_a_missing_key_lists_the_keys_there_are() -> None:
    with pytest.raises(Invalid) as err:
        STORE.secret_key("apps", {"name": "auth", "key": "password"}, "spec.x")
    assert err.value.field == "spec.x.key"
    assert err.value.message == 'Secret "apps/auth" has no key "password"; its keys: bad, pass, user'


def test_data_that_is_not_base64_is_an_error() -> None:
    with pytest.raises(Invalid, match='key "bad" is not valid base64'):
        STORE.secret_key("apps", {"name": "auth", "key": "bad"}, "f")


@pytest.mark.parametrize(
    ("ref", "field", "message"),
    [
        ({"key": "user"}, "f.name", "required field is missing"),
        ({"name": "auth"}, "f.key", "required field is missing"),
    ],
    ids=["no name", "no key"],
)
def test_a_selector_needs_name_and_key(ref: dict[str, str], field: str, message: str) -> None:
    with pytest.raises(Invalid) as err:
        STORE.secret_key("apps", ref, "f")
    assert (err.value.field, message in err.value.message) == (field, True)


def test_secret_or_configmap() -> None:
    assert STORE.secret_or_config_map("apps", {"configMap": {"name": "bundle", "key": "ca.crt"}}, "f") == "PEM"
    assert STORE.secret_or_config_map("apps", {"secret": {"name": "auth", "key": "user"}}, "f") == "admin"
    with pytest.raises(Invalid, match="not both"):
        STORE.secret_or_config_map(
            "apps", {"secret": {"name": "a", "key": "b"}, "configMap": {"name": "a", "key": "b"}}, "f"
        )
    with pytest.raises(Invalid) as err:
        STORE.secret_or_config_map("apps", {"configMap": {"name": "nope", "key": "ca"}}, "spec.tlsConfig.ca")
    assert err.value.field == "spec.tlsConfig.ca.configMap.name"
    assert 'ConfigMap "apps/nope" not found' in err.value.message


def test_other_kinds_are_not_indexed() -> None:
    assert set(STORE.secrets) == {("apps", "auth"), ("other", "auth"), ("apps", "mixed")}
    assert set(STORE.config_maps) == {("apps", "bundle")}


def test_a_monitor_with_a_missing_secret_is_rejected_and_names_the_reference() -> None:
    def monitor(name: str, password_secret: str) -> dict[str, Any]:
        return {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "ServiceMonitor",
            "metadata": {"name": name, "namespace": "apps"},
            "spec": {
                "selector": {},
                "endpoints": [
                    {
                        "port": "web",
                        "basicAuth": {
                            "username": {"name": "auth", "key": "user"},
                            "password": {"name": password_secret, "key": "pass"},
                        },
                    }
                ],
            },
        }

    result = generate_scrape_configs([monitor("broken", "missing"), monitor("ok", "auth")], STORE, GeneratorOptions())
    assert [str(e) for e in result.errors] == [
        'ServiceMonitor apps/broken: spec.endpoints[0].basicAuth.password.name: Secret "apps/missing" not found; '
        "create it or fix the name"
    ]
    assert result.job_names == ("serviceMonitor/apps/ok/0",)
    assert result.scrape_configs[0]["basic_auth"] == {"username": "admin", "password": "pä$$"}


# ----------------------------------------------------------------------------------------------- TLS material

_CA = certs.issue_ca(datetime.now(UTC))
_LEAF = certs.issue_leaf(_CA, ["client.example"], datetime.now(UTC))
CA, CERT, KEY = _CA.cert_pem.decode(), _LEAF.cert_pem.decode(), _LEAF.key_pem.decode()


def test_a_ca_is_its_first_pem_block_which_must_be_a_certificate() -> None:
    assert tlsassets.check_ca(CA) is None
    assert tlsassets.check_ca("# the cluster CA\n" + CA + "trailing text") is None  # text around blocks is skipped
    assert tlsassets.check_ca(CA + KEY) is None
    assert "failed to parse certificate" in (tlsassets.check_ca(KEY + CA) or "")  # Go reads only the first block
    assert "failed to decode PEM block" in (tlsassets.check_ca("CA") or "")
    broken = "-----BEGIN CERTIFICATE-----\n%%%\n-----END CERTIFICATE-----\n"
    assert "failed to decode PEM block" in (tlsassets.check_ca(broken) or "")  # a block that does not decode


def test_a_key_pair_is_the_first_certificate_and_the_first_private_key() -> None:
    assert tlsassets.check_key_pair(CERT, KEY) is None
    assert tlsassets.check_key_pair(KEY + CERT + CA, "junk\n" + CA + KEY) is None  # other blocks are skipped
    assert tlsassets.check_key_pair(CA + CERT, KEY) == "the private key does not match the certificate's public key"
    assert tlsassets.check_key_pair(KEY, KEY) == "found no CERTIFICATE PEM block in the certificate"
    assert tlsassets.check_key_pair(CERT, CERT) == "found no PRIVATE KEY PEM block in the key"


def test_a_pkcs1_rsa_key_pairs_with_its_certificate() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pkcs1 = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    ).decode()
    assert pkcs1.startswith("-----BEGIN RSA PRIVATE KEY-----")
    # A certificate for the RSA key, signed by itself: only the public key matters for the pair.
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "rsa")])
    own = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(datetime(2026, 1, 1, tzinfo=UTC))
        .not_valid_after(datetime(2036, 1, 1, tzinfo=UTC))
        .sign(key, hashes.SHA256())
    )
    assert tlsassets.check_key_pair(own.public_bytes(serialization.Encoding.PEM).decode(), pkcs1) is None
    assert tlsassets.check_key_pair(CERT, pkcs1) == "the private key does not match the certificate's public key"
