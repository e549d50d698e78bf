"""Property-based tests of the whole API from its own OpenAPI document (schemathesis + hypothesis).

Whatever the generated input, the server never answers 5xx, never shows a traceback, and every error
has the JSON error shape. Runs against a real server process.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from center.openapi import document

from .conftest import server_with_accounts

schema = schemathesis.openapi.from_dict(document())


@pytest.fixture(scope="module")
def api_server(tmp_path_factory, accounts_template):
    server = server_with_accounts(tmp_path_factory.mktemp("props"), accounts_template)
    yield server
    server.stop()


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_error_and_errors_are_json(case, api_server):
    # Half of the operations run as staff: the rest see the unauthenticated paths.
    headers = api_server.headers("staff1") if hash(case.path) % 2 == 0 else {}
    response = case.call(base_url=api_server.url, headers=headers, timeout=15)
    assert response.status_code < 500, f"{case.method} {case.formatted_path} -> {response.status_code}"
    assert "Traceback" not in response.text
    if response.status_code >= 400:
        body = response.json()
        assert isinstance(body.get("error"), str) and isinstance(body.get("message"), str)
