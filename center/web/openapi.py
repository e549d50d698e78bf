"""The OpenAPI 3 description of /api, served at /api/openapi.json. A test checks it against the routes."""

from __future__ import annotations

from typing import Any

ERROR = {"$ref": "#/components/schemas/Error"}
TICKET = {"$ref": "#/components/schemas/Ticket"}
BOOKING = {"$ref": "#/components/schemas/Booking"}
BOOKING_CODE = {"name": "code", "in": "path", "required": True, "schema": {"type": "string"},
                "description": "6 characters of ABCDEFGHJKMNPQRSTUVWXYZ23456789 (case and dashes ignored)"}
WAIT_RANGE_SCHEMA = {"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 2, "nullable": True,
                     "description": "the printed wait range [low, high] in seconds, multiples of 300, calibrated "
                                    "to hold 70 % of waits (center.queue.estimate.wait_range)"}


def _err(*codes: int) -> dict[str, Any]:
    text = {400: "Malformed request: not a JSON object, not UTF-8, a lone surrogate, nested deeper than 16",
            401: "No or invalid credentials", 403: "Role not allowed",
            404: "Unknown id", 405: "Method not allowed (the Allow header lists the methods)",
            409: "Conflicts with the current state", 413: "Body too large (64 KB)",
            422: "Invalid values (the `field` names which one; text fields say their `limit`)",
            429: "A kiosk issues too fast (Retry-After says when to try again)",
            503: "Database busy or unavailable"}
    return {str(c): {"description": text[c], "content": {"application/json": {"schema": ERROR}}} for c in codes}


def _ok(schema: dict[str, Any], description: str = "OK", status: int = 200) -> dict[str, Any]:
    return {str(status): {"description": description, "content": {"application/json": {"schema": schema}}}}


def _body(properties: dict[str, Any], required: list[str] | None = None,
          any_of: list[str] | None = None) -> dict[str, Any]:
    """A JSON object body; `any_of`: at least one of these fields is needed."""
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    if any_of:
        schema["anyOf"] = [{"required": [name]} for name in any_of]
    return {"required": bool(required or any_of), "content": {"application/json": {"schema": schema}}}


# What the server takes (center/web/request.py): codes and ids 1–64 characters, free text at most 500 characters.
CODE = {"type": "string", "minLength": 1, "maxLength": 64}
TEXT = {"type": "string", "maxLength": 500, "pattern": "^[^\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f]*$",
        "description": "free text: trimmed, no control characters but line breaks and tabs, at most 500 characters"}


COUNTER_PARAM = {"name": "counter_id", "in": "path", "required": True, "schema": {"type": "string"}}
EXPECT = {"ticket": {"type": "integer", "description": "id of the ticket the caller believes is current"}}
SITE_QUERY = {"name": "site", "in": "query", "required": True, "schema": CODE}
MOMENT = {"type": "string", "anyOf": [{"format": "date-time"}, {"format": "date"}]}
SECURED = [{"bearer": []}, {"cookie": []}]


def _counter_action(summary: str, body: dict[str, Any] | None = None, ok: dict[str, Any] | None = None,
                    extra: tuple[int, ...] = ()) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary, "security": SECURED, "parameters": [COUNTER_PARAM],
        "responses": {**(ok or _ok(TICKET)), **_err(400, 401, 403, 404, 409, 422, *extra)},
    }
    op["requestBody"] = body or _body(EXPECT)
    return {"post": op}


def document() -> dict[str, Any]:
    counter_obj = {"$ref": "#/components/schemas/Counter"}
    return {
        "openapi": "3.0.3",
        "info": {"title": "xephang API", "version": "1.0",
                 "description": "Queue and counter management for a Public Administration Service Center. "
                                "Errors are JSON {error, message (Vietnamese), message_en}."},
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "cookie": {"type": "apiKey", "in": "cookie", "name": "xephang_session"},
            },
            "schemas": {
                "Error": {"type": "object", "required": ["error", "message"], "properties": {
                    "error": {"type": "string"}, "message": {"type": "string"}, "message_en": {"type": "string"}}},
                "CounterBrief": {"type": "object", "nullable": True, "properties": {
                    "id": {"type": "string"}, "number": {"type": "integer"}, "name": {"type": "string"}}},
                "Ticket": {"type": "object", "required": ["id", "number", "service", "status", "issued_at"],
                           "properties": {
                               "id": {"type": "integer"}, "number": {"type": "string"},
                               "site": {"type": "string"}, "service": {"type": "string"},
                               "service_name": {"type": "string"},
                               "priority": {"type": "string", "nullable": True},
                               "status": {"type": "string", "enum": ["waiting", "called", "serving", "served",
                                                                    "no_show", "transferred", "cancelled",
                                                                    "left"]},
                               "issued_at": {"type": "string", "format": "date-time"},
                               "called_at": {"type": "string", "nullable": True},
                               "call_count": {"type": "integer"},
                               "counter": {"$ref": "#/components/schemas/CounterBrief"},
                               "ahead": {"type": "integer", "nullable": True},
                               "estimated_wait_s": {"type": "integer", "nullable": True},
                               "estimated_wait_range_s": WAIT_RANGE_SCHEMA,
                               "public_id": {"type": "string"}, "public_url": {"type": "string"},
                               "procedures": {"type": "array", "items": {"type": "object", "properties": {
                                   "code": {"type": "string"}, "seconds": {"type": "number"}}}},
                               # the public view of a waiting ticket: why there is no estimate (no counter open)
                               "counter_note": {"type": "string"}, "counter_note_en": {"type": "string"},
                           }},
                "Booking": {"type": "object", "required": ["code", "site", "service", "slot_at", "status"],
                            "properties": {
                                "code": {"type": "string"}, "site": {"type": "string"},
                                "service": {"type": "string"}, "service_day": {"type": "string"},
                                "slot_at": {"type": "string", "format": "date-time"},
                                "slot_min": {"type": "integer"},
                                "origin": {"type": "string", "enum": ["hub", "desk", "api"]},
                                "status": {"type": "string", "enum": ["booked", "cancelled", "checked_in",
                                                                     "no_show"]},
                                "late": {"type": "boolean"}, "name": {"type": "string", "nullable": True},
                                "ticket_id": {"type": "integer", "nullable": True},
                                "ticket": {"type": "object", "nullable": True}}},
                "Counter": {"type": "object", "properties": {
                    "id": {"type": "string"}, "number": {"type": "integer"}, "name": {"type": "string"},
                    "status": {"type": "string", "enum": ["closed", "open", "paused"]},
                    "services": {"type": "array", "items": {"type": "string"}},
                    "ticket": {"allOf": [TICKET], "nullable": True}}},
                "Queue": {"type": "object", "properties": {
                    "site": {"type": "string"}, "service_day": {"type": "string"},
                    "services": {"type": "array", "items": {"type": "object", "properties": {
                        "code": {"type": "string"}, "waiting": {"type": "integer"},
                        "longest_wait_s": {"type": "integer", "nullable": True},
                        "estimated_wait_s": {"type": "integer", "nullable": True},
                        "estimated_wait_range_s": WAIT_RANGE_SCHEMA,
                        "counters_open": {"type": "integer"},
                        "counter_state": {"type": "string", "enum": ["open", "paused", "closed"]},
                        "opens_today": {"type": "boolean", "nullable": True},
                        "usual_open_at": {"type": "string", "format": "date-time", "nullable": True},
                        "counter_note": {"type": "string"}, "counter_note_en": {"type": "string"}}}},
                    "counters": {"type": "array", "items": counter_obj}}},
            },
        },
        "paths": {
            "/api/health": {"get": {"summary": "Liveness and schema version", "responses": _ok({"type": "object"})}},
            "/api/openapi.json": {"get": {"summary": "This document", "responses": _ok({"type": "object"})}},
            "/api/sites": {"get": {"summary": "Sites with their services, procedures and counters",
                                   "responses": _ok({"type": "object"})}},
            "/api/services": {"get": {"summary": "Services offered at a site", "parameters": [SITE_QUERY],
                                      "responses": {**_ok({"type": "object"}), **_err(404, 422)}}},
            "/api/queue": {"get": {"summary": "Waiting per service and what each counter is doing",
                                   "parameters": [SITE_QUERY],
                                   "responses": {**_ok({"$ref": "#/components/schemas/Queue"}), **_err(404, 422)}}},
            "/api/tickets": {"post": {
                "summary": "Issue a ticket (kiosk devices at their own site; staff at the reception desk)",
                "security": SECURED,
                "description": "The ticket's source is the caller (a kiosk device: kiosk; a person: api), never "
                               "the body: a body naming another `source` or `kiosk` is refused (422). A kiosk "
                               "device issues at most 5 at once, then one every 2 s, on every route and every "
                               "server process (429 with Retry-After). A `request_id` sent again within 10 "
                               "minutes returns the ticket it made (`repeated`: true) instead of a second one.",
                "requestBody": _body({"site": CODE, "service": CODE,
                                      "priority": {**CODE, "nullable": True, "description": "priority group code"},
                                      "request_id": {**CODE, "description": "the same id on a retry returns the "
                                                                            "same ticket"}},
                                     ["site", "service"]),
                "responses": {**_ok(TICKET, "Issued", 201), **_err(400, 401, 403, 404, 409, 413, 422, 429, 503)}}},
            "/api/tickets/{ticket_id}": {"get": {
                "summary": "One ticket with its history", "security": SECURED,
                "parameters": [{"name": "ticket_id", "in": "path", "required": True, "schema": {"type": "integer"}}],
                "responses": {**_ok(TICKET), **_err(401, 403, 404)}}},
            "/api/tickets/{ticket_id}/left": {"post": {
                "summary": "Mark a waiting ticket as left before being called", "security": SECURED,
                "parameters": [{"name": "ticket_id", "in": "path", "required": True, "schema": {"type": "integer"}}],
                "requestBody": _body({"note": TEXT}),
                "responses": {**_ok(TICKET), **_err(400, 401, 403, 404, 409, 422)}}},
            "/api/public/tickets/{public_id}": {"get": {
                "summary": "A ticket by its unguessable public id (the QR code link)",
                "parameters": [{"name": "public_id", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {**_ok(TICKET), **_err(404)}}},
            "/api/counters/{counter_id}": {"get": {
                "summary": "A counter's state", "security": SECURED, "parameters": [COUNTER_PARAM],
                "responses": {**_ok(counter_obj), **_err(401, 403, 404)}}},
            "/api/counters/{counter_id}/take": _counter_action(
                "Sit down at a counter (refused if another staff member holds it)",
                _body({}), _ok(counter_obj)),
            "/api/counters/{counter_id}/release": _counter_action(
                "Close the counter; `force` (admin, manager) also when another holds it or a citizen is at it: "
                "`citizen` goes back to their place in the queue (requeue, the default) or ends as no_show",
                _body({"force": {"type": "boolean"}, "citizen": {"type": "string", "enum": ["requeue", "no_show"]}}),
                _ok(counter_obj)),
            "/api/counters/{counter_id}/call-next": _counter_action(
                "Call the next ticket for this counter", _body({}),
                {**_ok(TICKET), "204": {"description": "Nobody is waiting for this counter"}}),
            "/api/counters/{counter_id}/call": _counter_action(
                "Call one chosen ticket (by id or printed number), also a no-show who came back",
                _body({"ticket": {"type": "integer"}, "number": CODE}, any_of=["ticket", "number"])),
            "/api/counters/{counter_id}/recall": _counter_action("Call the current ticket again"),
            "/api/counters/{counter_id}/no-show": _counter_action(
                "The called citizen did not come (`confirmed`: the clerk confirmed one within no_show_confirm_s of "
                "the call; kept in the audit log)",
                _body({**EXPECT, "confirmed": {"type": "boolean"}})),
            "/api/counters/{counter_id}/start": _counter_action("The citizen is at the desk: service starts"),
            "/api/counters/{counter_id}/procedure": _counter_action(
                "Mark one procedure done now (it gets its own service time)",
                _body({**EXPECT, "procedure": CODE}, ["procedure"])),
            "/api/counters/{counter_id}/finish": _counter_action(
                "Finish the visit with the procedures done",
                _body({**EXPECT, "procedures": {"type": "array", "minItems": 1, "items": {
                    "oneOf": [CODE, {"type": "object", "required": ["code"], "properties": {
                        "code": CODE, "seconds": {"type": "number", "minimum": 0}}}]}}},
                      ["procedures"])),
            "/api/counters/{counter_id}/transfer": _counter_action(
                "Send the citizen to another service or counter, keeping the number",
                _body({**EXPECT, "service": CODE, "counter": CODE, "keep_place": {"type": "boolean"}, "note": TEXT},
                      any_of=["service", "counter"])),
            "/api/counters/{counter_id}/pause": _counter_action(
                "Pause the counter with a reason",
                _body({"reason": {"type": "string", "enum": ["break", "meeting", "kiosk_help", "paperwork",
                                                             "other"]},
                       "note": TEXT}), _ok(counter_obj)),
            "/api/counters/{counter_id}/resume": _counter_action("Resume a paused counter", _body({}),
                                                                 _ok(counter_obj)),
            "/api/audit": {"get": {
                "summary": "Audit log: staff actions on tickets and counters, sign-ins and admin actions",
                "security": SECURED,
                "parameters": [
                    {"name": "site", "in": "query", "schema": CODE},
                    {"name": "staff", "in": "query", "schema": {"type": "string"}},
                    {"name": "since", "in": "query", "schema": MOMENT,
                     "description": "RFC 3339 date-time, or a date (its start in the center's time zone)"},
                    {"name": "until", "in": "query", "schema": MOMENT},
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1,
                                                               "maximum": 2000}}],
                "responses": {**_ok({"type": "object"}), **_err(401, 403, 404, 422)}}},
            "/api/sync/status": {"get": {
                "summary": "At a node: its link to the center, its clock against the center's, its configuration's "
                           "age, and the banners staff screens show (at a center: node null, no banners)",
                "security": SECURED,
                "responses": {**_ok({"type": "object"}), **_err(401, 403)}}},
            "/api/bookings/slots": {"get": {
                "summary": "A day's booking slots of a service: capacity (counters serving it × slot ÷ measured "
                           "handling time × the share open to bookings, or set by hand; fewer, none from twice "
                           "[booking] busy_wait_min, where walk-ins usually wait past busy_wait_min at that time "
                           "of day over busy_days), places taken, and walkin_wait_min (that measured wait, null "
                           "without evidence). The province hub offers the same places (the center's booking plan)",
                "security": SECURED,
                "parameters": [SITE_QUERY, {"name": "service", "in": "query", "required": True, "schema": CODE},
                               {"name": "day", "in": "query", "required": True,
                                "schema": {"type": "string", "format": "date"}}],
                "responses": {**_ok({"type": "object"}), **_err(401, 403, 404, 422)}}},
            "/api/bookings": {"post": {
                "summary": "Book a slot for a citizen (the desk, or the province's other systems)",
                "security": SECURED,
                "description": "`slot_at` is the start of a slot of `GET /api/bookings/slots`. Refused: a past "
                               "or closed slot (422 slot_past, slot_closed, too_far_ahead), a full one (409 "
                               "slot_full), more than the per-person cap per day for the phone (409 "
                               "per_person_cap), bookings not enabled (409 booking_disabled). The phone is "
                               "kept only as a keyed hash; name and hash are erased 7 days after the slot.",
                "requestBody": _body({"site": CODE, "service": CODE,
                                      "slot_at": {"type": "string", "format": "date-time"},
                                      "name": {**TEXT, "maxLength": 100, "nullable": True},
                                      "phone": {**CODE, "nullable": True,
                                                "description": "9–11 digits (+84 allowed); 422 bad_phone"}},
                                     ["site", "service", "slot_at"]),
                "responses": {**_ok(BOOKING, "Booked", 201), **_err(400, 401, 403, 404, 409, 413, 422, 503)}}},
            "/api/bookings/{code}": {"get": {
                "summary": "A booking by its code (with its ticket once checked in)", "security": SECURED,
                "parameters": [BOOKING_CODE],
                "responses": {**_ok(BOOKING), **_err(401, 403, 404)}}},
            "/api/bookings/{code}/cancel": {"post": {
                "summary": "Cancel a booking not used yet (409 wrong_status otherwise)", "security": SECURED,
                "parameters": [BOOKING_CODE], "requestBody": _body({}),
                "responses": {**_ok(BOOKING), **_err(400, 401, 403, 404, 409)}}},
            "/api/bookings/{code}/check-in": {"post": {
                "summary": "The citizen arrived: a ticket called as if they had come at their slot (from up to "
                           "`early_min` before it: 409 too_early before that), or after the grace an ordinary "
                           "walk-in ticket (`booking.late`). A kiosk device only at its own site",
                "security": SECURED, "parameters": [BOOKING_CODE], "requestBody": _body({}),
                "responses": {**_ok(TICKET, "Checked in", 201), **_err(400, 401, 403, 404, 409, 429)}}},
            "/api/sites/{site}/close-day": {"post": {
                "summary": "Close the service day: waiting tickets end as cancelled (not served – closed)",
                "security": SECURED,
                "parameters": [{"name": "site", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {**_ok({"type": "object"}), **_err(400, 401, 403, 404)}}},
        },
    }
