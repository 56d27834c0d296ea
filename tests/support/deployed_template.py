"""template.yaml as the template tests read it: raw, or resolved for one set of parameters."""

from __future__ import annotations

from typing import Any

from local_runtime.cfn_intrinsics import IntrinsicResolver
from tests.support.paths import REPO_ROOT
from tools.check_template import load_template

TEMPLATE: dict[str, Any] = load_template(REPO_ROOT / "template.yaml")
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
# The parameters without a usable default, with values of the right shape.
REQUIRED_PARAMETERS = {
    "SubnetIds": "subnet-0123456789abcdef0",
    "SecurityGroupIds": "sg-0123456789abcdef0",
    "MskClusterArn": "arn:aws:kafka:us-east-1:123456789012:cluster/scores/11111111-2222-3333-4444-555555555555-1",
    "KafkaBootstrapServers": "b-1.scores.kafka.us-east-1.amazonaws.com:9098",
}
FUNCTIONS = ("MatchIngestFunction", "LeaderboardQueryFunction", "ScoreUpdaterFunction")


def deployed(**overrides: str) -> dict[str, Any]:
    """The resources CloudFormation would create with these parameters, intrinsics resolved
    (references to other resources stay as {"Ref": ...}, {"Fn::GetAtt": ...})."""
    values = {name: spec["Default"] for name, spec in TEMPLATE["Parameters"].items() if "Default" in spec}
    values.update(REQUIRED_PARAMETERS)
    values.update(overrides)
    resolver = IntrinsicResolver(
        {name: str(value) for name, value in values.items()},
        TEMPLATE["Conditions"],
        region="us-east-1",
        stack_name="lb",
    )
    return {
        logical_id: resolver.resolve(resource)
        for logical_id, resource in RESOURCES.items()
        if "Condition" not in resource or resolver.condition(resource["Condition"])
    }
