"""Settings per deployable: developer defaults only outside Lambda; a deployed function missing a
variable fails its cold start naming the variable."""

from __future__ import annotations

import importlib

import pytest

from auxeira.runtime.settings import (
    CacheSettings,
    OperatorSettings,
    RouterSettings,
    SearchSettings,
    SettingsError,
    load,
)

DEPLOYED = {"AWS_LAMBDA_FUNCTION_NAME": "auxeira-cache-prod"}


@pytest.fixture(autouse=True)
def _clean(monkeypatch):
    for name in (
        "AUXEIRA_ENV",
        "AUXEIRA_LAKE_ROOT",
        "AUXEIRA_REDIS_URL",
        "REDIS_URL",
        "AUXEIRA_OPENSEARCH_URL",
        "AWS_LAMBDA_FUNCTION_NAME",
    ):
        monkeypatch.delenv(name, raising=False)


def test_on_a_developer_machine_the_local_defaults_apply():
    settings = load(CacheSettings)
    assert (settings.env, settings.lake_root, settings.deployed) == ("local", "lake", False)
    assert settings.stream_name == "auxeira-events-local"


def test_in_lambda_nothing_defaults_and_the_error_names_every_missing_variable(monkeypatch):
    for name, value in DEPLOYED.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as raised:
        load(CacheSettings)
    message = str(raised.value)
    assert "the cache consumer" in message
    for variable in ("AUXEIRA_ENV", "AUXEIRA_LAKE_ROOT", "AUXEIRA_REDIS_URL"):
        assert f"{variable} is required in a deployed function" in message


def test_in_lambda_the_lake_must_be_s3_and_the_stores_encrypted_in_transit(monkeypatch):
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "f")
    monkeypatch.setenv("AUXEIRA_ENV", "prod")
    monkeypatch.setenv("AUXEIRA_LAKE_ROOT", "lake")
    monkeypatch.setenv("AUXEIRA_REDIS_URL", "redis://cache:6379")
    monkeypatch.setenv("AUXEIRA_OPENSEARCH_URL", "http://search:9200")
    with pytest.raises(SettingsError, match=r"AUXEIRA_LAKE_ROOT must be an s3:// URI.*rediss://"):
        load(CacheSettings)
    with pytest.raises(SettingsError, match="AUXEIRA_OPENSEARCH_URL must be an https:// URL"):
        load(SearchSettings)
    monkeypatch.setenv("AUXEIRA_LAKE_ROOT", "s3://lake-bucket/prod")
    assert load(RouterSettings).lake == "s3://lake-bucket/prod"


def test_an_environment_name_that_cannot_name_a_table_is_refused():
    with pytest.raises(SettingsError, match="AUXEIRA_ENV: 'Prod_1' is not an environment name"):
        load(OperatorSettings, env="Prod_1")


@pytest.mark.parametrize(
    "module",
    [
        "producers.handlers.router",
        "consumers.handlers.cache",
        "consumers.handlers.search",
        "consumers.handlers.counters",
    ],
)
def test_every_lambda_entry_point_validates_its_settings_at_cold_start(monkeypatch, module):
    # GIVEN a function deployed with no configuration WHEN Lambda imports its module (init phase)
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "f")
    with pytest.raises(SettingsError, match="AUXEIRA_LAKE_ROOT is required in a deployed function"):
        importlib.reload(importlib.import_module(module))
    # AND outside Lambda the same import reads nothing
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME")
    importlib.reload(importlib.import_module(module))
