"""Planning a pipeline's DAG: dependencies, defaults and every way it can be refused."""

import msgspec
import pytest

from controlplane.engine.jobpath.pipelines import plan_stages
from controlplane.errors import InvalidRequest
from controlplane.schemas import StageSpec


def stages(*specs: dict) -> list[StageSpec]:
    return [msgspec.convert({"handler": "h", **spec}, StageSpec) for spec in specs]


def test_a_stage_without_depends_on_follows_the_one_before() -> None:
    planned = plan_stages(stages({"name": "a"}, {"name": "b"}, {"name": "c"}), 1000)
    assert [p.depends_on for p in planned] == [[], ["a"], ["b"]]


def test_an_empty_depends_on_makes_a_root() -> None:
    planned = plan_stages(stages({"name": "a"}, {"name": "b", "dependsOn": []}), 1000)
    assert [p.depends_on for p in planned] == [[], []]


def test_fan_out_and_fan_in() -> None:
    planned = plan_stages(
        stages(
            {"name": "split"},
            {"name": "left", "dependsOn": ["split"]},
            {"name": "right", "dependsOn": ["split"]},
            {"name": "join", "dependsOn": ["left", "right"]},
        ),
        1000,
    )
    assert [p.depends_on for p in planned] == [[], ["split"], ["split"], ["left", "right"]]


def test_a_dependency_may_be_named_before_its_stage_is() -> None:
    planned = plan_stages(
        stages({"name": "late", "dependsOn": ["early"]}, {"name": "early", "dependsOn": []}), 1000
    )
    assert planned[0].depends_on == ["early"]


@pytest.mark.parametrize(
    ("specs", "code"),
    [
        (({"name": "a"}, {"name": "a"}), "duplicate_stage_name"),
        (({"name": "a", "dependsOn": ["ghost"]},), "unknown_dependency"),
        (({"name": "a", "dependsOn": ["a"]},), "dependency_cycle"),
        (
            (
                {"name": "a", "dependsOn": ["c"]},
                {"name": "b", "dependsOn": ["a"]},
                {"name": "c", "dependsOn": ["b"]},
            ),
            "dependency_cycle",
        ),
        (({"name": "a", "input": "x" * 2000},), "input_too_large"),
    ],
)
def test_invalid_dags_are_refused_with_a_code(specs: tuple[dict, ...], code: str) -> None:
    with pytest.raises(InvalidRequest) as raised:
        plan_stages(stages(*specs), 1000)
    assert raised.value.code == code
