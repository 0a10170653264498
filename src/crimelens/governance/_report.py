"""The public annual report, recomputed from the ledger.

Modelled on San Francisco's Chapter 19B annual surveillance report and the CCOPS
model bill: what was deployed and who approved it, how it was used and for what,
what was shared with whom, how often people overrode it, complaints and
incidents, per-group accuracy from the model cards, and the signed ledger head
the figures were computed against. Every count is computed here from ledger
entries; nothing is read from a counter kept elsewhere, so an auditor who
re-runs the report on a verified ledger gets the same numbers.

The timeline of deployment state changes is the one ``crimelens deployments show``
lists (the ``deployment_events`` rows), each tied to the ledger entry that made the
change, whatever its action: a transition (``deployments.suspend``, ...) and the
automatic suspension an incident report makes (``incidents.report``) alike. A change
whose entry is not among the year's completed entries is not the year's.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jinja2

from crimelens.governance._ledger import LedgerEntry

__all__ = ["FIRST_REPORT_YEAR", "AnnualReport", "build_annual_report", "refusal_category", "render_pdf"]

FIRST_REPORT_YEAR = 2000  # the API takes years from here; no ledger entry can be older

_GOV = ("users.", "models.", "datasheets.", "deployments.", "killswitch.", "review.", "incidents.",
        "complaints.", "ledger.", "report.")


@dataclass(frozen=True, slots=True)
class AnnualReport:
    year: int
    data: Mapping[str, Any]
    html: str


def _is_use(action: str) -> bool:
    return not action.startswith(_GOV)


#: The generic categories a refusal is published under, tried in order: (category, words that put a
#: refusal's reason in it). The reason itself is free text built from the request (case ids, file names,
#: server paths, people's names): it stays in the staff-only ledger and never reaches the public report.
_REFUSAL_CATEGORIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("deployment not active", ("kill switch", "not active", "suspended", "lapsed", "decommissioned",
                               "expected an active deployment")),
    ("not permitted for the role or user", ("may not", "not allowed", "not a registered user", "disabled",
                                            "registered as", "role", "token", "permission")),
    ("purpose or scope outside the use policy", ("purpose", "outside the use policy", "allow-list",
                                                 "allowlist")),
    ("not found", ("not found", "does not exist", "no such", "not registered", "no complaint", "no user",
                   "no evidence items")),
    ("out of order (state or timing)", ("cannot ", "already", "runs ", "quorum", "not open", "not under",
                                        "no renewal", "approval")),
    ("invalid or incomplete request", ("empty", "expected", "got ", "unknown", "missing", "no ", "invalid")),
)


def refusal_category(reason: str) -> str:
    """The generic category the public report gives a refusal, from its reason (never the reason).

    >>> refusal_category("case 'SA-1 (victim Jane Doe)': no evidence items in the store '/srv/g.duckdb'")
    'not found'
    >>> refusal_category("deployment 'hot' is suspended since 2026-03-01 (complaint)")
    'deployment not active'
    """
    low = reason.lower()
    for category, words in _REFUSAL_CATEGORIES:
        if any(w in low for w in words):
            return category
    return "other"


def _state_history(state_changes: Sequence[Mapping[str, Any]],
                   kill_switch_history: Sequence[tuple[int, bool]]) -> Callable[[str | None, int], str | None]:
    """``state_at(deployment, seq)``: the state the deployment was in when entry ``seq`` was written
    (the last change logged before it), ``"kill switch"`` while the global kill switch was engaged,
    or None when nothing is known (no deployment, or no change logged before ``seq``)."""
    by_dep: dict[str, list[tuple[int, str]]] = {}
    for change in sorted(state_changes, key=lambda c: int(c["ledger_seq"])):
        by_dep.setdefault(str(change["deployment"]), []).append((int(change["ledger_seq"]), str(change["to_state"])))
    switches = sorted(kill_switch_history)

    def state_at(deployment: str | None, seq: int) -> str | None:
        if deployment is None:
            return None
        engaged = [on for s, on in switches if s < seq]
        if engaged and engaged[-1]:
            return "kill switch"
        before = [state for s, state in by_dep.get(deployment, []) if s < seq]
        return before[-1] if before else None

    return state_at


def _public_purpose(entry: LedgerEntry, allowed: Mapping[str, frozenset[str]]) -> str:
    """A use's purpose as the public report prints it: a purpose of the deployment's published policy
    as is; any other (research uses type theirs freely) as a category, since it is free text."""
    if entry.deployment is not None and entry.purpose in allowed.get(entry.deployment, frozenset()):
        return entry.purpose
    return "other purpose (free text, withheld)" if entry.purpose else "none given"


def build_annual_report(
    year: int,
    entries: Sequence[tuple[int, LedgerEntry]],
    *,
    deployments: Sequence[Mapping[str, Any]],
    state_changes: Sequence[Mapping[str, Any]],
    cards: Mapping[str, Mapping[str, Any]],
    head: Mapping[str, Any] | None,
    generated_at: datetime,
    kill_switch_history: Sequence[tuple[int, bool]] = (),
    published_purposes: Mapping[str, Sequence[str]] | None = None,
) -> AnnualReport:
    """Compute the report's figures from the year's ledger entries and render them.

    ``state_changes`` are every deployment's state changes as ``deployments show`` lists them
    (``deployment`` plus the columns of ``deployment_events``: ``from_state``, ``to_state``,
    ``by_user``, ``by_role``, ``reason``, ``ledger_seq``); those logged by one of ``entries``
    make the year's timeline, in ledger order, with the action that logged each.

    ``kill_switch_history`` is every completed ``killswitch.*`` entry of the whole ledger as
    ``(seq, engaged)``. With ``state_changes`` it gives the state each review decision was taken
    in: decisions taken while their deployment was not active (suspended, decommissioned, ...) or
    the global kill switch was engaged are listed apart (``review_while_not_active``; since such
    accepts and overrides are refused, these come from ledgers written before the refusal existed),
    and accepts and overrides refused for that reason are counted (``review_refused_not_active``).
    """
    uses: Counter[tuple[str, str, str]] = Counter()
    refusals: Counter[tuple[str, str]] = Counter()
    allowed_purposes = {d: frozenset(p) for d, p in (published_purposes or {}).items()}
    ledger_exports = 0
    answered: set[str] = set()
    effective_votes: dict[tuple[str, int, str], dict[str, Any]] = {}
    n_votes_cast = 0
    refusal_actions: Counter[str] = Counter()
    sharing: Counter[tuple[str, str]] = Counter()
    decisions: Counter[str] = Counter()
    overrides_by_dep: Counter[str] = Counter()
    events: list[dict[str, Any]] = []
    incidents: list[dict[str, Any]] = []
    complaints_filed: Counter[str] = Counter()
    kill_switch: list[dict[str, Any]] = []
    comments: Counter[tuple[str, str]] = Counter()
    refused_inactive: Counter[str] = Counter()
    review_inactive: list[dict[str, Any]] = []
    state_at = _state_history(state_changes, kill_switch_history)
    n_ok = n_refused = 0
    for seq, e in entries:
        if e.outcome == "refused":
            n_refused += 1
            refusals[(e.action, refusal_category(str(e.detail.get("reason", ""))))] += 1
            refusal_actions[e.action] += 1
            if e.action == "review.decide" and e.detail.get("deployment_state"):
                refused_inactive[str(e.detail.get("decision"))] += 1
            continue
        n_ok += 1
        a = e.action
        if _is_use(a):
            uses[(e.deployment or "research (no deployment)", _public_purpose(e, allowed_purposes), a)] += 1
            recipient = e.detail.get("recipient") if isinstance(e.detail, Mapping) else None
            if recipient or a.endswith((".share", ".export")):  # outputs leaving crimelens
                sharing[(e.deployment or "-", str(recipient or "unspecified"))] += 1
        elif a == "ledger.export":
            ledger_exports += 1  # the audit trail itself, for oversight: not a sharing of outputs
        if a == "review.decide" and e.decision:
            decisions[str(e.decision.get("decision"))] += 1
            if e.decision.get("decision") == "override":
                overrides_by_dep[e.deployment or "-"] += 1
            state = state_at(e.deployment, seq)
            # a rejection makes nothing actionable: it is allowed in any state, so it is not listed here
            if state is not None and state != "active" and e.decision.get("decision") != "reject":
                review_inactive.append({"seq": seq, "at": e.at.isoformat(timespec="seconds"),
                                        "deployment": e.deployment, "item_id": e.decision.get("item_id"),
                                        "decision": e.decision.get("decision"), "by": e.user, "state": state})
        elif a == "deployments.comment":
            comments[(e.deployment or "-", str(e.detail.get("stage", "public")))] += 1
        elif a == "deployments.board_comment":
            comments[(e.deployment or "-", "board")] += 1
        elif a == "deployments.vote" and e.decision:
            # a later vote by the same member in the same review round replaces theirs (as close_review counts)
            n_votes_cast += 1
            key = (e.deployment or "-", int(e.decision.get("round") or 0), e.user)
            effective_votes.pop(key, None)
            effective_votes[key] = {"seq": seq, "deployment": e.deployment, "round": key[1], "voter": e.user,
                                    "vote": e.decision.get("vote")}
        elif a == "incidents.report":
            incidents.append({"seq": seq, "at": e.at.isoformat(timespec="seconds"), "deployment": e.deployment,
                              "kind": e.detail.get("kind"), "severity": e.detail.get("severity"),
                              "suspended": e.detail.get("suspended")})
        elif a == "complaints.file":
            complaints_filed[e.deployment or "-"] += 1
        elif a == "complaints.respond":
            answered.add(str(e.detail.get("complaint_id")))  # complaints answered, not answers written
        elif a in ("killswitch.engage", "killswitch.release"):
            kill_switch.append({"seq": seq, "at": e.at.isoformat(timespec="seconds"), "action": a,
                                "by": e.user, "reason": e.detail.get("reason")})
    logged = {seq: e for seq, e in entries if e.outcome == "ok"}
    for change in sorted(state_changes, key=lambda c: int(c["ledger_seq"])):
        entry = logged.get(int(change["ledger_seq"]))
        if entry is None:
            continue  # logged in another year
        events.append({"seq": int(change["ledger_seq"]), "at": entry.at.isoformat(timespec="seconds"),
                       "deployment": change["deployment"], "from": change["from_state"], "to": change["to_state"],
                       "by": f"{change['by_user']} ({change['by_role']})", "reason": change["reason"],
                       "action": entry.action})
    groups = {name: card.get("sections", {}).get("quantitative_analyses", {}) for name, card in cards.items()}
    year_end = datetime(year + 1, 1, 1, tzinfo=UTC)
    complete = generated_at >= year_end
    data: dict[str, Any] = {
        "year": year,
        "generated_at": generated_at.isoformat(timespec="seconds"),
        # a report of the current year runs to the moment it was made; it says so
        "covers": {"start": f"{year}-01-01", "end": (year_end - timedelta(days=1)).date().isoformat() if complete
                   else generated_at.isoformat(timespec="seconds"), "complete": complete},
        "entries": {"total": len(entries), "ok": n_ok, "refused": n_refused},
        "deployments": [{k: (str(v) if v is not None else None) for k, v in d.items()} for d in deployments],
        "deployment_events": events,
        "votes": sorted(effective_votes.values(), key=lambda v: int(v["seq"])),
        "votes_cast": n_votes_cast,
        "comments": [{"deployment": d, "public": comments[(d, "public")], "renewal": comments[(d, "renewal")],
                      "board": comments[(d, "board")]} for d in sorted({d for d, _ in comments})],
        "uses": [{"deployment": d, "purpose": p, "action": a, "n": n} for (d, p, a), n in sorted(uses.items())],
        "refusals": [{"action": a, "category": c, "n": n} for (a, c), n in sorted(refusals.items())],
        "refusals_by_action": dict(sorted(refusal_actions.items())),
        "sharing": [{"deployment": d, "recipient": r, "n": n} for (d, r), n in sorted(sharing.items())],
        "ledger_exports": ledger_exports,
        "review_decisions": dict(sorted(decisions.items())),
        "overrides_by_deployment": dict(sorted(overrides_by_dep.items())),
        "review_while_not_active": review_inactive,
        "review_while_not_active_by_decision": dict(sorted(Counter(str(r["decision"]) for r in review_inactive).items())),
        "review_refused_not_active": dict(sorted(refused_inactive.items())),
        "complaints": {"filed": sum(complaints_filed.values()), "by_deployment": dict(complaints_filed),
                       "answered": len(answered)},
        "incidents": incidents,
        "kill_switch": kill_switch,
        "group_metrics": groups,
        "ledger_head": dict(head) if head else None,
    }
    return AnnualReport(year, data, _TEMPLATE.render(d=data))


_ENV = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
_TEMPLATE = _ENV.from_string(
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>crimelens annual report {{ d.year }}</title>
<style>body{font-family:system-ui,sans-serif;max-width:64rem;margin:2rem auto;line-height:1.45}
table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #999;padding:.2rem .5rem;text-align:left}
code{word-break:break-all}</style></head><body>
<h1>Annual report {{ d.year }}</h1>
<p>Generated {{ d.generated_at }} from the usage ledger. Every figure below is counted from ledger entries;
anyone with the ledger can recompute it (<code>crimelens report annual --year {{ d.year }}</code>) after
verifying it (<code>crimelens ledger verify</code>).</p>
<p>Covers {{ d.covers.start }} to {{ d.covers.end }}{% if not d.covers.complete %}: the year is not over,
so every figure runs to the moment this report was generated{% endif %}.</p>
<p>Ledger entries in {{ d.year }}: {{ d.entries.total }} ({{ d.entries.ok }} completed, {{ d.entries.refused }} refused).</p>

<h2>Deployments and their approvals</h2>
<table><tr><th>deployment</th><th>model</th><th>version</th><th>state</th><th>approved until</th></tr>
{% for x in d.deployments %}<tr><td>{{ x.name }}</td><td>{{ x.model }}</td><td>{{ x.model_version }}</td><td>{{ x.state }}</td><td>{{ x.approved_until or "" }}</td></tr>{% endfor %}
</table>
<h3>Decisions this year</h3>
<table><tr><th>entry</th><th>when</th><th>deployment</th><th>from</th><th>to</th><th>by</th><th>reason</th><th>logged as</th></tr>
{% for x in d.deployment_events %}<tr><td>{{ x.seq }}</td><td>{{ x.at }}</td><td>{{ x.deployment }}</td><td>{{ x.from }}</td><td>{{ x.to }}</td><td>{{ x.by }}</td><td>{{ x.reason or "" }}</td><td>{{ x.action }}</td></tr>{% endfor %}
</table>
<h3>Board votes</h3>
<p>Each member's vote as counted in each review round (a later vote replaces the member's earlier one in
the same round); {{ d.votes_cast }} votes were cast in all.</p>
<table><tr><th>entry</th><th>deployment</th><th>round</th><th>member</th><th>vote</th></tr>
{% for x in d.votes %}<tr><td>{{ x.seq }}</td><td>{{ x.deployment }}</td><td>{{ x.round }}</td><td>{{ x.voter }}</td><td>{{ x.vote }}</td></tr>{% endfor %}
</table>

<h3>Comments</h3>
<table><tr><th>deployment</th><th>public comments (before approval)</th><th>public comments on a renewal</th><th>board comments</th></tr>
{% for x in d.comments %}<tr><td>{{ x.deployment }}</td><td>{{ x.public }}</td><td>{{ x.renewal }}</td><td>{{ x.board }}</td></tr>{% else %}<tr><td colspan="4">none</td></tr>{% endfor %}
</table>

<h2>Uses by purpose</h2>
<table><tr><th>deployment</th><th>purpose</th><th>action</th><th>uses</th></tr>
{% for x in d.uses %}<tr><td>{{ x.deployment }}</td><td>{{ x.purpose }}</td><td>{{ x.action }}</td><td>{{ x.n }}</td></tr>{% endfor %}
</table>
<h3>Refused requests</h3>
<p>By action and a generic category; the reasons themselves (which can name cases, files and people)
stay in the staff ledger.</p>
<table><tr><th>action</th><th>category</th><th>n</th></tr>
{% for x in d.refusals %}<tr><td>{{ x.action }}</td><td>{{ x.category }}</td><td>{{ x.n }}</td></tr>{% endfor %}
</table>

<h2>Sharing</h2>
<table><tr><th>deployment</th><th>recipient</th><th>n</th></tr>
{% for x in d.sharing %}<tr><td>{{ x.deployment }}</td><td>{{ x.recipient }}</td><td>{{ x.n }}</td></tr>{% endfor %}
</table>
<p>Ledger exports (the audit trail, for oversight; not a sharing of outputs): {{ d.ledger_exports }}.</p>

<h2>Human review</h2>
<table><tr><th>decision</th><th>n</th></tr>
{% for k, v in d.review_decisions.items() %}<tr><td>{{ k }}</td><td>{{ v }}</td></tr>{% endfor %}
</table>
<p>Overrides by deployment: {% for k, v in d.overrides_by_deployment.items() %}{{ k }}: {{ v }}{% if not loop.last %}, {% endif %}{% else %}none{% endfor %}.</p>
<p>Accepts and overrides refused because their deployment was not active (suspended, decommissioned,
lapsed, or under the global kill switch): {% for k, v in d.review_refused_not_active.items() %}{{ k }}: {{ v }}{% if not loop.last %}, {% endif %}{% else %}none{% endfor %}.</p>
<p>Accepts and overrides taken while their deployment was not active (rejections, always allowed, are not listed): {{ d.review_while_not_active | length }}{% if d.review_while_not_active %} ({% for k, v in d.review_while_not_active_by_decision.items() %}{{ k }}: {{ v }}{% if not loop.last %}, {% endif %}{% endfor %}).
An accept or override taken then made an output actionable that should not have been; crimelens now refuses them.</p>
<table><tr><th>entry</th><th>when</th><th>deployment</th><th>item</th><th>decision</th><th>by</th><th>deployment state</th></tr>
{% for x in d.review_while_not_active %}<tr><td>{{ x.seq }}</td><td>{{ x.at }}</td><td>{{ x.deployment }}</td><td>{{ x.item_id }}</td><td>{{ x.decision }}</td><td>{{ x.by }}</td><td>{{ x.state }}</td></tr>{% endfor %}
</table>{% else %}.</p>{% endif %}

<h2>Complaints</h2>
<p>Filed: {{ d.complaints.filed }}; answered: {{ d.complaints.answered }}.</p>

<h2>Incidents and suspensions</h2>
<table><tr><th>entry</th><th>when</th><th>deployment</th><th>kind</th><th>severity</th><th>suspended</th></tr>
{% for x in d.incidents %}<tr><td>{{ x.seq }}</td><td>{{ x.at }}</td><td>{{ x.deployment or "" }}</td><td>{{ x.kind }}</td><td>{{ x.severity }}</td><td>{{ x.suspended }}</td></tr>{% endfor %}
</table>
{% if d.kill_switch %}<h3>Global kill switch</h3><ul>{% for x in d.kill_switch %}<li>{{ x.at }} {{ x.action }} by {{ x.by }}: {{ x.reason }}</li>{% endfor %}</ul>{% endif %}

<h2>Accuracy per group (from the model cards)</h2>
{% for dep, factors in d.group_metrics.items() %}<h3>{{ dep }}</h3>
{% if not factors %}<p>No per-group results were measured.</p>{% endif %}
{% for factor, groups in factors.items() %}<h4>{{ factor }}</h4><table>
{% for g, vals in groups.items() %}<tr><th>{{ g }}</th>{% for m, v in vals.items() %}<td>{{ m }} = {{ v }}</td>{% endfor %}</tr>{% endfor %}
</table>{% endfor %}{% endfor %}

<h2>Signed ledger head</h2>
{% if d.ledger_head %}<p>Tree size {{ d.ledger_head.tree_size }}, root <code>{{ d.ledger_head.root_hash }}</code>,
signed with key {{ d.ledger_head.key_id }} (public key <code>{{ d.ledger_head.public_key }}</code>),
signature <code>{{ d.ledger_head.signature }}</code>.</p>{% else %}<p>The ledger is empty.</p>{% endif %}
</body></html>
"""
)


_PDF_FONTS = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
    Path("/usr/share/fonts/TTF/DejaVuSans.ttf"),
)


def render_pdf(report: AnnualReport) -> bytes | None:
    """The report as PDF through fpdf2 (pure Python, from PyPI); None when it is not installed.

    The layout is the HTML report's, simplified (no stylesheet). With a DejaVu font on the
    system every character prints; without one, characters outside Latin-1 become '?'.
    """
    try:
        from fpdf import FPDF
    except ImportError:
        return None
    html = report.html
    body = html[html.index("<body>") + len("<body>") : html.index("</body>")]
    body = body.replace("<code>", "").replace("</code>", "").replace("<table>", '<table border="1" width="100%">')
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    font = next((f for f in _PDF_FONTS if f.exists()), None)
    if font is not None:
        pdf.add_font("DejaVu", "", str(font))
        bold = font.with_name("DejaVuSans-Bold.ttf")
        if bold.exists():
            pdf.add_font("DejaVu", "B", str(bold))
        pdf.set_font("DejaVu", size=9)
        family = "DejaVu"
    else:
        body = body.encode("latin-1", "replace").decode("latin-1")
        pdf.set_font("Helvetica", size=9)
        family = "Helvetica"
    pdf.write_html(body, font_family=family)
    return bytes(pdf.output())
