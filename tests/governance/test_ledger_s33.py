"""Holding a store to a head published earlier, and a use gate the deployments table alone cannot open.

A journalist who saved the head the agency published at size M checks the agency's store later with
``crimelens ledger proof --head FILE`` (or ``--from M --root HEX``): a store set back to an older
backup and appended to again has another tree at size M (two validly signed heads at one size), and
a store set back without new entries has none; both exit 4 naming both roots. The proofs are checked
here with a few lines of RFC 6962 / RFC 9162 written in this file, not with crimelens' verifier.

The use gate reads a deployment's state from the ``deployments`` table *and* from its latest
lifecycle entry in the ledger: ``UPDATE deployments SET state = 'active'`` on a suspended deployment
is refused (and the refusal logged), naming both.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import duckdb
import pytest

from crimelens.errors import ApprovalRequiredError
from crimelens.governance import Ledger, LedgerEntry
from crimelens.services import governance as gs
from crimelens.services._context import Context, authorize, check_use, ledger_state, record_use
from crimelens.storage import DuckDBStore
from tests import rfc9162 as rfc
from tests.conftest import ROOT, copy_store, run_json
from tests.governance.conftest import Clock, People, to_active

DEP = "hotspots"
PUBLISHED = 20


def _leaves(db: Path) -> list[bytes]:
    """The stored payloads' leaf hashes, read with DuckDB and hashed here."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        return [rfc.h(b"\x00" + bytes(p)) for (p,) in con.execute("SELECT payload FROM ledger ORDER BY seq").fetchall()]
    finally:
        con.close()


# stores: the agency's, a rolled-back copy, a truncated copy ----------------------------------------
def _append(db: Path, start: int, stop: int, note: str) -> dict[str, Any]:
    """Append entries start..stop-1 one by one (a signed head each); the newest head as published."""
    with DuckDBStore.open(db) as store:
        ledger = Ledger(store)
        assert ledger.size() == start
        for i in range(start, stop):
            ledger.append(LedgerEntry("forecast.view", "ana", "analyst", "patrol planning", detail={"i": i, "note": note}))
        head = ledger.latest_head()
        assert head is not None
        return head.to_json(ledger.public_key(head.key_id))


_copy = copy_store


@pytest.fixture
def stores(tmp_path: Path) -> dict[str, Path]:
    """The agency's store (25 entries) and the head it published at size 20; a copy restored from its
    backup at size 12 with the key and appended to again (28 entries: a second head at size 20); the
    same backup restored and left as it was (12 entries)."""
    agency = tmp_path / "agency.duckdb"
    _append(agency, 0, 12, "genuine")
    backup = _copy(agency, tmp_path / "backup.duckdb")
    published = _append(agency, 12, PUBLISHED, "genuine")
    assert published["tree_size"] == PUBLISHED
    (tmp_path / "pub.json").write_text(json.dumps(published))
    _append(agency, PUBLISHED, 25, "genuine")
    rolled = _copy(backup, tmp_path / "rolled.duckdb")
    _append(rolled, 12, 28, "after the rollback")
    truncated = _copy(backup, tmp_path / "truncated.duckdb")
    return {"agency": agency, "rolled": rolled, "truncated": truncated, "pub": tmp_path / "pub.json"}


run = run_json
# 2. a rolled-back store against the published head ------------------------------------------------
def test_a_rolled_back_store_exits_4_naming_both_roots(stores: dict[str, Path],
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    pub = json.loads(stores["pub"].read_text())
    rolled_root = rfc.mth(_leaves(stores["rolled"])[:PUBLISHED])
    assert rolled_root.hex() != pub["root_hash"]  # the second history, checked here without crimelens
    assert rfc.mth(_leaves(stores["agency"])[:PUBLISHED]).hex() == pub["root_hash"]
    # without the published head the proof is self-consistent and says nothing: exit 0 (the limitation)
    code, plain = run(capsys, "ledger", "proof", "--from", str(PUBLISHED), "--db", str(stores["rolled"]))
    assert code == 0 and plain["old_root"] == rolled_root.hex()
    assert plain["old_head"]["root_hash"] == rolled_root.hex()  # the store's own, validly signed, head at 20
    assert rfc.signed(plain["old_head"], pub["public_key"])

    code, err = run(capsys, "ledger", "proof", "--head", str(stores["pub"]), "--db", str(stores["rolled"]))
    assert code == 4, err
    assert err["type"] == "PublishedHeadMismatchError"  # a LedgerIntegrityError: exit 4
    assert err["error"].startswith(f"this store's tree at size {PUBLISHED} is not the one published: a rollback or "
                                   "a rewrite.")
    assert rolled_root.hex() in err["error"] and pub["root_hash"] in err["error"]
    assert f"its own signed head at size {PUBLISHED} with that root" in err["error"]

    code, err = run(capsys, "ledger", "proof", "--from", str(PUBLISHED), "--root", pub["root_hash"],
                    "--db", str(stores["rolled"]))
    assert code == 4 and rolled_root.hex() in err["error"] and pub["root_hash"] in err["error"]
    # each check is logged in the store checked, as a refused proof with the root it was held to
    with DuckDBStore.open(stores["rolled"]) as store:
        logged = Ledger(store).entries(action="ledger.proof", newest=True, limit=2)
    assert [e.outcome for _, e in logged] == ["refused", "refused"]
    assert all(e.detail["published_root"] == pub["root_hash"] and e.detail["matches_published"] is False
               for _, e in logged)


def test_the_agencys_store_matches_and_the_proof_checks_out_independently(
        stores: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    pub = json.loads(stores["pub"].read_text())
    code, proof = run(capsys, "ledger", "proof", "--head", str(stores["pub"]), "--db", str(stores["agency"]))
    assert code == 0, proof
    assert proof["old_size"] == PUBLISHED and proof["old_root"] == pub["root_hash"]
    assert proof["published"]["root_matches"] and proof["published"]["signature_checked"]
    assert proof["published"]["key_id"] == pub["key_id"]
    n = proof["new_size"]
    leaves = _leaves(stores["agency"])  # the 25 entries and the proof's own entry, logged after it
    assert n == 25 == len(leaves) - 1 and proof["new_root"] == rfc.mth(leaves[:n]).hex()
    assert rfc.consistent(PUBLISHED, n, bytes.fromhex(pub["root_hash"]), bytes.fromhex(proof["new_root"]),
                       [bytes.fromhex(x) for x in proof["proof"]])
    assert rfc.signed(proof["head"], pub["public_key"])
    assert not rfc.consistent(PUBLISHED, n, rfc.mth(_leaves(stores["rolled"])[:PUBLISHED]),
                           bytes.fromhex(proof["new_root"]), [bytes.fromhex(x) for x in proof["proof"]])
    # --from M --root HEX does the same without the head file
    code, same = run(capsys, "ledger", "proof", "--from", str(PUBLISHED), "--root", pub["root_hash"],
                     "--db", str(stores["agency"]))
    assert code == 0 and same["published"]["signature_checked"] is False and same["new_size"] == n + 1
    assert rfc.consistent(PUBLISHED, n + 1, bytes.fromhex(pub["root_hash"]), bytes.fromhex(same["new_root"]),
                       [bytes.fromhex(x) for x in same["proof"]])


def test_a_store_set_back_without_new_entries_exits_4(stores: dict[str, Path],
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    pub = json.loads(stores["pub"].read_text())
    code, err = run(capsys, "ledger", "proof", "--head", str(stores["pub"]), "--db", str(stores["truncated"]))
    assert code == 4, err
    assert err["error"].startswith(f"this store's ledger has no tree at size {PUBLISHED}")
    assert pub["root_hash"] in err["error"] and "newest signed head is at size 12" in err["error"]
    assert "a rollback or a truncation" in err["error"]


def test_a_published_head_that_was_edited_is_refused(stores: dict[str, Path], tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    pub = json.loads(stores["pub"].read_text())
    rolled_root = rfc.mth(_leaves(stores["rolled"])[:PUBLISHED]).hex()
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps({**pub, "root_hash": rolled_root}))  # the rolled-back root, old signature
    code, err = run(capsys, "ledger", "proof", "--head", str(forged), "--db", str(stores["rolled"]))
    assert code == 2 and err["type"] == "InputError", err
    assert f"{forged}: the signature of the head at size {PUBLISHED} does not verify" in err["error"]
    other = tmp_path / "other.json"
    other.write_text(json.dumps({**pub, "key_id": "0" * 16}))
    code, err = run(capsys, "ledger", "proof", "--head", str(other), "--db", str(stores["agency"]))
    assert code == 2 and f"the head says it is signed by key {'0' * 16}" in err["error"]
    assert f"the public key it carries is key {pub['key_id']}" in err["error"]
    (tmp_path / "nokey.json").write_text(json.dumps({k: v for k, v in pub.items() if k != "public_key"}))
    code, err = run(capsys, "ledger", "proof", "--head", str(tmp_path / "nokey.json"), "--db", str(stores["agency"]))
    assert code == 2 and "field 'public_key': got nothing; expected 64 hex digits" in err["error"]
    code, err = run(capsys, "ledger", "proof", "--head", str(stores["pub"]), "--from", "19",
                    "--db", str(stores["agency"]))
    assert code == 2 and "got --from 19" in err["error"]
    # the API's answer to GET /api/ledger/head, saved as it came, is taken as well
    wrapped = tmp_path / "api.json"
    wrapped.write_text(json.dumps({"ok": True, "head": pub}))
    assert run(capsys, "ledger", "proof", "--head", str(wrapped), "--db", str(stores["agency"]))[0] == 0


# 3. the key id, as the docs say to compute it ------------------------------------------------------
RECIPE = 'hashlib.sha256(bytes.fromhex(head["public_key"])).hexdigest()[:16]'


@pytest.mark.parametrize("page", ["governance.md", "oversight.md"])
def test_the_documented_key_id_recipe_gives_the_heads_key_id(page: str, stores: dict[str, Path]) -> None:
    text = (ROOT / "docs" / page).read_text(encoding="utf-8")
    assert f"`{RECIPE}`" in text, f"docs/{page} does not give the key id recipe"
    for db in (stores["agency"], stores["rolled"]):
        with DuckDBStore.open(db) as store:
            ledger = Ledger(store)
            newest = ledger.latest_head()
            assert newest is not None
            head = newest.to_json(ledger.public_key(newest.key_id))
        assert eval(RECIPE, {"hashlib": hashlib, "head": head}) == head["key_id"]  # the docs' own line


# 4. the use gate: the deployments table against the ledger -----------------------------------------
def _use(ctx: Context, people: People) -> None:
    authorize(ctx, action="forecast.run", actor=people.analyst, purpose="patrol planning", deployment=DEP,
              model="KDEHotspot", model_version="1.0")


def _seq(ctx: Context, action: str) -> int:
    return ctx.ledger.entries(action=action, deployment=DEP, newest=True, limit=1)[0][0]


def test_a_suspended_deployment_set_active_in_the_table_stays_refused(ctx: Context, people: People,
                                                                      clock: Clock) -> None:
    to_active(ctx, people, clock)
    _use(ctx, people)  # active in both: allowed (and the gate has read the ledger once on this context)
    # an operational forecast's recommendation waits for a supervisor (the policy marks forecast.run actionable)
    made = record_use(ctx, action="forecast.run", actor=people.analyst, purpose="patrol planning", deployment=DEP,
                      model="KDEHotspot", model_version="1.0", output_hash="ab" * 32)
    gs.suspend(ctx, deployment=DEP, reason="complaint under review", actor=people.sup1)
    suspended_at = _seq(ctx, "deployments.suspend")
    ctx.store.execute("UPDATE deployments SET state = 'active', state_reason = NULL")  # outside crimelens
    with pytest.raises(ApprovalRequiredError) as caught:
        _use(ctx, people)
    reason = (f"the deployments table says '{DEP}' is active but the ledger's entry {suspended_at} says suspended: "
              "the table was changed outside crimelens; refusing operational use until an administrator repairs it")
    assert reason in str(caught.value)
    _seq_refused, refused = ctx.ledger.entries(newest=True, limit=1)[0]
    assert refused.action == "forecast.run" and refused.outcome == "refused" and refused.deployment == DEP
    assert str(refused.detail["reason"]).startswith(reason)
    assert ledger_state(ctx, DEP) == (suspended_at, "suspended")
    # a supervisor's accept would make the recommendation actionable: refused the same way
    with pytest.raises(ApprovalRequiredError, match=f"the ledger's entry {suspended_at} says suspended"):
        gs.decide_review(ctx, item_id=f"r{made}", decision="accept", reason="looks right", actor=people.sup2)
    # repaired through crimelens (the row set back, then resumed): allowed again
    ctx.store.execute("UPDATE deployments SET state = 'suspended'")
    gs.resume(ctx, deployment=DEP, reason="complaint answered", actor=people.board[0])
    _use(ctx, people)
    assert ledger_state(ctx, DEP) == (_seq(ctx, "deployments.resume"), "active")


def test_a_fresh_context_reads_the_ledger_whole(ctx: Context, people: People, clock: Clock) -> None:
    """The first use on a context reads every entry (a CLI command): the suspension is found there too."""
    to_active(ctx, people, clock)
    gs.suspend(ctx, deployment=DEP, reason="complaint under review", actor=people.sup1)
    ctx.store.execute("UPDATE deployments SET state = 'active'")
    fresh = Context(store=ctx.store, settings=ctx.settings, ledger=ctx.ledger, clock=ctx.clock)
    problem = check_use(fresh, action="forecast.run", actor=people.analyst, purpose="patrol planning",
                        deployment=DEP)
    assert problem is not None
    assert f"but the ledger's entry {_seq(ctx, 'deployments.suspend')} says suspended" in problem[0]


def test_an_automatic_suspension_by_an_incident_report_counts(ctx: Context, people: People, clock: Clock) -> None:
    to_active(ctx, people, clock)
    _use(ctx, people)
    out = gs.report_incident(ctx, kind="breach", severity="high", description="shared outside the policy",
                             actor=people.auditor, deployment=DEP)
    assert out["suspended"]
    ctx.store.execute("UPDATE deployments SET state = 'active'")
    with pytest.raises(ApprovalRequiredError, match=f"the ledger's entry {out['ledger_seq']} says suspended"):
        _use(ctx, people)


def test_a_deployment_row_no_ledger_entry_made_is_refused(ctx: Context, people: People, clock: Clock) -> None:
    to_active(ctx, people, clock)
    ctx.store.execute("INSERT INTO deployments SELECT 'ghost' AS name, * EXCLUDE (name) FROM deployments "
                      "WHERE name = ?", [DEP])
    with pytest.raises(ApprovalRequiredError) as caught:
        authorize(ctx, action="forecast.run", actor=people.analyst, purpose="patrol planning", deployment="ghost")
    assert ("the deployments table says 'ghost' is active but the ledger records no state change of 'ghost': the "
            "table was changed outside crimelens") in str(caught.value)


def test_entries_of_a_transaction_that_rolls_back_are_not_remembered(ctx: Context, people: People,
                                                                      clock: Clock) -> None:
    to_active(ctx, people, clock)
    _use(ctx, people)
    with pytest.raises(RuntimeError), ctx.store.transaction():
        gs.suspend(ctx, deployment=DEP, reason="drill", actor=people.sup1)
        ctx.store.execute("UPDATE deployments SET state = 'active'")
        assert ledger_state(ctx, DEP) is not None and ledger_state(ctx, DEP)[1] == "suspended"  # type: ignore[index]
        raise RuntimeError("rolled back")
    assert ledger_state(ctx, DEP) == (_seq(ctx, "deployments.activate"), "active")
    _use(ctx, people)


def test_the_lifecycle_actions_are_the_reports(ctx: Context, people: People, clock: Clock) -> None:
    """The gate and the annual report agree on each deployment's state (one list of lifecycle actions)."""
    from crimelens.governance._report import ledger_state_changes

    to_active(ctx, people, clock)
    gs.suspend(ctx, deployment=DEP, reason="complaint under review", actor=people.sup1)
    changes = ledger_state_changes(ctx.ledger.entries())
    last = [c for c in changes if c["deployment"] == DEP][-1]
    assert ledger_state(ctx, DEP) == (last["seq"], last["to"]) == (_seq(ctx, "deployments.suspend"), "suspended")
