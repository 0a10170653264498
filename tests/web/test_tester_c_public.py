"""The public record and the governance page as an auditor and a screen reader meet them (tester C), in
headless Chromium on a real server: each "Read the record" button names its deployment, every column has a
header, times carry their zone, the floors the demonstration setting lowered are said on the record, the
model card is rendered (and what its authors wrote never becomes markup), the page says who reads what is
sent, and the board's complaint-answer field has a label."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.governance.test_tester_c_report import DEP, Built, build_store
from tests.web.conftest import running, watched_page
from tests.web.test_dashboard import _login

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def served_c(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Built]]:
    built = build_store(tmp_path_factory.mktemp("tester-c-web"))
    with running(built.db) as url:
        yield url, built


@pytest.fixture
def pg(browser: Any, served_c: tuple[str, Built]) -> Iterator[Any]:
    with watched_page(browser) as (page, _):
        yield page


def test_the_public_record_names_its_buttons_times_floors_and_renders_the_card(
        pg: Any, served_c: tuple[str, Built]) -> None:
    base, _ = served_c
    pg.goto(f"{base}/public")
    pg.wait_for_function("document.body.dataset.ready === '1'")
    # the about text says who reads what is sent, not that it goes to a "public" ledger
    about = pg.inner_text("p.about")
    assert "public usage ledger" not in about and "not by the public" in about
    # every column has a header a screen reader can announce; each button names its deployment
    headers = pg.eval_on_selector_all("#deployments thead th", "els => els.map(e => e.textContent.trim())")
    assert len(headers) == 5 and all(headers), headers
    button = pg.get_by_role("button", name=f"Read the record of {DEP}")
    assert button.count() == 1
    assert pg.locator("#deployments tbody tr").count() == 1
    row = pg.locator(f"#deployments tr[data-name='{DEP}']")
    since = row.locator("td").nth(3).inner_text()
    assert since.endswith(" UTC") and since[:2] == "20", since
    button.click()
    pg.wait_for_function(f"document.body.dataset.shown === '{DEP}'")
    # the floors the demonstration setting lowered, said plainly on the record
    warning = pg.inner_text("#floors-demo")
    assert "CRIMELENS_GOVERNANCE_DEMO" in warning and "at least 14" in warning
    public_comment = pg.eval_on_selector_all(
        "#record dl.policy dt", "els => els.filter(e => e.textContent === 'Public comment')"
                                ".map(e => e.nextElementSibling.textContent)")
    assert len(public_comment) == 1 and "demonstration setting" in public_comment[0], public_comment
    assert "at least 0 days" not in pg.inner_text("#record")
    # the model card, rendered: headings, a table of figures, bold text; its authors' markup stays text
    pg.click("#show-card")
    pg.wait_for_selector("#card:not([hidden]) h4")
    card = pg.inner_text("#card")
    assert "Model card: GradientBoostedCells" in pg.inner_text("#card h4")
    assert "## " not in card and "**" not in card
    assert pg.locator("#card h5").count() >= 9  # the nine sections of Mitchell et al.
    assert pg.locator("#card table.card-table th[scope=row]").count() >= 2  # one row per group
    assert pg.locator("#card strong", has_text="patrol planning").count() == 1
    assert "<script>window.pwned = 1</script>" in card
    assert pg.evaluate("window.pwned === undefined") and pg.locator("#card script").count() == 0


def test_the_boards_complaint_answer_field_has_a_label(pg: Any, served_c: tuple[str, Built]) -> None:
    base, built = served_c
    with httpx.Client(base_url=base, timeout=60) as c:
        r = c.post("/api/complaints", headers={"X-Purpose": "complaint"},
                   json={"body": "Why my block?", "deployment": DEP, "name": None, "entry_seqs": []})
        assert r.status_code == 200, r.text
        complaint = r.json()["complaint_id"]
    _login(pg, base, built.tokens["bea"], "oversight")
    pg.goto(f"{base}/governance")
    pg.wait_for_function("document.body.dataset.ready === '1'")
    field = pg.get_by_label(f"Answer to complaint {complaint}")
    assert field.count() == 1
    assert field.evaluate("e => e.classList.contains('response')")

