"""Every function's environment, as rendered, is one its handler's settings class accepts at cold start."""

from __future__ import annotations

import pytest

from auxeira.runtime.settings import RuntimeSettings, SettingsError, load
from infra.cloudformation.assemble import pipeline_template
from infra.cloudformation.deployables import function_id, settings_class
from infra.cloudformation.environment import function_environment
from schemas.resources import CHECKPOINTS_TABLE, MAPPINGS, MappingSpec
from tests.unit.infra.cfn_values import resolve

TEMPLATE = pipeline_template()


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch):
    """Nothing from the developer's shell leaks into a settings class under test."""
    import os

    for name in list(os.environ):
        if name.startswith(("AUXEIRA_", "AWS_")) or name in ("REDIS_URL",):
            monkeypatch.delenv(name, raising=False)


def _deployed(monkeypatch: pytest.MonkeyPatch, spec: MappingSpec, variables: dict[str, str]) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    # What Lambda itself sets in every function: its name (what "deployed" means) and region.
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", f"auxeira-{spec.consumer}-dev")
    monkeypatch.setenv("AWS_REGION", "eu-west-2")


def _variables(spec: MappingSpec) -> dict[str, str]:
    function = TEMPLATE["Resources"][function_id(spec)]
    return resolve(function["Properties"]["Environment"]["Variables"])


@pytest.mark.parametrize("spec", MAPPINGS, ids=lambda s: s.consumer)
def test_the_rendered_environment_passes_the_cold_start_validation(monkeypatch, spec):
    # GIVEN the function's environment as CloudFormation would resolve it, in a Lambda
    _deployed(monkeypatch, spec, _variables(spec))
    # WHEN its handler's settings class is loaded, as lambda_entry does at import
    settings = load(settings_class(spec))
    # THEN it validates, and names the very resources the template creates
    assert settings.deployed and settings.environment == "dev"
    assert settings.lake == "s3://auxeira-lake-dev-123456789012-eu-west-2"
    assert settings.stream_name == resolve(TEMPLATE["Resources"]["EventsStream"]["Properties"]["Name"])
    assert settings.counters_table == resolve(TEMPLATE["Resources"]["AuxeiraCountersTable"]["Properties"]["TableName"])
    assert settings.checkpoint_table == CHECKPOINTS_TABLE.physical_name("dev")


@pytest.mark.parametrize("spec", MAPPINGS, ids=lambda s: s.consumer)
def test_without_any_one_required_variable_the_same_function_fails_its_cold_start(monkeypatch, spec):
    # GIVEN each variable the settings class requires when deployed, left out in turn
    cls = settings_class(spec)
    required = {f"AUXEIRA_{f.upper()}" for f in cls.required_when_deployed}
    assert required <= set(_variables(spec)), "the rendered environment lacks a required variable"
    for missing in sorted(required):
        with monkeypatch.context() as m:
            _deployed(m, spec, {k: v for k, v in _variables(spec).items() if k != missing})
            # WHEN the class is loaded THEN it refuses, naming the variable
            with pytest.raises(SettingsError, match=missing):
                load(cls)


def test_the_cache_gets_a_tls_url_and_its_token_and_search_a_signed_opensearch_endpoint(monkeypatch):
    cache, search = (next(s for s in MAPPINGS if s.consumer == c) for c in ("cache", "search"))
    _deployed(monkeypatch, cache, _variables(cache))
    settings = load(settings_class(cache))
    assert settings.redis_url == "rediss://master.auxeira-dev.abcdef.euw2.cache.amazonaws.com:6379"
    assert settings.redis_auth_token.get_secret_value() == "sample-secret-value"
    raw = TEMPLATE["Resources"][function_id(cache)]["Properties"]["Environment"]["Variables"]
    assert (
        "{{resolve:secretsmanager:${CacheAuthSecret}:SecretString:token}}" in raw["AUXEIRA_REDIS_AUTH_TOKEN"]["Fn::Sub"]
    )
    from auxeira.runtime.clients import opensearch_service

    assert opensearch_service(_variables(search)["AUXEIRA_OPENSEARCH_URL"]) == "es"


def test_a_settings_class_requiring_a_value_the_stack_cannot_supply_cannot_be_rendered():
    # GIVEN a deployable whose settings require a variable no resource of the stack provides
    class NeedsAPigeon(RuntimeSettings):
        required_when_deployed = ("env", "lake_root", "pigeon_url")
        pigeon_url: str | None = None

    # WHEN its environment is rendered THEN rendering refuses, naming the field
    with pytest.raises(ValueError, match="pigeon_url"):
        function_environment(NeedsAPigeon)
