"""Kafka TLS/SASL settings reach every producer, consumer and admin client configuration."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from connectors.kafka_io import admin_config, consumer_config, producer_config
from mlbsts.settings import Settings

pytestmark = pytest.mark.unit


def test_tls_and_sasl_settings_are_in_every_client_config() -> None:
    settings = Settings(
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username="poller",
        kafka_sasl_password=SecretStr("s3cret"),
        kafka_ssl_ca_location=Path("/etc/kafka/ca.pem"),
    )
    for config in (admin_config(settings), producer_config(settings), consumer_config(settings)):
        assert config["security.protocol"] == "SASL_SSL"
        assert config["sasl.mechanism"] == "SCRAM-SHA-512"
        assert config["sasl.username"] == "poller"
        assert config["sasl.password"] == "s3cret"
        assert config["ssl.ca.location"] == "/etc/kafka/ca.pem"
    assert "s3cret" not in repr(settings)


def test_plaintext_by_default_with_no_sasl_keys() -> None:
    config = producer_config(Settings())
    assert config["security.protocol"] == "PLAINTEXT"
    assert not any(k.startswith(("sasl.", "ssl.")) for k in config)
