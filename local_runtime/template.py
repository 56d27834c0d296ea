"""What the local runtime needs from the SAM template: functions, routes, the Kafka trigger."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local_runtime.cfn_intrinsics import IntrinsicResolver, is_scalar, load_cloudformation_yaml, scalar_text

SERVERLESS_FUNCTION = "AWS::Serverless::Function"
EVENT_SOURCE_MAPPING = "AWS::Lambda::EventSourceMapping"
KAFKA_EVENT_TYPES = ("MSK", "SelfManagedKafka")
REPORT_BATCH_ITEM_FAILURES = "ReportBatchItemFailures"

# Lambda's defaults for Kafka event source mappings.
DEFAULT_KAFKA_BATCH_SIZE = 100
DEFAULT_KAFKA_BATCHING_WINDOW_SECONDS = 0.5
INFINITE_RETRIES = -1


class TemplateError(ValueError):
    """The template lacks something the local runtime needs, or has it in a form it cannot read."""


@dataclass(frozen=True)
class ApiRoute:
    function_id: str
    method: str  # upper case; "ANY" matches every method
    path: str  # API Gateway resource path, e.g. /v1/leaderboards/monthly/users/{user_id}
    auth_required: bool


@dataclass(frozen=True)
class KafkaTrigger:
    function_id: str
    source_id: str  # the function's Events key, or the EventSourceMapping's logical id
    topic: str
    batch_size: int
    batching_window_seconds: float
    consumer_group_id: str
    maximum_retry_attempts: int  # -1: retry until it succeeds
    function_response_types: tuple[str, ...]
    starting_position: str
    event_source_arn: str | None

    @property
    def reports_batch_item_failures(self) -> bool:
        return REPORT_BATCH_ITEM_FAILURES in self.function_response_types


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    function_name: str
    code_dir: Path
    handler: str  # "module.function", as in the template
    memory_mb: int
    timeout_seconds: int
    reserved_concurrency: int | None  # None: no reservation, the function shares the account's pool
    environment: dict[str, str]
    unresolved_environment: tuple[str, ...]  # names whose value needs AWS (a !GetAtt, a resource !Ref)
    routes: tuple[ApiRoute, ...]

    @property
    def handler_file(self) -> Path:
        module, _, _ = self.handler.rpartition(".")
        return self.code_dir.joinpath(*module.split(".")).with_suffix(".py")

    @property
    def handler_function(self) -> str:
        return self.handler.rpartition(".")[2]


@dataclass(frozen=True)
class LocalTemplate:
    path: Path | None
    parameters: dict[str, str]
    functions: dict[str, FunctionSpec]
    kafka_triggers: tuple[KafkaTrigger, ...]
    global_environment: dict[str, str] = field(default_factory=dict)

    @property
    def routes(self) -> tuple[ApiRoute, ...]:
        return tuple(route for spec in self.functions.values() for route in spec.routes)

    def function(self, logical_id: str) -> FunctionSpec:
        try:
            return self.functions[logical_id]
        except KeyError:
            raise TemplateError(f"no {SERVERLESS_FUNCTION} named {logical_id!r}") from None

    def kafka_trigger_for(self, function_id: str) -> KafkaTrigger:
        found = [trigger for trigger in self.kafka_triggers if trigger.function_id == function_id]
        if len(found) != 1:
            raise TemplateError(f"expected one Kafka trigger for {function_id}, found {len(found)}")
        return found[0]

    def parameter(self, name: str) -> str:
        try:
            return self.parameters[name]
        except KeyError:
            raise TemplateError(f"parameter {name!r} has neither a Default nor an override") from None

    def int_parameter(self, name: str) -> int:
        return _as_int(self.parameter(name), f"parameter {name}")

    @property
    def score_topic_partitions(self) -> int:
        return self.int_parameter("ScoreTopicPartitions")


def load_template(
    path: Path,
    overrides: Mapping[str, str | int] | None = None,
    *,
    region: str = "us-east-1",
    stack_name: str = "local",
) -> LocalTemplate:
    """Read `path`; `overrides` replace parameter Defaults (like `sam deploy --parameter-overrides`)."""
    path = Path(path)
    return parse_template(path.read_text(), path.parent, overrides, region=region, stack_name=stack_name, path=path)


def parse_template(
    text: str,
    base_dir: Path,
    overrides: Mapping[str, str | int] | None = None,
    *,
    region: str = "us-east-1",
    stack_name: str = "local",
    path: Path | None = None,
) -> LocalTemplate:
    document = load_cloudformation_yaml(text)
    parameters = _parameter_values(document.get("Parameters") or {}, overrides or {})
    resolver = IntrinsicResolver(
        {name: _parameter_reference_value(document, name, value) for name, value in parameters.items()},
        document.get("Conditions") or {},
        region=region,
        stack_name=stack_name,
    )
    resources: dict[str, Any] = document.get("Resources") or {}
    function_globals = resolver.resolve((document.get("Globals") or {}).get("Function") or {})
    api_globals = resolver.resolve((document.get("Globals") or {}).get("Api") or {})
    global_environment, _ = _environment(function_globals)

    functions: dict[str, FunctionSpec] = {}
    triggers: list[KafkaTrigger] = []
    for logical_id, resource in resources.items():
        if resource.get("Type") != SERVERLESS_FUNCTION:
            continue
        properties = resolver.resolve(resource.get("Properties") or {})
        functions[logical_id] = _function_spec(
            logical_id, properties, function_globals, api_globals, resources, resolver, Path(base_dir)
        )
        for event_id, event in (properties.get("Events") or {}).items():
            if event.get("Type") in KAFKA_EVENT_TYPES:
                triggers.append(_kafka_trigger(logical_id, event_id, event.get("Properties") or {}))
    triggers.extend(_event_source_mapping_triggers(resources, functions, resolver))
    return LocalTemplate(path, parameters, functions, tuple(triggers), global_environment)


def _parameter_values(declared: Mapping[str, Any], overrides: Mapping[str, str | int]) -> dict[str, str]:
    unknown = set(overrides) - set(declared)
    if unknown:
        raise TemplateError(f"overrides for undeclared parameters: {sorted(unknown)}")
    values = {name: scalar_text(spec["Default"]) for name, spec in declared.items() if "Default" in spec}
    values.update({name: scalar_text(value) for name, value in overrides.items()})
    return values


def _parameter_reference_value(document: Mapping[str, Any], name: str, value: str) -> str | list[str]:
    declared_type = str(document["Parameters"][name].get("Type", "String"))
    if declared_type == "CommaDelimitedList" or declared_type.startswith("List<"):
        return [item.strip() for item in value.split(",")] if value else []
    return value


def _function_spec(
    logical_id: str,
    properties: Mapping[str, Any],
    function_globals: Mapping[str, Any],
    api_globals: Mapping[str, Any],
    resources: Mapping[str, Any],
    resolver: IntrinsicResolver,
    base_dir: Path,
) -> FunctionSpec:
    merged = {**function_globals, **properties}
    code_uri = merged.get("CodeUri")
    if not isinstance(code_uri, str):
        raise TemplateError(f"{logical_id}: CodeUri must be a local directory, got {code_uri!r}")
    handler = merged.get("Handler")
    if not isinstance(handler, str) or "." not in handler:
        raise TemplateError(f"{logical_id}: Handler must look like module.function, got {handler!r}")
    global_env, global_unresolved = _environment(function_globals)
    own_env, own_unresolved = _environment(properties)
    function_name = properties.get("FunctionName")
    routes = tuple(
        _api_route(logical_id, event.get("Properties") or {}, api_globals, resources, resolver)
        for event in (properties.get("Events") or {}).values()
        if event.get("Type") == "Api"
    )
    return FunctionSpec(
        logical_id=logical_id,
        function_name=function_name if isinstance(function_name, str) else logical_id,
        code_dir=(base_dir / code_uri).resolve(),
        handler=handler,
        memory_mb=_as_int(merged.get("MemorySize", 128), f"{logical_id}.MemorySize"),
        timeout_seconds=_as_int(merged.get("Timeout", 3), f"{logical_id}.Timeout"),
        reserved_concurrency=(
            _as_int(merged["ReservedConcurrentExecutions"], f"{logical_id}.ReservedConcurrentExecutions")
            if "ReservedConcurrentExecutions" in merged
            else None
        ),
        environment={**global_env, **own_env},
        unresolved_environment=tuple(sorted((set(global_unresolved) - set(own_env)) | set(own_unresolved))),
        routes=routes,
    )


def _environment(properties: Mapping[str, Any]) -> tuple[dict[str, str], list[str]]:
    variables = ((properties.get("Environment") or {}).get("Variables")) or {}
    resolved = {name: scalar_text(value) for name, value in variables.items() if is_scalar(value)}
    return resolved, [name for name in variables if name not in resolved]


def _api_route(
    function_id: str,
    event: Mapping[str, Any],
    api_globals: Mapping[str, Any],
    resources: Mapping[str, Any],
    resolver: IntrinsicResolver,
) -> ApiRoute:
    api_auth: Mapping[str, Any] = api_globals.get("Auth") or {}
    rest_api = event.get("RestApiId")
    if isinstance(rest_api, dict) and rest_api.get("Ref") in resources:
        api_properties = resolver.resolve(resources[rest_api["Ref"]].get("Properties") or {})
        api_auth = api_properties.get("Auth") or api_auth
    auth: Mapping[str, Any] = event.get("Auth") or {}
    authorizer = auth.get("Authorizer", api_auth.get("DefaultAuthorizer"))
    api_key_required = bool(auth.get("ApiKeyRequired", api_auth.get("ApiKeyRequired", False)))
    # AWS_IAM is what the template uses; any other authorizer or an API key also means "not public".
    return ApiRoute(
        function_id=function_id,
        method=str(event.get("Method", "ANY")).upper(),
        path=str(event.get("Path", "/")),
        auth_required=authorizer not in (None, "NONE") or api_key_required,
    )


def _kafka_trigger(function_id: str, source_id: str, properties: Mapping[str, Any]) -> KafkaTrigger:
    where = f"{function_id}.{source_id}"
    topics = properties.get("Topics")
    if not isinstance(topics, list) or len(topics) != 1 or not isinstance(topics[0], str):
        raise TemplateError(f"{where}: Topics must hold one resolvable topic name, got {topics!r}")
    group = (
        properties.get("ConsumerGroupId")
        or (properties.get("AmazonManagedKafkaEventSourceConfig") or {}).get("ConsumerGroupId")
        or (properties.get("SelfManagedKafkaEventSourceConfig") or {}).get("ConsumerGroupId")
        or f"lambda-{function_id}"
    )
    source_arn = properties.get("Stream", properties.get("EventSourceArn"))
    return KafkaTrigger(
        function_id=function_id,
        source_id=source_id,
        topic=topics[0],
        batch_size=_as_int(properties.get("BatchSize", DEFAULT_KAFKA_BATCH_SIZE), f"{where}.BatchSize"),
        batching_window_seconds=_as_seconds(
            properties.get("MaximumBatchingWindowInSeconds", DEFAULT_KAFKA_BATCHING_WINDOW_SECONDS),
            f"{where}.MaximumBatchingWindowInSeconds",
        ),
        consumer_group_id=scalar_text(group),
        maximum_retry_attempts=_as_int(
            properties.get("MaximumRetryAttempts", INFINITE_RETRIES), f"{where}.MaximumRetryAttempts"
        ),
        function_response_types=tuple(str(kind) for kind in properties.get("FunctionResponseTypes") or ()),
        starting_position=str(properties.get("StartingPosition", "TRIM_HORIZON")),
        event_source_arn=source_arn if isinstance(source_arn, str) and source_arn else None,
    )


def _event_source_mapping_triggers(
    resources: Mapping[str, Any], functions: Mapping[str, FunctionSpec], resolver: IntrinsicResolver
) -> list[KafkaTrigger]:
    triggers = []
    for logical_id, resource in resources.items():
        if resource.get("Type") != EVENT_SOURCE_MAPPING:
            continue
        raw = resource.get("Properties") or {}
        if "Topics" not in raw:
            continue  # SQS, Kinesis, DynamoDB streams: not ours to emulate
        function_id = _referenced_function(raw.get("FunctionName"), functions)
        if function_id is None:
            raise TemplateError(f"{logical_id}: FunctionName does not name a function of this template")
        triggers.append(_kafka_trigger(function_id, logical_id, resolver.resolve(raw)))
    return triggers


def _referenced_function(name: Any, functions: Mapping[str, FunctionSpec]) -> str | None:
    if isinstance(name, dict):
        target = name.get("Ref", name.get("Fn::GetAtt", [None])[0])
        return target if target in functions else None
    for spec in functions.values():
        if name in (spec.logical_id, spec.function_name):
            return spec.logical_id
    return None


def _as_int(value: Any, what: str) -> int:
    try:
        return int(str(value))
    except ValueError:
        raise TemplateError(f"{what} must be an integer (or a !Ref to a parameter), got {value!r}") from None


def _as_seconds(value: Any, what: str) -> float:
    try:
        return float(str(value))
    except ValueError:
        raise TemplateError(f"{what} must be a number of seconds, got {value!r}") from None
