"""Public participation end to end in headless Chromium: a member of the public, without an account,
reads a deployment's record, comments and files a complaint; a board member then comments, votes and
closes the review, and answers the complaint, on the governance page."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from crimelens.governance._aia import AIA_QUESTIONS
from tests.api.city import DEPLOYMENT, City
from tests.web.test_dashboard import Watch, _login, _shot, page  # noqa: F401  (the page fixture)

pytestmark = pytest.mark.browser

NAME = "night-review"


def _h(city: City, user: str, purpose: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {city.tokens[user]}", "X-Purpose": purpose}


def _ok(r: httpx.Response) -> dict[str, Any]:
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_public_comment_complaint_and_board_vote(page: tuple[Any, Watch, str, City],  # noqa: F811
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    pg, _, base, city = page
    # the whole path within one test: a 0-day comment period, under the demo setting only (the floor is 14)
    monkeypatch.setenv("CRIMELENS_GOVERNANCE_DEMO", "1")
    with httpx.Client(base_url=base, timeout=60) as c:
        model = _ok(c.get(f"/api/deployments/{DEPLOYMENT}", headers=_h(city, "ana", "research")))["deployment"]
        _ok(c.post("/api/deployments", headers=_h(city, "ana", "deployment proposal"), json={
            "name": NAME, "model": model["model"], "model_version": model["model_version"],
            "description": "Night-shift hotspots, proposed for a six-month pilot",
            "policy": {"allowed_purposes": ["patrol planning"], "min_comment_days": 0, "board_quorum": 3}}))
        low = {q.qid: min(q.choices, key=q.choices.__getitem__) for q in AIA_QUESTIONS}
        _ok(c.put(f"/api/deployments/{NAME}/assessment", json={"answers": low},
                  headers=_h(city, "ana", "impact assessment")))
        _ok(c.post(f"/api/deployments/{NAME}/transitions/open-comment", json={},
                   headers=_h(city, "sam", "public notice")))

        # a member of the public: no sign-in
        pg.goto(f"{base}/public")
        pg.wait_for_function("document.body.dataset.ready === '1'")
        row = pg.locator(f"#deployments tr[data-name='{NAME}']")
        assert "open for comment" in row.inner_text()
        assert '"signature"' in pg.inner_text("#head")
        row.locator(".show").click()
        pg.wait_for_function(f"document.body.dataset.shown === '{NAME}'")
        assert "patrol planning" in pg.inner_text("#record") and "level I" in pg.inner_text("#record")
        pg.click("#show-card")  # the model card, with its measured figures, without an account
        pg.wait_for_selector("#card:not([hidden])")
        # rendered (headings, not Markdown marks), every line escaped
        assert "Model card: " in pg.inner_text("#card") and "4. Metrics" in pg.inner_text("#card")
        assert "## 4. Metrics" not in pg.inner_text("#card")
        pg.fill("#comment-name", "Robin")
        pg.fill("#comment-body", "Please publish the hit rate per district.")
        pg.click("#comment-send")
        pg.wait_for_selector("#comment-ok")
        seq = int(re.search(r"#(\d+)", pg.inner_text("#comment-ok")).group(1))  # type: ignore[union-attr]
        pg.wait_for_function("document.querySelector('#record').innerText.includes('public:Robin')")
        assert "hit rate per district" in pg.inner_text("#record")
        pg.select_option("#complaint-deployment", NAME)
        pg.fill("#complaint-entries", str(seq))
        pg.fill("#complaint-body", "Night patrols already concentrate on my block.")
        pg.click("#complaint-send")
        pg.wait_for_selector("#complaint-ok")
        complaint = re.search(r"(cmp-[0-9a-f]+)", pg.inner_text("#complaint-ok")).group(1)  # type: ignore[union-attr]
        _shot(pg, "public")
        comment = [e for e in _ok(c.get("/api/ledger/entries?limit=20", headers=_h(city, "aud", "oversight")))[
            "items"] if e["seq"] == seq]
        assert [(e["action"], e["user"], e["role"]) for e in comment] == [("deployments.comment", "public:Robin",
                                                                           "public")]

        # the board: two members vote by API, the third on the page, then closes the review
        _ok(c.post(f"/api/deployments/{NAME}/transitions/start-review", json={},
                   headers=_h(city, "sam", "oversight review")))
        for member in ("bob", "bo"):
            _ok(c.post(f"/api/deployments/{NAME}/votes", json={"vote": "approve", "reason": "test vote"}, headers=_h(city, member, "oversight")))
    _login(pg, base, city.tokens["bea"], "oversight")
    pg.goto(f"{base}/governance")
    pg.wait_for_function("document.body.dataset.ready === '1'")
    pg.locator(f"#deployments tr[data-name='{NAME}'] .open").click()
    pg.wait_for_function(f"document.body.dataset.shown === '{NAME}:board_review'")
    assert "public:Robin" in pg.inner_text("#record")
    pg.fill("#board-body", "The card gives the hit rate per district; asked for a 6-month report.")
    pg.click("#board-comment")
    pg.wait_for_selector("#board-ok")
    pg.select_option("#vote", "approve")
    pg.fill("#vote-reason", "controls adequate; report due in six months")
    pg.click("#vote-send")
    pg.wait_for_function("document.querySelector('#dep-result').innerText.startsWith('Vote recorded')")
    pg.wait_for_function("document.querySelector('#record .votes').innerText.includes('bea: approve')")
    pg.click("#step-buttons button[data-step='close-review']")
    pg.wait_for_function(f"document.body.dataset.shown === '{NAME}:approved'")
    assert "approved" in pg.locator(f"#deployments tr[data-name='{NAME}']").inner_text()
    pg.wait_for_function("document.querySelector('#ledger').innerText.includes('deployments.close_review')")
    # the complaint waits on the same page; the board answers it
    crow = pg.locator(f"#complaints tr[data-complaint='{complaint}']")
    assert "public:anonymous" in crow.inner_text() and str(seq) in crow.inner_text()  # no name given
    crow.locator(".response").fill("The pilot's policy excludes repeat patrols of one block; see entry log.")
    crow.locator(".respond").click()
    pg.wait_for_function(f"document.querySelector(\"#complaints tr[data-complaint='{complaint}']\")"
                         ".innerText.includes('answered')")
    _shot(pg, "governance-board")
    # the complainant reads the answer on the public page with the complaint's id
    pg.goto(f"{base}/public")
    pg.wait_for_function("document.body.dataset.ready === '1'")
    pg.fill("#status-id", complaint)
    pg.click("#status-send")
    pg.wait_for_selector("#status-ok")
    assert "answered" in pg.inner_text("#status-ok") and "repeat patrols of one block" in pg.inner_text("#status-ok")

    # a year on, the renewal goes back to the public: the page takes comments on it again
    with httpx.Client(base_url=base, timeout=60) as c:
        _ok(c.post(f"/api/deployments/{NAME}/transitions/activate", json={}, headers=_h(city, "ada", "administration")))
        _ok(c.post(f"/api/deployments/{NAME}/transitions/open-renewal", json={}, headers=_h(city, "sam", "public notice")))
    pg.goto(f"{base}/public")
    pg.wait_for_function("document.body.dataset.ready === '1'")
    row = pg.locator(f"#deployments tr[data-name='{NAME}']")
    assert "active, renewal open for comment" in row.inner_text()
    row.locator(".show").click()
    pg.wait_for_function(f"document.body.dataset.shown === '{NAME}'")
    assert "renewal of this deployment is open for public comment" in pg.inner_text("#record")
    pg.fill("#comment-body", "The six-month report was never published.")
    pg.click("#comment-send")
    pg.wait_for_selector("#comment-ok")
    pg.wait_for_function("document.querySelector('#record').innerText.includes('on the renewal')")


def test_a_flood_without_an_account_is_refused_and_the_auditor_sees_it(
        page: tuple[Any, Watch, str, City]) -> None:  # noqa: F811
    pg, watch, base, city = page
    # one address files complaints until the hourly budget (30 comments and complaints) is spent;
    # the test before made three (two comments, a complaint)
    with httpx.Client(base_url=base, timeout=60) as c:
        codes = [c.post("/api/complaints", json={"body": f"flood {k}"}).status_code for k in range(29)]
    assert codes == [200] * 27 + [429] * 2, codes
    # the next member of the public on that address is told when to come back, on the page
    pg.goto(f"{base}/public")
    pg.wait_for_function("document.body.dataset.ready === '1'")
    pg.fill("#complaint-body", "One more.")
    pg.click("#complaint-send")
    pg.wait_for_selector("#complaint-result .bad")
    assert re.search(r"try again in \d+ s", pg.inner_text("#complaint-result"))
    # the browser itself logs the refused fetch; that one 429 is the expected outcome
    assert len(watch.errors) == 1 and "429" in watch.errors[0]
    watch.errors.clear()
    # an auditor sees the address refused, and how often; nothing of it is in the ledger
    _login(pg, base, city.tokens["aud"], "oversight")
    pg.goto(f"{base}/governance")
    pg.wait_for_function("document.body.dataset.ready === '1'")
    assert "writes: 30 per hour" in pg.inner_text("#limits-budgets")
    row = pg.locator("#limits tbody tr", has_text="writes")
    assert "127.0.0.1" in row.inner_text() and int(row.locator("td").nth(2).inner_text()) >= 2
    # a supervisor is not shown the addresses (and no refused view is logged for it)
    _login(pg, base, city.tokens["sam"], "supervision")
    pg.goto(f"{base}/governance")
    pg.wait_for_function("document.body.dataset.ready === '1'")
    assert "Shown to administrators and auditors" in pg.inner_text("#limits-budgets")
    # nor the backup form (hidden: a display rule once kept it on screen)
    assert pg.locator("#backup-form").is_hidden() and "Administrators only" in pg.inner_text("#backup-result")
    with httpx.Client(base_url=base, timeout=60) as c:
        entries = _ok(c.get("/api/ledger/entries?limit=200", headers=_h(city, "aud", "oversight")))["items"]
    assert not any(e["action"] == "limits.view" and e["outcome"] == "refused" for e in entries)
    # the 27 taken are logged, the refused ones (two here, one on the page) are not
    assert sum(e["action"] == "complaints.file" and e["user"] == "public:anonymous" for e in entries) in (27, 28)


def test_an_administrator_backs_up_from_the_governance_page(page: tuple[Any, Watch, str, City],  # noqa: F811
                                                             tmp_path: Any) -> None:
    from crimelens.services.store import verify_backup

    pg, _, base, city = page
    _login(pg, base, city.tokens["ada"], "backup")
    pg.goto(f"{base}/governance")
    pg.wait_for_function("document.body.dataset.ready === '1'")
    out = city.db.parent / f"nightly-{tmp_path.name}"  # under CRIMELENS_BACKUP_ROOT's default, the store's folder
    pg.fill("#backup-folder", str(out))
    pg.click("#backup-form button")
    pg.wait_for_selector("#backup-ok")
    seq = re.search(r"ledger entry #(\d+)", pg.inner_text("#backup-ok")).group(1)  # type: ignore[union-attr]
    assert "store.backup" in pg.locator(f"#ledger tr[data-seq='{seq}']").inner_text()
    assert verify_backup(out).ok
