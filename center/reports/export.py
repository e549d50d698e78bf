"""A report as CSV or XLSX: the same numbers as the JSON, with Vietnamese (or English) section and
column names, durations kept as seconds so a spreadsheet can compute with them."""

from __future__ import annotations

from typing import Any

from .labels import WEEKDAYS_EN, WEEKDAYS_VI

COLUMNS = [
    ("label", "Nhóm", "Group"), ("issued", "Số cấp", "Issued"), ("served", "Đã phục vụ", "Served"),
    ("no_show", "Vắng mặt", "No-show"), ("cancelled", "Hủy khi hết giờ", "Cancelled at closing"),
    ("transferred", "Đã chuyển", "Transferred"), ("left", "Rời đi", "Left"),
    ("wait_mean_s", "Chờ TB (giây)", "Wait mean (s)"), ("wait_median_s", "Chờ trung vị (giây)", "Wait median (s)"),
    ("wait_p90_s", "Chờ P90 (giây)", "Wait p90 (s)"), ("wait_max_s", "Chờ tối đa (giây)", "Wait max (s)"),
    ("service_mean_s", "Phục vụ TB (giây)", "Service mean (s)"),
    ("service_median_s", "Phục vụ trung vị (giây)", "Service median (s)"),
    ("service_p90_s", "Phục vụ P90 (giây)", "Service p90 (s)"),
    ("service_max_s", "Phục vụ tối đa (giây)", "Service max (s)"),
    ("service_level", "Mức phục vụ (tỉ lệ gọi đúng hạn)", "Service level"),
]
PROC_COLUMNS = [
    ("label", "Thủ tục", "Procedure"), ("key", "Mã", "Code"), ("n", "Số lượt", "Count"),
    ("service_mean_s", "Phục vụ TB (giây)", "Service mean (s)"),
    ("service_median_s", "Phục vụ trung vị (giây)", "Service median (s)"),
    ("service_p90_s", "Phục vụ P90 (giây)", "Service p90 (s)"),
    ("service_max_s", "Phục vụ tối đa (giây)", "Service max (s)"),
]


SAT_DIMENSIONS = {"overall": ("Tổng", "Overall"), "by_counter": ("Theo quầy", "By counter"),
                  "by_staff": ("Theo cán bộ", "By staff member"), "by_procedure": ("Theo thủ tục", "By procedure")}
# (key, Vietnamese, English) of every export section: what a manager reads in the CSV and the XLSX sheets.
SECTIONS = {"summary": ("Tổng hợp", "summary"), "rows": ("Theo nhóm", "rows"), "procedures": ("Thủ tục", "procedures"),
            "satisfaction": ("Hài lòng", "satisfaction"), "arrivals": ("Lượt đến theo giờ", "arrivals"),
            "trend": ("Theo ngày", "trend")}
SAT_COLUMNS = [("Theo", "By"), ("Nhóm", "Group"), ("Mức đánh giá", "Rating level"), ("Số lượt", "Ratings"),
               ("Tổng lượt đánh giá", "Total ratings"), ("Tỉ lệ", "Share")]
TREND_COLUMNS = [("key", "Ngày", "Day"), ("issued", "Số cấp", "Issued"), ("served", "Đã phục vụ", "Served"),
                 ("no_show", "Vắng mặt", "No-show"), ("wait_mean_s", "Chờ TB (giây)", "Wait mean (s)"),
                 ("service_level", "Mức phục vụ (tỉ lệ gọi đúng hạn)", "Service level")]


def export_tables(rep: dict[str, Any], lang: str = "vi") -> list[tuple[str, list[str], list[list[Any]]]]:
    """The report as (section name, header, rows) tables: the same numbers as the JSON, with Vietnamese (or
    English) names for sections, columns and rating levels. Durations stay numbers of seconds: a
    spreadsheet computes with them, and "26:00" in a CSV would be read as 26 hours."""
    en = lang == "en"
    i = 2 if en else 1

    def name(key: str) -> str:
        return SECTIONS[key][1 if en else 0]

    rows_cols = PROC_COLUMNS if rep["filters"]["group"] == "procedure" else COLUMNS
    tables = [
        (name("summary"), [c[i] for c in COLUMNS], [[rep["summary"].get(c[0]) for c in COLUMNS]]),
        (name("rows"), [c[i] for c in rows_cols], [[r.get(c[0]) for c in rows_cols] for r in rep["rows"]]),
        (name("procedures"), [c[i] for c in PROC_COLUMNS],
         [[r.get(c[0]) for c in PROC_COLUMNS] for r in rep["procedures"]]),
    ]
    levels = {lv["code"]: lv["name_en"] if en else lv["name"] for lv in rep.get("rating_levels", [])}
    sat_rows = []
    for dim, items in rep["satisfaction"].items():
        dim_name = SAT_DIMENSIONS.get(dim, (dim, dim))[1 if en else 0]
        for item in items:
            for level, v in item["levels"].items():
                sat_rows.append([dim_name, item["label"], levels.get(level, level), v["n"], item["total"], v["share"]])
            sat_rows.append([dim_name, item["label"], "Satisfied (total)" if en else "Hài lòng (tổng)",
                             item["satisfied"], item["total"], item["satisfied_share"]])
    tables.append((name("satisfaction"), [c[1 if en else 0] for c in SAT_COLUMNS], sat_rows))
    heat = rep["heatmap"]["counts"]
    days = WEEKDAYS_EN if en else WEEKDAYS_VI
    tables.append((name("arrivals"), ["Weekday / hour" if en else "Thứ / giờ"] + [f"{h:02d}" for h in range(24)],
                   [[days[w], *heat[w]] for w in range(7)]))
    tables.append((name("trend"), [c[i] for c in TREND_COLUMNS],
                   [[t[c[0]] for c in TREND_COLUMNS] for t in rep["trend"]]))
    if flag := rep.get("clock_flag"):  # tickets from a node whose clock was off (center/reports/clock_flag.py)
        tables.append(("Clock note" if en else "Ghi chú đồng hồ",
                       ["Tickets from a wrong clock" if en else "Số phiếu từ máy lệch đồng hồ",
                        "Largest offset (s)" if en else "Độ lệch lớn nhất (giây)",
                        "Note" if en else "Ghi chú"],
                       [[flag["tickets"], flag["max_offset_s"],
                         "waits and service times are right; hour and day may be shifted" if en else
                         "thời gian chờ và phục vụ đúng; giờ và ngày có thể bị lệch"]]))
    return tables


Tables = list[tuple[str, list[str], list[list[Any]]]]


def to_csv(rep: dict[str, Any], lang: str = "vi", heading: list[str] | None = None) -> str:
    return tables_csv(export_tables(rep, lang), heading)


def to_xlsx(rep: dict[str, Any], lang: str = "vi", heading: list[str] | None = None) -> bytes:
    return tables_xlsx(export_tables(rep, lang), heading)


def tables_csv(tables: Tables, heading: list[str] | None = None) -> str:
    """Named tables as one CSV (a `# name` line before each): the center's reports and the hub's. `heading`:
    lines before the first table (title, place, days in Vietnamese text), one cell each."""
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf)
    if heading:
        w.writerows([line] for line in heading)
        w.writerow([])
    for name, header, rows in tables:
        w.writerow([f"# {name}"])
        w.writerow(header)
        w.writerows(rows)
        w.writerow([])
    return "\ufeff" + buf.getvalue()  # BOM: Excel opens UTF-8 Vietnamese correctly


def tables_xlsx(tables: Tables, heading: list[str] | None = None) -> bytes:
    """Named tables as one workbook, a sheet each; `heading` lines above the first sheet's table."""
    import io

    from openpyxl import Workbook

    wb = Workbook()
    wb.remove(wb.active)
    for i, (name, header, rows) in enumerate(tables):
        ws = wb.create_sheet(name[:31])
        if heading and i == 0:
            for line in [*heading, ""]:
                ws.append([line])
        ws.append(header)
        for row in rows:
            ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
