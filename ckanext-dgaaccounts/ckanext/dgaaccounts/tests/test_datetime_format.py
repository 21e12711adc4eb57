"""Times for people: the display zone, Buddhist-era Thai and English styles, the PDF's Bangkok
date; machine fields (API, CSV data columns) stay ISO 8601 UTC."""
from __future__ import annotations

import datetime
import subprocess

import pytest

from ckanext.dgaaccounts import pdf, timefmt

BANGKOK = pytest.mark.ckan_config("ckan.display_timezone", "Asia/Bangkok")
# 19:34 UTC on 1 Dec is 02:34 on 2 Dec in Bangkok (UTC+7).
EVENING_UTC = datetime.datetime(2026, 12, 1, 19, 34)


@BANGKOK
@pytest.mark.usefixtures("ckan_config")
class TestBangkok:
    def test_thai_is_buddhist_era_in_bangkok_time(self):
        assert timefmt.format_datetime(EVENING_UTC, "th") == "2 ธ.ค. 2569 เวลา 02:34 น."

    def test_english_names_the_zone(self):
        assert timefmt.format_datetime(EVENING_UTC, "en") == "2 Dec 2026, 02:34 (ICT)"

    def test_iso_strings_from_the_api_are_read_as_utc(self):
        assert timefmt.format_datetime("2026-12-01T19:34:00", "th") == (
            "2 ธ.ค. 2569 เวลา 02:34 น.")
        assert timefmt.format_datetime("2026-12-01T19:34:00+00:00", "en") == (
            "2 Dec 2026, 02:34 (ICT)")

    @pytest.mark.parametrize(("month", "thai"), [(1, "ม.ค."), (2, "ก.พ."), (4, "เม.ย."),
                                                 (6, "มิ.ย."), (10, "ต.ค.")])
    def test_thai_month_abbreviations(self, month, thai):
        when = datetime.datetime(2027, month, 15, 3, 0)
        assert timefmt.format_datetime(when, "th") == f"15 {thai} 2570 เวลา 10:00 น."

    def test_dates(self):
        assert timefmt.format_date(datetime.date(2026, 12, 2), "th") == "2 ธ.ค. 2569"
        assert timefmt.format_date(datetime.date(2026, 12, 2), "en") == "2 Dec 2026"
        assert timefmt.format_date(EVENING_UTC, "en") == "2 Dec 2026"

    def test_nothing_stays_nothing(self):
        assert timefmt.format_datetime(None, "th") == ""
        assert timefmt.format_datetime("", "en") == ""

    def test_a_stored_text_that_is_no_time_is_kept(self):
        assert timefmt.format_datetime_lenient("2026-12-01 10:00 UTC", "th") == (
            "2026-12-01 10:00 UTC")


@pytest.mark.usefixtures("ckan_config")
class TestOtherZones:
    def test_utc_by_default(self):
        assert timefmt.format_datetime(EVENING_UTC, "en") == "1 Dec 2026, 19:34 (UTC)"
        assert timefmt.format_datetime(EVENING_UTC, "th") == "1 ธ.ค. 2569 เวลา 19:34 น."

    @pytest.mark.ckan_config("ckan.display_timezone", "Europe/Paris")
    def test_a_zone_with_an_abbreviation_uses_it(self):
        assert timefmt.format_datetime(EVENING_UTC, "en") == "1 Dec 2026, 20:34 (CET)"

    @pytest.mark.ckan_config("ckan.display_timezone", "Asia/Dubai")
    def test_a_zone_without_one_shows_its_offset(self):
        assert timefmt.format_datetime(EVENING_UTC, "en") == "1 Dec 2026, 23:34 (UTC+04:00)"

    @pytest.mark.ckan_config("ckan.display_timezone", "Not/A_Zone")
    def test_an_unknown_zone_falls_back_to_utc(self):
        assert timefmt.format_datetime(EVENING_UTC, "en") == "1 Dec 2026, 19:34 (UTC)"


class TestFormDate:
    def test_half_past_midnight_in_bangkok_is_already_the_next_day(self):
        # 00:30 on 2 Dec in Bangkok is 17:30 on 1 Dec in UTC: the form says 2 Dec.
        assert timefmt.form_date(datetime.datetime(2026, 12, 1, 17, 30)) == (
            datetime.date(2026, 12, 2))
        assert timefmt.form_date(datetime.datetime(2026, 12, 1, 16, 59)) == (
            datetime.date(2026, 12, 1))

    def test_an_aware_time_is_converted(self):
        aware = datetime.datetime(2026, 12, 1, 17, 30, tzinfo=datetime.timezone.utc)
        assert timefmt.form_date(aware) == datetime.date(2026, 12, 2)

    def test_the_pdf_without_a_date_is_dated_today_in_bangkok(self, tmp_path):
        body = pdf.application_form_pdf({"reference": "DGA-2026-000001", "fullname": "สมชาย"})
        path = tmp_path / "form.pdf"
        path.write_bytes(body)
        text = subprocess.run(["pdftotext", "-enc", "UTF-8", str(path), "-"], check=True,
                              capture_output=True, text=True, timeout=30).stdout
        assert pdf.thai_date(timefmt.form_date()) in text
