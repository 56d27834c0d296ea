"""Kafka transport: TLS and MSK IAM when configured, plaintext only to loopback brokers."""

from __future__ import annotations

import base64
from dataclasses import replace

import pytest

from shared.adapters.kafka_producer import ScoreEventPublisher
from shared.adapters.kafka_security import InsecureKafkaConfiguration, MskIamTokenProvider, kafka_security_options
from shared.adapters.settings import Settings

pytestmark = pytest.mark.security

MSK = "b-1.scores.abc123.c2.kafka.eu-west-1.amazonaws.com:9098,b-2.scores.abc123.c2.kafka.eu-west-1.amazonaws.com:9098"


def settings(**env: str) -> Settings:
    return Settings.from_env(env)


@pytest.mark.parametrize("bootstrap", ["127.0.0.1:9092", "localhost:9092", "[::1]:9092", "127.0.0.2:1,127.0.0.1:2"])
def test_plaintext_to_loopback_is_allowed(bootstrap: str) -> None:
    options = kafka_security_options(settings(KAFKA_BOOTSTRAP_SERVERS=bootstrap, KAFKA_SECURITY_PROTOCOL="PLAINTEXT"))
    assert options == {"security_protocol": "PLAINTEXT"}


@pytest.mark.parametrize("bootstrap", [MSK, "10.0.0.5:9092", "127.0.0.1:9092,kafka.internal:9092"])
def test_plaintext_to_a_remote_broker_is_refused_at_start(bootstrap: str) -> None:
    config = settings(KAFKA_BOOTSTRAP_SERVERS=bootstrap, KAFKA_SECURITY_PROTOCOL="PLAINTEXT")
    with pytest.raises(InsecureKafkaConfiguration, match="KAFKA_ALLOW_PLAINTEXT_REMOTE"):
        kafka_security_options(config)
    with pytest.raises(InsecureKafkaConfiguration):
        ScoreEventPublisher(config)


def test_the_override_allows_plaintext_on_a_trusted_network() -> None:
    config = settings(
        KAFKA_BOOTSTRAP_SERVERS="10.0.0.5:9092",
        KAFKA_SECURITY_PROTOCOL="PLAINTEXT",
        KAFKA_ALLOW_PLAINTEXT_REMOTE="true",
    )
    assert kafka_security_options(config) == {"security_protocol": "PLAINTEXT"}


def test_unknown_protocols_are_refused() -> None:
    with pytest.raises(InsecureKafkaConfiguration, match="SASL_PLAINTEXT"):
        kafka_security_options(settings(KAFKA_SECURITY_PROTOCOL="SASL_PLAINTEXT"))


def test_ssl_verifies_the_broker_certificate_and_host_name() -> None:
    options = kafka_security_options(settings(KAFKA_BOOTSTRAP_SERVERS=MSK, KAFKA_SECURITY_PROTOCOL="ssl"))
    assert options == {"security_protocol": "SSL", "ssl_check_hostname": True}


def test_sasl_ssl_is_msk_iam_over_oauthbearer() -> None:
    options = kafka_security_options(
        settings(KAFKA_BOOTSTRAP_SERVERS=MSK, KAFKA_SECURITY_PROTOCOL="SASL_SSL", AWS_REGION="eu-west-1")
    )
    assert options["security_protocol"] == "SASL_SSL"
    assert options["ssl_check_hostname"] is True
    assert options["sasl_mechanism"] == "OAUTHBEARER"
    assert isinstance(options["sasl_oauth_token_provider"], MskIamTokenProvider)


def test_the_iam_token_is_a_signed_url_reused_until_near_expiry_and_never_shown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    provider = MskIamTokenProvider("eu-west-1")
    token = provider.token()
    signed_url = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    assert signed_url.startswith("https://kafka.eu-west-1.amazonaws.com/?Action=kafka-cluster%3AConnect")
    assert "X-Amz-Signature=" in signed_url
    assert "wJalrXUtnFEMI" not in signed_url
    assert provider.token() == token
    assert token not in repr(provider)


def test_the_producer_uses_the_security_options() -> None:
    config = replace(Settings(), kafka_bootstrap_servers=MSK, kafka_security_protocol="SSL")
    publisher = ScoreEventPublisher(config)
    assert publisher._config()["security_protocol"] == "SSL"
