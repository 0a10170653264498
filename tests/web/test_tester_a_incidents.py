"""What an independent burglary-unit analyst found on the dashboard, in headless Chromium over the
synthetic city: the incident explorer listed 200 rows under a heading that counted 500, showed UTC
times without a zone, the series view built average-linkage series by default and printed its
summary as raw JSON, and the Knox table starred open-ended cells."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.api.city import City
from tests.web import test_dashboard as dashboard
from tests.web.test_dashboard import Watch, _login, _open, keep_rms_mapping

page = dashboard.page  # the page fixture: a Chromium page that fails the test on a console error or an outside request

pytestmark = pytest.mark.browser


def _heading(pg: Any) -> tuple[int, int, int]:
    """(first, last, total) from "(1–500 of 1,234, newest first; ...)"."""
    m = re.search(r"\(([\d,]+)–([\d,]+) of ([\d,]+), newest first", pg.inner_text("#count"))
    assert m, pg.inner_text("#count")
    first, last, total = (int(v.replace(",", "")) for v in m.groups())
    return first, last, total


def test_every_incident_the_heading_counts_is_listed_and_can_be_compared(page: tuple[Any, Watch, str, City]) -> None:
    pg, _, base, city = page
    _login(pg, base, city.tokens["ana"], "burglary review")
    pg.goto(f"{base}/incidents")
    pg.wait_for_function("document.body.dataset.listed !== undefined")
    first, last, total = _heading(pg)
    rows = pg.locator("#list tbody tr").count()
    assert total > 500 and (first, last) == (1, 500) and rows == 500  # before: 200 rows under "(500 of N"
    assert pg.locator("#list button.sim").count() == 500
    # the next page: the rest of the incidents, each with its Similar button
    pg.click("#page-older")
    pg.wait_for_function("document.querySelector('#count').textContent.startsWith('(501')")
    first, last, total2 = _heading(pg)
    assert total2 == total and first == 501 and last - first + 1 == pg.locator("#list tbody tr").count()
    listed = pg.locator("#list tbody tr").last.get_attribute("data-incident")
    pg.locator("#list button.sim").last.click()
    pg.wait_for_function("document.body.dataset.similar !== undefined", timeout=120_000)
    assert pg.inner_text("#sim-title") == f"Similar incidents to {listed}"
    # what each pair has, next to its part of the log-odds; times in the dataset's zone, named
    sim = pg.inner_text("#similar tbody")
    drivers = [x.inner_text() for x in pg.locator("#similar tbody span.driver").all()]
    assert drivers and all(re.fullmatch(r"[a-z0-9_]+: .+ -?\+?\d+\.\d\d", x) for x in drivers), drivers
    assert "(UTC)" in pg.inner_text("#similar thead")
    assert not re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d", sim)  # before: UTC ISO text without a zone
    assert "(UTC)" in pg.inner_text("#list thead") and "times in UTC" in pg.inner_text("#count")
    pg.click("#page-newer")
    pg.wait_for_function("document.querySelector('#count').textContent.startsWith('(1–500')")


def test_occurred_times_are_local_to_the_dataset_and_name_its_zone(page: tuple[Any, Watch, str, City]) -> None:
    """A dataset read in America/Chicago: 22:30 there on 1 March is 04:30 UTC on 2 March, which the
    explorer showed as "2024-03-02T04:30"."""
    pg, _, base, city = page
    _login(pg, base, city.tokens["ana"], "burglary review")
    pg.goto(f"{base}/incidents")
    pg.wait_for_function("document.body.dataset.listed !== undefined")
    keep_rms_mapping(pg, "chi_rms")
    rms = ("case_no,offense,date,lon,lat\nC1,BURGLARY,2024-03-01 22:30,-87.63,41.88\n"
           "C2,BURGLARY,2024-03-10 01:15,-87.64,41.87\n")
    pg.fill("#load-dataset", "chicago_local")
    pg.set_input_files("#load-file", files=[{"name": "chi.csv", "mimeType": "text/csv", "buffer": rms.encode()}])
    pg.click("#load-submit")
    pg.wait_for_selector("#load-ok")
    pg.select_option("#dataset", "chicago_local")
    pg.click("#apply")
    pg.wait_for_function("document.querySelector('#count').textContent.includes('of 2,')")
    shown = {r.locator("td").nth(0).inner_text(): r.locator("td").nth(2).inner_text()
             for r in pg.locator("#list tbody tr").all()}
    want = {k: datetime.fromisoformat(v).replace(tzinfo=ZoneInfo("America/Chicago")).strftime("%Y-%m-%d %H:%M")
            for k, v in (("C1", "2024-03-01T22:30"), ("C2", "2024-03-10T01:15"))}
    assert shown == want == {"C1": "2024-03-01 22:30", "C2": "2024-03-10 01:15"}
    assert "(America/Chicago)" in pg.inner_text("#list thead") and "times in America/Chicago" in pg.inner_text("#count")


def test_series_view_defaults_to_components_and_reads_its_summary(page: tuple[Any, Watch, str, City]) -> None:
    pg, _, base, city = page
    _login(pg, base, city.tokens["ana"], "series review")
    pg.goto(f"{base}/series?series={city.series_id}")
    pg.wait_for_function("document.body.dataset.members > 1")
    assert pg.input_value("#lk-method") == "components"  # as the CLI and the API (before: average linkage)
    assert pg.locator("#series-info pre").count() == 0  # before: the summary as pretty-printed JSON
    items = [x.inner_text() for x in pg.locator("#series-info ul.series-summary li").all()]
    assert [i.split(":")[0] for i in items] == ["offense", "span", "area", "common M.O."]
    assert items[1].endswith(" days") and "km²" in items[2]


def test_the_knox_table_never_stars_an_open_ended_cell(page: tuple[Any, Watch, str, City]) -> None:
    pg, _, base, city = page
    _login(pg, base, city.tokens["ana"], "burglary briefing")
    _open(pg, base, "/nearrepeat")
    pg.select_option("#kx-dataset", "synth")
    pg.select_option("#kx-offense", "burglary")
    pg.fill("#kx-perms", "99")
    pg.fill("#kx-alpha", "0.5")  # a generous alpha: open-ended cells just above 1 reach it
    pg.click("#kx-run")
    pg.wait_for_function("document.body.dataset.knox !== undefined", timeout=120_000)
    run = pg.evaluate("document.body.dataset.knox")
    d = pg.evaluate("(id) => CL.api('/api/nearrepeat/runs/' + id)", run)
    R, C = len(d["rows"]), len(d["columns"])
    plain = [(i, j) for i in range(R) for j in range(C) if d["knox_ratio"][i][j] is not None
             and d["p_value"][i][j] is not None and d["knox_ratio"][i][j] > 1 and d["p_value"][i][j] < 0.5]
    open_plain = [(i, j) for i, j in plain if i == R - 1 or j == C - 1]
    assert open_plain, "no open-ended cell reads as elevated here: the test shows nothing"
    assert pg.locator("table.knox td.kx.open-ended").count() == R + C - 1
    assert pg.locator("table.knox td.kx.open-ended.sig").count() == 0
    assert int(pg.evaluate("document.body.dataset.knoxStars")) == len(plain) - len(open_plain)
    assert "open-ended cells (more than the largest band) are never starred" in pg.inner_text("#kx-note")
