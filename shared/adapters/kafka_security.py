"""How ingest's producer authenticates to Kafka and encrypts the connection.

PLAINTEXT   no TLS, no auth: accepted only for loopback brokers (the local runtime, tests), unless
            KAFKA_ALLOW_PLAINTEXT_REMOTE is set, so a deployment cannot fall back to it silently.
SSL         TLS with certificate and host name verification (MSK's TLS listener, port 9094).
SASL_SSL    TLS plus MSK IAM authentication (port 9098): SASL/OAUTHBEARER with a token signed from
            the function role's credentials by aws-msk-iam-sasl-signer-python.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from typing import Any

from kafka.net.sasl.oauth import AbstractTokenProvider

from shared.adapters.settings import Settings

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_SSL")
TOKEN_REFRESH_MARGIN_SECONDS = 60  # re-sign this long before the token expires


class InsecureKafkaConfiguration(ValueError):
    """The Kafka settings would send score events unencrypted over a network, or are not understood."""


def bootstrap_hosts(bootstrap_servers: str) -> list[str]:
    """The host part of each `host:port` (or `[v6]:port`) entry."""
    hosts = []
    for server in filter(None, (entry.strip() for entry in bootstrap_servers.split(","))):
        host, separator, _ = server.rpartition(":")
        hosts.append((host if separator else server).strip("[]"))
    return hosts


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class MskIamTokenProvider(AbstractTokenProvider):  # type: ignore[misc]
    """OAUTHBEARER tokens for MSK IAM, signed with the default AWS credentials and reused until near expiry."""

    def __init__(self, region: str) -> None:
        super().__init__()
        self._region = region
        self._lock = threading.Lock()
        self._token = ""
        self._expires_at = 0.0

    def token(self) -> str:
        with self._lock:
            if time.time() >= self._expires_at - TOKEN_REFRESH_MARGIN_SECONDS:
                # Imported here: botocore's credential chain is only needed where MSK IAM is used.
                from aws_msk_iam_sasl_signer import MSKAuthTokenProvider

                token, expiry_ms = MSKAuthTokenProvider.generate_auth_token(self._region)
                self._token, self._expires_at = str(token), int(expiry_ms) / 1000
            return self._token

    def __repr__(self) -> str:  # never show the token
        return f"MskIamTokenProvider(region={self._region!r})"


def kafka_security_options(settings: Settings) -> dict[str, Any]:
    """kafka-python client options for the configured protocol; refuses plaintext to a remote broker."""
    protocol = settings.kafka_security_protocol
    if protocol not in PROTOCOLS:
        raise InsecureKafkaConfiguration(
            f"KAFKA_SECURITY_PROTOCOL must be one of {', '.join(PROTOCOLS)}, got {protocol!r}"
        )
    if protocol == "PLAINTEXT":
        remote = [host for host in bootstrap_hosts(settings.kafka_bootstrap_servers) if not is_loopback(host)]
        if remote and not settings.kafka_allow_plaintext_remote:
            raise InsecureKafkaConfiguration(
                f"refusing PLAINTEXT to non-loopback Kafka broker(s) {', '.join(remote)}: use SSL or SASL_SSL, "
                "or set KAFKA_ALLOW_PLAINTEXT_REMOTE=true for a trusted network"
            )
        return {"security_protocol": "PLAINTEXT"}
    options: dict[str, Any] = {"security_protocol": protocol, "ssl_check_hostname": True}
    if protocol == "SASL_SSL":
        options["sasl_mechanism"] = "OAUTHBEARER"
        options["sasl_oauth_token_provider"] = MskIamTokenProvider(settings.aws_region)
    return options
