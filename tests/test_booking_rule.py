"""Issue 25: one rule for booking codes and phone numbers (center/contract/booking.py), so the per-person cap counts
a citizen once across the hub's page and the center's desk. Before, the center kept 9–11 digits without asking for
the leading 0 and hashed with its own secret, the hub asked for ^0\\d{8,10}$ and hashed with its pepper: the same
citizen was two people."""

from __future__ import annotations

import pytest

from center.contract import booking as rule
from center.errors import Invalid, NotFound
from center.hub import booking as hub_booking
from center.queue import bookings as center_bookings

SAME_CITIZEN = ["0912 345 678", "0912345678", "+84 912 345 678", "+84912345678", "84912345678", "0912.345.678",
                "0912-345-678", "(+84) 912 345 678", "912345678", "0084 912 345 678", " 0912 345 678 "]


@pytest.mark.parametrize("spelling", SAME_CITIZEN)
def test_every_spelling_of_one_number_is_one_number_at_the_center_and_the_hub(spelling):
    assert center_bookings.normal_phone(spelling) == hub_booking.normal_phone(spelling) == "0912345678"


@pytest.mark.parametrize("spelling", SAME_CITIZEN)
def test_every_spelling_hashes_alike_with_the_provinces_key(spelling):
    key = b"province-key"
    assert center_bookings.phone_hash(key, spelling) == hub_booking.phone_hash(key, "0912345678")


@pytest.mark.parametrize("bad", ["", "12345", "09123456789012", "abc", "0912 345 67x", "+1 202 555 0100",
                                 "091234567"])
def test_what_is_no_vietnamese_number_is_refused_alike(bad):
    for side in (center_bookings, hub_booking):
        with pytest.raises(Invalid) as e:
            side.normal_phone(bad)
        assert e.value.code == "bad_phone"


def test_a_landline_keeps_its_eleven_digits():
    assert rule.normal_phone("024 3825 3536") == "02438253536"


@pytest.mark.parametrize("typed", ["ab2c3d", "AB2-C3D", "ab 2c 3d", "https://hub.example/dat-lich/tra-cuu?ma=AB2C3D",
                                   "AB2.C3D"])
def test_a_code_as_typed_read_or_scanned_is_one_code_everywhere(typed):
    assert center_bookings.normal_code(typed) == rule.normal_code(typed) == "AB2C3D"
    assert hub_booking.clean_code(typed) == "AB2C3D"


def test_codes_use_one_alphabet_and_refuse_what_cannot_be_one():
    assert center_bookings.ALPHABET == hub_booking.ALPHABET == rule.ALPHABET
    assert all(c in rule.ALPHABET for c in rule.new_code()) and len(rule.new_code()) == rule.CODE_LEN
    for bad in ("AB0C1D", "ABC", "ABCDEFG"):
        with pytest.raises(NotFound):
            rule.normal_code(bad)


def test_the_center_hashes_with_the_provinces_key_once_it_has_it(tmp_path):
    """A center joined to the hub keeps the hub's key beside its database (the push answer brings it); before
    that, a key of its own that is not its session secret (which never leaves the machine)."""
    from center.storage.secret import booking_key, installation_secret, keep_booking_key

    db = tmp_path / "center.sqlite3"
    own = booking_key(db)
    assert own and own != installation_secret(str(db))
    assert keep_booking_key(db, "the-province-key") and booking_key(db) == "the-province-key"
    assert not keep_booking_key(db, "the-province-key")
    assert rule.key_id("the-province-key") != rule.key_id(own)
