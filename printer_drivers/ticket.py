"""Draw a queue ticket as a 1-bit raster image with Pillow, in Vietnamese, at the printer's pixel width.

Text mode cannot print Vietnamese reliably on most ESC/POS printers (CP1258 needs combining tone marks
that many do not compose; TCVN-3 tables sit in different slots per model), so the ticket is an image:
it prints the same on every printer. The font is Noto Sans (full Vietnamese glyphs) from printer_drivers.fonts.
"""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import segno
from PIL import Image, ImageChops, ImageDraw, ImageFont

from .fonts import FONT_FILE
from .profiles import escpos_profile

DEFAULT_WIDTHS = {58: 384, 80: 512}


@dataclass(frozen=True)
class TicketData:
    """Everything printed on a ticket (plain values: the print agent receives this as JSON)."""

    center_name: str
    site_name: str
    number: str
    service_name: str
    counters: tuple[int, ...] = ()
    ahead: int | None = None
    estimated_wait_s: int | None = None
    wait_text: str = ""  # the range as worded by the server ("khoảng 10–20 phút": center.queue.estimate.wait_text)
    wait_note: str = ""  # e.g. "Chưa có quầy mở – thường mở lúc 13:30" (center.queue.availability.note)
    issued_at: str = ""  # ISO 8601 with offset (UTC in the database)
    timezone: str = "Asia/Ho_Chi_Minh"
    priority_name: str | None = None
    url: str = ""
    footer: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"center_name": self.center_name, "site_name": self.site_name, "number": self.number,
                "service_name": self.service_name, "counters": list(self.counters), "ahead": self.ahead,
                "estimated_wait_s": self.estimated_wait_s,
                "wait_text": self.wait_text,
                "wait_note": self.wait_note, "issued_at": self.issued_at,
                "timezone": self.timezone, "priority_name": self.priority_name, "url": self.url,
                "footer": self.footer}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TicketData:
        def text(key: str, default: str = "") -> str:
            value = data.get(key, default)
            return str(value)[:300] if value is not None else default

        counters = tuple(int(x) for x in (data.get("counters") or []) if isinstance(x, int) and not
                         isinstance(x, bool))[:30]
        ahead = data.get("ahead")
        wait = data.get("estimated_wait_s")
        wait = wait if isinstance(wait, int | float) and not isinstance(wait, bool) else None
        return cls(center_name=text("center_name"), site_name=text("site_name"), number=text("number"),
                   service_name=text("service_name"), counters=counters,
                   ahead=ahead if isinstance(ahead, int) and not isinstance(ahead, bool) else None,
                   estimated_wait_s=wait, wait_text=text("wait_text"), wait_note=text("wait_note"),
                   issued_at=text("issued_at"), timezone=text("timezone", "Asia/Ho_Chi_Minh") or "Asia/Ho_Chi_Minh",
                   priority_name=text("priority_name") or None, url=text("url"), footer=text("footer"))

    def local_time(self) -> str:
        """"09:15 – 23/11/2026" in the center's time zone."""
        try:
            moment = datetime.fromisoformat(self.issued_at)
            tz = ZoneInfo(self.timezone)
        except (ValueError, KeyError):
            return ""
        if moment.tzinfo is None:
            return moment.strftime("%H:%M – %d/%m/%Y")
        return moment.astimezone(tz).strftime("%H:%M – %d/%m/%Y")


def paper_width(paper_mm: int, profile: str | None = None) -> int:
    """Printable width in dots: the profile's media width when it matches the paper, else 384/512."""
    default = DEFAULT_WIDTHS.get(paper_mm, 512)
    if profile:
        try:
            pixels = escpos_profile(profile).profile_data.get("media", {}).get("width", {}).get("pixels")
        except Exception:  # noqa: BLE001 - unknown profile: fall back to the paper's default
            pixels = None
        if isinstance(pixels, int) and ((paper_mm == 58 and pixels <= 432) or (paper_mm == 80 and pixels >= 480)):
            return pixels
    return default


@functools.lru_cache(maxsize=64)
def font(size: int, weight: int = 400) -> ImageFont.FreeTypeFont:
    f = ImageFont.truetype(str(FONT_FILE), size)
    with contextlib.suppress(OSError, ValueError):
        f.set_variation_by_axes([weight, 100])  # axes of Noto Sans: wght, wdth
    return f


def wrap(text: str, fnt: ImageFont.FreeTypeFont, width: int) -> list[str]:
    """Break text into lines no wider than `width`; a word longer than a line is cut by characters."""
    lines: list[str] = []
    for paragraph in str(text).splitlines() or [""]:
        if fnt.getlength(paragraph) <= width:
            lines.append(paragraph.strip())
            continue
        line = ""
        for word in paragraph.split():
            candidate = f"{line} {word}" if line else word
            if fnt.getlength(candidate) <= width:
                line = candidate
                continue
            if line:
                lines.append(line)
            line = ""
            while fnt.getlength(word) > width:  # one very long word: split it
                cut = len(word)
                while cut > 1 and fnt.getlength(word[:cut]) > width:
                    cut -= 1
                lines.append(word[:cut])
                word = word[cut:]
            line = word
        lines.append(line)
    return [ln for ln in lines if ln] or [""]


@functools.lru_cache(maxsize=256)  # at most ~10 MB of blocks
def _text_block(text: str, size: int, weight: int, invert: bool, width: int, margin: int,
                inner: int) -> tuple[Image.Image, int, int]:
    """One wrapped, centred text block drawn on white with `size` dots of padding above and below.

    Returns (image, padding, height of the lines). Headers, service names, counters and footers repeat
    from ticket to ticket, so a block is laid out and drawn once and pasted after that: laying out text
    (raqm shaping for getlength and render) is most of a ticket's cost.
    """
    fnt = font(size, weight)
    ascent, descent = fnt.getmetrics()
    line_h = ascent + descent
    lines = wrap(text, fnt, inner - (size if invert else 0))
    pad = size
    img = Image.new("L", (width, pad + line_h * len(lines) + pad + 1), 255)
    draw = ImageDraw.Draw(img)
    y = pad
    for line in lines:
        if invert:
            draw.rectangle([margin, y, width - margin, y + line_h], fill=0)
        # anchor "ma": centred on x, top at the ascender line, so no extra measuring per line
        draw.text((width / 2, y), line, font=fnt, fill=255 if invert else 0, anchor="ma")
        y += line_h
    return img, pad, line_h * len(lines)


class _Canvas:
    def __init__(self, width: int):
        self.width = width
        self.margin = max(8, width // 32)
        self.inner = width - 2 * self.margin
        self.img = Image.new("L", (width, 4000), 255)
        self.draw = ImageDraw.Draw(self.img)
        self.y = self.margin

    def text(self, text: str, size: int, weight: int = 400, gap: float = 0.25, invert: bool = False) -> None:
        block, pad, height = _text_block(text, size, weight, invert, self.width, self.margin, self.inner)
        top = self.y - pad
        if top < 0:  # the padding above the first block reaches past the top edge
            block = block.crop((0, -top, block.width, block.height))
            top = 0
        box = (0, top, self.width, top + block.height)
        # Multiply: white padding leaves what is already there; ink blends exactly as drawing in place would.
        self.img.paste(ImageChops.multiply(self.img.crop(box), block), box)
        self.y += height + int(size * gap)

    def big(self, text: str, size: int) -> None:
        """The ticket number: as large as fits on one line."""
        fnt = font(size, 800)
        while size > 24 and fnt.getlength(text) > self.inner:
            size -= 8
            fnt = font(size, 800)
        left, top, right, bottom = fnt.getbbox(text)
        x = (self.width - (right - left)) / 2 - left
        self.draw.text((x, self.y - top), text, font=fnt, fill=0)
        self.y += (bottom - top) + size // 6

    def rule(self) -> None:
        self.y += 4
        self.draw.line([self.margin, self.y, self.width - self.margin, self.y], fill=0, width=2)
        self.y += 10

    def image(self, img: Image.Image) -> None:
        self.img.paste(img, ((self.width - img.width) // 2, self.y))
        self.y += img.height + 4

    def finish(self) -> Image.Image:
        self.y += self.margin
        return self.img.crop((0, 0, self.width, min(self.y, self.img.height)))


def qr_image(url: str, size: int) -> Image.Image:
    qr = segno.make(url, error="m", mask=4, boost_error=False)  # a fixed mask: valid, and skips scoring 8
    border = 2
    n = len(qr.matrix) + 2 * border
    core = Image.frombytes("L", (n - 2 * border, n - 2 * border),
                           b"".join(bytes(row) for row in qr.matrix)).point(lambda v: 0 if v else 255)
    img = Image.new("L", (n, n), 255)
    img.paste(core, (border, border))
    scale = max(2, size // n)
    return img.resize((n * scale, n * scale), Image.Resampling.NEAREST)


def waiting_line(data: TicketData) -> str:
    """People ahead, a service with no counter open, and the estimated wait as a range, one per line: on
    an 80 mm ticket they wrapped inside each other when put together ("Chờ khoảng 6 / phút")."""
    parts = []
    if data.ahead is not None:
        parts.append(f"Trước Ông/Bà: {data.ahead} người")
    if data.wait_note:
        parts.append(data.wait_note)
    if data.wait_text:
        parts.append(f"Chờ {data.wait_text}")
    return "\n".join(parts)


def render_ticket(data: TicketData, width: int = 512) -> Image.Image:
    """The ticket as a 1-bit image exactly `width` dots wide."""
    c = _Canvas(width)
    unit = width / 512  # sizes are designed for 80 mm (512 dots) and scale down for 58 mm
    c.text(data.center_name.upper(), round(22 * unit) + 2, 700, gap=0.1)
    c.text(data.site_name, round(20 * unit) + 2, 400, gap=0.1)
    c.rule()
    c.text("SỐ THỨ TỰ", round(30 * unit) + 2, 700, gap=0.05)
    c.big(data.number, round(150 * unit))
    if data.priority_name:
        c.text(f"ƯU TIÊN – {data.priority_name}", round(24 * unit) + 2, 700, gap=0.3, invert=True)
    c.text(data.service_name, round(30 * unit) + 2, 700, gap=0.15)
    if data.counters:
        label = "Quầy" if len(data.counters) == 1 else "Các quầy"
        c.text(f"{label}: " + ", ".join(str(n) for n in data.counters), round(26 * unit) + 2, 500, gap=0.2)
    line = waiting_line(data)
    if line:
        c.text(line, round(22 * unit) + 2, 400, gap=0.2)
    if data.url:
        c.image(qr_image(data.url, round(170 * unit)))
        c.text("Quét mã để theo dõi số trên điện thoại", round(18 * unit) + 2, 400, gap=0.2)
    when = data.local_time()
    if when:
        c.text(when, round(22 * unit) + 2, 500, gap=0.2)
    if data.footer:
        c.rule()
        c.text(data.footer, round(19 * unit) + 2, 400, gap=0.1)
    return c.finish().point(lambda v: 255 if v >= 160 else 0, mode="1")


TEST_TITLE = "IN THỬ – Máy in hoạt động tốt"


def render_test_page(center_name: str, site_name: str, kiosk_name: str, when: str, width: int = 512,
                     detail: str = "") -> Image.Image:
    """A test print: says the printer works, which kiosk it belongs to and when, at the printer's width."""
    c = _Canvas(width)
    unit = width / 512
    c.text(center_name.upper(), round(22 * unit) + 2, 700, gap=0.1)
    c.text(site_name, round(20 * unit) + 2, 400, gap=0.1)
    c.rule()
    c.text(TEST_TITLE, round(34 * unit) + 2, 800, gap=0.3)
    c.text(kiosk_name, round(28 * unit) + 2, 700, gap=0.2)
    if when:
        c.text(when, round(24 * unit) + 2, 500, gap=0.2)
    if detail:
        c.text(detail, round(19 * unit) + 2, 400, gap=0.2)
    c.rule()
    c.text(f"Khổ in {width} điểm", round(19 * unit) + 2, 400, gap=0.1)
    return c.finish().point(lambda v: 255 if v >= 160 else 0, mode="1")
