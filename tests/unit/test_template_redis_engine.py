"""template.yaml's RedisEngine: the created ElastiCache group runs Valkey (the default) or Redis OSS,
with a version and parameter group family that belong together (docs/REDIS.md)."""

from __future__ import annotations

import pytest

from tests.support.deployed_template import RESOURCES, TEMPLATE, deployed

ELASTICACHE_ENGINE_RESOURCES = (
    "AWS::ElastiCache::ReplicationGroup",
    "AWS::ElastiCache::User",
    "AWS::ElastiCache::UserGroup",
)
# The parameter group family of each engine version the template may pin (ElastiCache's naming).
FAMILIES = {
    ("valkey", "9"): "valkey9",
    ("valkey", "8"): "valkey8",
    ("valkey", "7"): "valkey7",
    ("redis", "7"): "redis7",
}


def test_valkey_is_the_default_engine_and_redis_the_alternative() -> None:
    parameter = TEMPLATE["Parameters"]["RedisEngine"]
    assert parameter["Default"] == "valkey"
    assert sorted(parameter["AllowedValues"]) == ["redis", "valkey"]


@pytest.mark.parametrize("engine", ["valkey", "redis"])
def test_each_engine_pins_a_version_and_the_family_of_that_version(engine: str) -> None:
    settings = TEMPLATE["Mappings"]["RedisEngineSettings"][engine]
    major = str(settings["EngineVersion"]).split(".")[0]
    assert settings["ParameterGroupFamily"] == FAMILIES[(engine, major)]


def test_the_group_its_users_and_its_parameter_group_all_follow_the_engine() -> None:
    engine_reference = {"Ref": "RedisEngine"}
    for name, resource in RESOURCES.items():
        if resource["Type"] in ELASTICACHE_ENGINE_RESOURCES:
            assert resource["Properties"]["Engine"] == engine_reference, name
    group = RESOURCES["RedisReplicationGroup"]["Properties"]
    assert group["EngineVersion"] == {"Fn::FindInMap": ["RedisEngineSettings", engine_reference, "EngineVersion"]}
    family = RESOURCES["RedisParameterGroup"]["Properties"]["CacheParameterGroupFamily"]
    assert family == {"Fn::FindInMap": ["RedisEngineSettings", engine_reference, "ParameterGroupFamily"]}


@pytest.mark.parametrize("engine", ["valkey", "redis"])
def test_a_created_group_runs_the_chosen_engine_with_tls_and_no_eviction(engine: str) -> None:
    resources = deployed(CreateRedis="true", RedisEngine=engine)
    group = resources["RedisReplicationGroup"]["Properties"]
    assert group["Engine"] == engine
    assert group["TransitEncryptionEnabled"] is True
    assert resources["RedisParameterGroup"]["Properties"]["Properties"] == {"maxmemory-policy": "noeviction"}
    assert {resources[name]["Properties"]["Engine"] for name in ("RedisUserGroup", "RedisQueryUser")} == {engine}
