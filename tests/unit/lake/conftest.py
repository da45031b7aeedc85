"""The lake's unit tests: one local SparkSession per test session, small generated data.

The SparkSession is built lazily (only the tests that ask for ``spark`` pay its ~3 s) and
sized for a small machine: one core, two shuffle partitions, no UI.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest

from auxeira.operations.lake_dataset import LakeDataset, build_dataset
from auxeira.runtime.objects import LocalObjects
from glue_jobs.pii import Tokenizer
from producers.synthetic.config import WorkloadConfig
from tests.unit.lake.lake_data import KEY


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    from pyspark.sql import SparkSession

    from glue_jobs._runtime import configure

    session = (
        SparkSession.builder.appName("lake-unit-tests")
        .master("local[1]")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.default.parallelism", "2")
        .config("spark.driver.memory", "1g")
        .getOrCreate()
    )
    configure(session)
    yield session
    session.stop()


@pytest.fixture
def tokenizer() -> Tokenizer:
    return Tokenizer(KEY)


@pytest.fixture
def objects(tmp_path) -> LocalObjects:
    """An empty lake on local disk (absolute root, as Spark needs)."""
    return LocalObjects(tmp_path.absolute() / "lake")


@pytest.fixture(scope="session")
def dataset() -> LakeDataset:
    """The generator's small workload with the hard cases (see ``build_dataset``)."""
    config = WorkloadConfig(tenants=2, startups=4, days=14, points=4, as_of=date(2026, 3, 1), seed=11)
    return build_dataset(config, env="t", awkward=True)
