"""The booking API's OpenAPI document (/hub/api/openapi.json): what the province's other systems build against."""

from __future__ import annotations

from typing import Any

_ERROR = {"type": "object", "required": ["error", "message", "message_en"],
          "properties": {"error": {"type": "string", "example": "slot_full"},
                         "message": {"type": "string", "description": "Vietnamese"},
                         "message_en": {"type": "string"}}}
_BOOKING = {"type": "object", "properties": {
    "code": {"type": "string", "pattern": "^[ABCDEFGHJKMNPQRSTUVWXYZ2-9]{6}$"},
    "center": {"type": "string"}, "center_name": {"type": "string"}, "site": {"type": "string"},
    "site_name": {"type": "string"}, "service": {"type": "string"}, "service_name": {"type": "string"},
    "service_day": {"type": "string", "format": "date"}, "slot_at": {"type": "string", "format": "date-time"},
    "time": {"type": "string", "example": "08:30"}, "slot_min": {"type": "integer"},
    "name": {"type": "string", "nullable": True},
    "status": {"type": "string", "enum": ["booked", "cancelled", "checked_in", "no_show"]},
    "late": {"type": "boolean", "nullable": True}, "created_at": {"type": "string", "format": "date-time"},
    "cancelled_at": {"type": "string", "format": "date-time", "nullable": True},
    "checked_in_at": {"type": "string", "format": "date-time", "nullable": True}}}


def _errors(*codes: int) -> dict[str, Any]:
    text = {400: "Bad request", 401: "No or unknown system token", 404: "No such booking or place",
            409: "Conflict: slot_full, per_person_cap, already_cancelled, booking_used", 422: "Invalid values",
            429: "Too many requests from this address"}
    return {str(c): {"description": text[c], "content": {"application/json": {"schema": {
        "$ref": "#/components/schemas/Error"}}}} for c in codes}


def _ok(description: str, schema: dict[str, Any], status: str = "200") -> dict[str, Any]:
    return {status: {"description": description, "content": {"application/json": {"schema": schema}}}}


def document(server: str) -> dict[str, Any]:
    code = {"name": "code", "in": "path", "required": True, "schema": {"type": "string"}}
    ref = {"$ref": "#/components/schemas/Booking"}
    return {
        "openapi": "3.0.3",
        "info": {"title": "xephang hub: bookings", "version": "1",
                 "description": "Book, look up and cancel a citizen's appointment at a commune/ward service "
                                "center. Tokens: `xephang hub api-token NAME`. Errors: {error, message (Vietnamese), "
                                "message_en}."},
        "servers": [{"url": server}],
        "security": [{"system": []}],
        "paths": {
            "/hub/api/booking-slots": {"get": {
                "summary": "Places left per time slot", "parameters": [
                    {"name": n, "in": "query", "required": True, "schema": {"type": "string"}}
                    for n in ("center", "site", "service", "day")],
                "responses": {**_ok("The day's slots still ahead", {"type": "object", "properties": {"slots": {
                    "type": "array", "items": {"type": "object", "properties": {
                        "slot_at": {"type": "string", "format": "date-time"}, "time": {"type": "string"},
                        "capacity": {"type": "integer"}, "left": {"type": "integer"}}}}}}),
                    **_errors(401, 404, 422, 429)}}},
            "/hub/api/bookings": {"post": {
                "summary": "Book a slot", "requestBody": {"required": True, "content": {"application/json": {
                    "schema": {"type": "object", "required": ["center", "service", "slot_at"], "properties": {
                        "center": {"type": "string"},
                        "site": {"type": "string", "description": "required when the center has several sites"},
                        "service": {"type": "string"}, "slot_at": {"type": "string", "format": "date-time"},
                        "name": {"type": "string", "maxLength": 100},
                        "phone": {"type": "string", "description": "kept only as a keyed hash; counts against "
                                                                   "the per-person cap"}}}}}},
                "responses": {**_ok("Booked", ref, "201"), **_errors(401, 404, 409, 422, 429)}}},
            "/hub/api/bookings/{code}": {"get": {
                "summary": "Look up a booking (its state at the center once synced)", "parameters": [code],
                "responses": {**_ok("The booking", ref), **_errors(401, 404, 429)}}},
            "/hub/api/bookings/{code}/cancel": {"post": {
                "summary": "Cancel a booking made at the hub", "parameters": [code],
                "responses": {**_ok("Cancelled", ref), **_errors(401, 404, 409, 429)}}},
        },
        "components": {"securitySchemes": {"system": {"type": "http", "scheme": "bearer"}},
                       "schemas": {"Error": _ERROR, "Booking": _BOOKING}},
    }
