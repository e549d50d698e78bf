"""Ticket rendering, ESC/POS encoding and the printer drivers against a fake network printer."""

from __future__ import annotations

import socket
import time

import pytest
import zxingcpp
from PIL import Image, ImageChops

from center.config.model import Printer
from printer_drivers.drivers import encode_image, parse_spec, parse_status, print_ticket, status
from printer_drivers.ticket import TicketData, font, paper_width, render_ticket, wrap
from tests.kiosk_support import FakePrinter, decode_raster, has_cut

TICKET = TicketData(
    center_name="Trung tâm Phục vụ hành chính công phường Hòa Bình",
    site_name="Điểm tiếp nhận số 1 – Trụ sở phường", number="A023",
    service_name="Hỗ trợ dịch vụ công trực tuyến, VNeID", counters=(2, 6), ahead=4, estimated_wait_s=660,
    issued_at="2026-11-23T02:15:00+00:00", priority_name="Người cao tuổi (từ 75 tuổi)",
    url="http://127.0.0.1:8080/t/Zx9_abcDEF123456", footer="Xin cảm ơn Ông/Bà! Vui lòng chú ý màn hình và loa gọi số.")


def ink(img: Image.Image) -> int:
    """Number of black dots."""
    return img.convert("L").histogram()[0]


def network(port: int, **kw) -> Printer:
    return Printer(driver="network", host="127.0.0.1", port=port, **kw)


@pytest.mark.parametrize(("paper", "profile", "width"), [(80, "TM-T88V", 512), (58, "POS-5890", 384),
                                                        (80, "TM-T20II", 576), (58, "TM-T88V", 384)])
def test_paper_width_follows_paper_and_profile(paper, profile, width):
    assert paper_width(paper, profile) == width
    assert render_ticket(TICKET, paper_width(paper, profile)).width == width


def test_long_names_wrap_inside_the_paper():
    long = TicketData(**{**TICKET.to_json(), "counters": (1,), "service_name": "Thủ tục " * 30 + "X" * 80})
    fnt = font(24, 700)
    for line in wrap(long.service_name, fnt, 300):
        assert fnt.getlength(line) <= 300
    img = render_ticket(long, 384)
    assert img.width == 384
    # Nothing drawn in the outer margin columns: the text stayed inside.
    margin = img.crop((0, 0, 4, img.height))
    assert ink(margin) == 0


def test_ticket_qr_code_decodes_to_the_follow_url():
    img = render_ticket(TICKET, 384)
    found = [r.text for r in zxingcpp.read_barcodes(img)]
    assert TICKET.url in found


def test_status_bytes_are_parsed_and_silence_is_unknown():
    assert parse_status(b"").answered is False and parse_status(b"").paper == "unknown"
    assert parse_status(b"\x12\x12\x12").paper == "ok"
    assert parse_status(b"\x12\x12\x1e").paper == "low"
    assert parse_status(b"\x1a\x32\x72").paper == "out"
    assert parse_status(b"\x12\x16\x12").cover_open is True


def test_printer_spec_parsing():
    p = parse_spec("network:10.0.0.5:9100,paper=58,profile=POS-5890")
    assert (p.driver, p.host, p.port, p.paper_mm, p.profile) == ("network", "10.0.0.5", 9100, 58, "POS-5890")
    assert parse_spec("usb:04b8:0202").usb_vendor == 0x04B8
    assert parse_spec("cups:thermal").queue == "thermal"
    with pytest.raises(ValueError):
        parse_spec("bluetooth:xx")


def test_fake_printer_receives_a_raster_ticket_of_profile_width_with_a_cut():
    fp = FakePrinter("ok")
    try:
        result = print_ticket(network(fp.port, paper_mm=80, profile="TM-T88V"), TICKET)
        assert result.ok and result.status == "printed"
        assert result.health.paper == "ok" and result.health.answered
        job = fp.wait_job()
        img = decode_raster(job)
        assert img.width == 512  # TM-T88V media width in pixels
        assert img.height > 300 and ink(img) > 5000  # a real drawing, not blank
        assert has_cut(job)
        # It is the ticket we drew.
        expected = render_ticket(TICKET, 512)
        assert ImageChops.difference(img.convert("L"), expected.convert("L")).getbbox() is None
        assert TICKET.url in [r.text for r in zxingcpp.read_barcodes(img)]
    finally:
        fp.close()


def test_58mm_printer_gets_384_dots():
    fp = FakePrinter("silent")
    try:
        result = print_ticket(network(fp.port, paper_mm=58, profile="POS-5890"), TICKET)
        assert result.ok
        assert result.health.answered is False and result.health.paper == "unknown"  # silence is not "OK"
        assert decode_raster(fp.wait_job()).width == 384
    finally:
        fp.close()


def test_encode_matches_python_escpos_raster():
    from escpos.printer import Dummy

    img = render_ticket(TICKET, 512)
    p = Dummy(profile="TM-T88V")
    p._raw(b"\x1b@")
    p.image(img, impl="bitImageRaster", fragment_height=1024)
    p.cut()
    assert encode_image(img, "TM-T88V") == p.output


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(("mode", "error"), [("refused", "printer_off"), ("no_accept", "printer_unreachable"),
                                             ("never_read", "printer_not_responding"), ("paper_out", "paper_out")])
def test_each_printer_fault_gives_its_outcome_within_the_deadline(mode, error):
    fp = None if mode == "refused" else FakePrinter(mode)
    port = fp.port if fp else _free_port()
    try:
        start = time.monotonic()
        result = print_ticket(network(port), TICKET, deadline_s=2.5)
        elapsed = time.monotonic() - start
        assert not result.ok and result.status == "failed"
        assert result.error == error
        assert result.message  # Vietnamese text for the kiosk
        assert elapsed < 3.0  # the feature's contract: an outcome within 3 s
    finally:
        if fp:
            fp.close()


def test_status_query_reports_paper_low_without_printing():
    fp = FakePrinter("paper_low")
    try:
        result = status(network(fp.port))
        assert result.ok and result.status == "ready" and result.health.paper == "low"
        time.sleep(0.2)
        assert fp.jobs == []
    finally:
        fp.close()


def test_file_driver_writes_the_job(tmp_path):
    out = tmp_path / "lp0"
    out.write_bytes(b"")
    result = print_ticket(Printer(driver="file", device=str(out), paper_mm=58, profile="POS-5890"), TICKET)
    assert result.ok
    job = out.read_bytes()
    assert decode_raster(job).width == 384 and has_cut(job)


def test_usb_driver_with_a_mocked_device(monkeypatch):
    """No USB printer in CI: python-escpos's Usb class is replaced by a recorder (the only mock here)."""
    sent: list[bytes] = []

    class FakeUsb:
        def __init__(self, *a, **kw):
            pass

        def open(self, raise_not_found=True):
            pass

        def _raw(self, data):
            sent.append(bytes(data))

        def _read(self):
            return b"\x12"

        def close(self):
            pass

    import escpos.printer

    monkeypatch.setattr(escpos.printer, "Usb", FakeUsb)
    result = print_ticket(Printer(driver="usb", usb_vendor=0x04B8, usb_product=0x0202), TICKET)
    assert result.ok
    assert has_cut(sent[-1]) and decode_raster(sent[-1]).width == 512


def test_cached_text_blocks_draw_the_same_dots_as_drawing_in_place():
    """render_ticket pastes cached text blocks; the dots must equal drawing each line straight on the canvas."""
    from PIL import ImageDraw

    from printer_drivers.ticket import _Canvas

    blocks = [("TRUNG TÂM PHỤC VỤ HÀNH CHÍNH CÔNG PHƯỜNG HÒA BÌNH", 24, 700, 0.1, False),
              ("ƯU TIÊN – Người cao tuổi (từ 75 tuổi) ỐỂỸ gjpqy", 26, 700, 0.3, True),
              ("Hỗ trợ dịch vụ công trực tuyến, VNeID " * 3, 32, 700, 0.0, False),
              ("Xin cảm ơn Ông/Bà! gjpq ỐỀỂ", 21, 400, 0.1, False)]
    for width in (384, 512):
        cached = _Canvas(width)
        for text, size, weight, gap, invert in blocks:
            cached.text(text, size, weight, gap=gap, invert=invert)
        # The reference: every line drawn in place, as the ticket was drawn before blocks were cached.
        ref = _Canvas(width)
        draw = ImageDraw.Draw(ref.img)
        for text, size, weight, gap, invert in blocks:
            fnt = font(size, weight)
            line_h = sum(fnt.getmetrics())
            for line in wrap(text, fnt, ref.inner - (size if invert else 0)):
                if invert:
                    draw.rectangle([ref.margin, ref.y, width - ref.margin, ref.y + line_h], fill=0)
                draw.text((width / 2, ref.y), line, font=fnt, fill=255 if invert else 0, anchor="ma")
                ref.y += line_h
            ref.y += int(size * gap)
        assert cached.y == ref.y
        assert ImageChops.difference(cached.img, ref.img).getbbox() is None
