"""Pytest fixtures for a real PostgreSQL server (tests/support/postgres.py). Load as a plugin:
``pytest_plugins = ["tests.support.pg_fixtures"]`` in tests/conftest.py, or ``-p tests.support.pg_fixtures``.

* ``postgres_cluster`` (session): one server for the whole session, started the first time a test asks for
  it and stopped at the end. A machine without PostgreSQL fails these tests (never skips them); the error
  says how to install it.
* ``postgres_dsn`` (function): the DSN of a fresh, empty database of its own, dropped after the test (with
  any connection the test left open).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator

import pytest

from tests.support.postgres import PostgresCluster

_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    cluster = PostgresCluster().start()
    try:
        yield cluster
    finally:
        cluster.stop()


def database_name(test_name: str) -> str:
    """A unique database name that says which test it belongs to: ``t7_test_insert_ok``."""
    prefix = f"t{next(_numbers)}_"
    return prefix + re.sub(r"[^a-z0-9_]+", "_", test_name.lower())[: 63 - len(prefix)]


@pytest.fixture
def postgres_dsn(postgres_cluster: PostgresCluster, request: pytest.FixtureRequest) -> Iterator[str]:
    name = database_name(request.node.name)
    dsn = postgres_cluster.create_database(name)
    try:
        yield dsn
    finally:
        postgres_cluster.drop_database(name)
