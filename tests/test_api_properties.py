"""Property-based tests of the whole API from its own OpenAPI document (schemathesis + hypothesis).

Whatever the generated input and whoever calls (admin, manager, staff, a kiosk device, nobody), the server
never answers 5xx, never shows a traceback, every error has the JSON error shape, and every response fits
the document: its status is listed, its body and headers match, a request the document calls invalid is
refused, and a request it calls valid is never refused for its form. Runs against a real server process.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from center.web.openapi import document

from .conftest import server_with_accounts

schema = schemathesis.openapi.from_dict(document())
ROLES = ["admin", "manager", "staff1", "main-kiosk-1", None]
# What a schema-valid request may still be refused for: facts of the center's configuration (which service,
# priority group or procedure codes exist, which service takes priority) and of the queue (the same service
# again, another site's counter). Any other 400/422 for a valid request means the document says less than
# the server checks: the holes of issue 12 (`site: ""`, `call {}`, `transfer {}`) were of that kind.
SEMANTIC_422 = {"unknown_service", "unknown_priority", "priority_not_allowed", "unknown_procedure", "bad_procedure",
                "procedures_required", "same_service", "same_counter", "other_site", "other_day",
                # bookings: which slots exist, are open and still to come; a phone number's digits
                "slot_past", "slot_closed", "too_far_ahead", "bad_phone"}


def valid_form_is_accepted(ctx, response, case):
    """Replaces schemathesis' positive-data check: that one also counts the refusals listed above."""
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return None
    if response.status_code in (400, 413) or (
            response.status_code == 422 and response.json().get("error") not in SEMANTIC_422):
        raise AssertionError(f"a request the document calls valid was refused for its form: {response.status_code} "
                             f"{response.text[:300]}")
    return None


@pytest.fixture(scope="module")
def api_server(tmp_path_factory, accounts_template):
    server = server_with_accounts(tmp_path_factory.mktemp("props"), accounts_template)
    yield server
    server.stop()


@pytest.mark.parametrize("who", ROLES, ids=lambda w: w or "anonymous")
@schema.parametrize()
@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
def test_responses_fit_the_document_for_every_role(case, api_server, who):
    headers = api_server.headers(who) if who else {}
    response = case.call_and_validate(base_url=api_server.url, headers=headers, timeout=15,
                                      excluded_checks=[positive_data_acceptance],
                                      additional_checks=[valid_form_is_accepted])
    assert response.status_code < 500, f"{case.method} {case.formatted_path} -> {response.status_code}"
    assert "Traceback" not in response.text
    if response.status_code >= 400:
        body = response.json()
        assert isinstance(body.get("error"), str) and isinstance(body.get("message"), str)
