"""Load CloudFormation YAML (short tags included) and resolve the intrinsics a local run can know.

`!Ref` of a parameter or pseudo parameter, `!Sub`, `!Join`, `!If` on conditions built from those
resolve; everything else (`!GetAtt`, a `!Ref` to a resource...) stays an opaque intrinsic dict.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import yaml

_NO_VALUE = object()  # AWS::NoValue: the property is removed
_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")


class _Unresolvable(Exception):
    pass


class CloudFormationLoader(yaml.SafeLoader):
    """SafeLoader that turns `!Ref x` into `{"Ref": "x"}`, `!Sub s` into `{"Fn::Sub": s}` and so on."""


def _construct_short_tag(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    key = tag_suffix if tag_suffix in ("Ref", "Condition") else f"Fn::{tag_suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if tag_suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        assert isinstance(node, yaml.MappingNode)
        value = loader.construct_mapping(node, deep=True)
    return {key: value}


CloudFormationLoader.add_multi_constructor("!", _construct_short_tag)


def load_cloudformation_yaml(text: str) -> dict[str, Any]:
    document = yaml.load(text, Loader=CloudFormationLoader)  # a SafeLoader subclass
    if not isinstance(document, dict):
        raise ValueError("a template must be a YAML mapping")
    return document


def is_intrinsic(value: Any) -> bool:
    if not isinstance(value, dict) or len(value) != 1:
        return False
    key = str(next(iter(value)))
    return key in ("Ref", "Condition") or key.startswith("Fn::")


class IntrinsicResolver:
    """Resolves intrinsics against parameter values, pseudo parameters and the template's Conditions."""

    def __init__(
        self,
        parameters: Mapping[str, Any],
        conditions: Mapping[str, Any],
        *,
        region: str,
        stack_name: str,
        account_id: str = "123456789012",
    ) -> None:
        self._values: dict[str, Any] = {
            "AWS::Region": region,
            "AWS::StackName": stack_name,
            "AWS::AccountId": account_id,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            **parameters,
        }
        self._conditions = conditions
        self._condition_cache: dict[str, bool] = {}

    def resolve(self, value: Any) -> Any:
        """`value` with every resolvable intrinsic replaced; opaque intrinsics are returned as is."""
        resolved = self._resolve(value)
        return None if resolved is _NO_VALUE else resolved

    def _resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            items = [self._resolve(item) for item in value]
            return [item for item in items if item is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if is_intrinsic(value):
            try:
                return self._intrinsic(*next(iter(value.items())))
            except _Unresolvable:
                return value
        resolved = {key: self._resolve(item) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not _NO_VALUE}

    def _intrinsic(self, name: str, argument: Any) -> Any:
        if name == "Ref":
            if argument == "AWS::NoValue":
                return _NO_VALUE
            if argument in self._values:
                return self._values[argument]
            raise _Unresolvable
        if name == "Fn::Sub":
            return self._sub(argument)
        if name == "Fn::If":
            condition, when_true, when_false = argument
            return self._resolve(when_true if self.condition(condition) else when_false)
        if name == "Fn::Join":
            delimiter, parts = argument
            resolved_parts = self._resolve(parts)
            if not isinstance(resolved_parts, list) or not all(is_scalar(p) for p in resolved_parts):
                raise _Unresolvable
            return str(delimiter).join(scalar_text(p) for p in resolved_parts)
        raise _Unresolvable

    def _sub(self, argument: Any) -> str:
        template, variables = (argument, {}) if isinstance(argument, str) else argument
        local_values = {key: self._resolve(item) for key, item in dict(variables).items()}

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            found = local_values[name] if name in local_values else self._values.get(name, _NO_VALUE)
            if not is_scalar(found):
                raise _Unresolvable
            return scalar_text(found)

        return _SUB_VARIABLE.sub(substitute, str(template))

    def condition(self, name: str) -> bool:
        if name not in self._condition_cache:
            if name not in self._conditions:
                raise _Unresolvable
            self._condition_cache[name] = self._evaluate(self._conditions[name])
        return self._condition_cache[name]

    def _evaluate(self, expression: Any) -> bool:
        if not is_intrinsic(expression):
            raise _Unresolvable
        name, argument = next(iter(expression.items()))
        if name == "Condition":
            return self.condition(argument)
        if name == "Fn::Equals":
            left, right = (self._resolve(side) for side in argument)
            if not (is_scalar(left) and is_scalar(right)):
                raise _Unresolvable
            return scalar_text(left) == scalar_text(right)
        if name == "Fn::Not":
            return not self._evaluate(argument[0])
        if name == "Fn::And":
            return all(self._evaluate(item) for item in argument)
        if name == "Fn::Or":
            return any(self._evaluate(item) for item in argument)
        raise _Unresolvable


def is_scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool)


def scalar_text(value: Any) -> str:
    """A scalar as CloudFormation passes it on (booleans in lower case)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
