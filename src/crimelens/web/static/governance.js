"use strict";
(async () => {
  const s = CL.whoami(); if (!s) return;
  const short = (v, n = 16) => String(v || "").slice(0, n);
  /* What the caller's role may do (`may` from /api/me): only those controls are offered; the server checks
     every call anyway. Without `may` (an older server) every control is offered, as before. */
  const me = await CL.me();
  const may = me && Array.isArray(me.may) ? new Set(me.may) : null;
  const role = (me && me.role) || s.role;
  const can = (action, roles) => (may ? may.has(action) : (!roles || roles.includes(role)));
  const stepAction = (st) => "deployments." + st.replace(/-/g, "_");
  const ALL_STEPS = ["open-comment", "start-review", "close-review", "activate", "suspend", "resume", "open-renewal", "renew", "decommission", "revise"];
  /* Lifecycle steps offered in each state (the server checks the role and refuses, logged, otherwise). */
  const STEPS = {
    approved: ["activate", "decommission"], active: ["suspend", "open-renewal", "renew", "decommission"],
    suspended: ["resume", "open-renewal", "renew", "decommission"],
    rejected: ["revise", "decommission"], draft: ["open-comment", "decommission"],
    public_comment: ["start-review", "decommission"], board_review: ["close-review", "decommission"]};
  /* The state as stored, and what it means now when that differs (kill switch engaged, approval lapsed). */
  const stateText = (x) => x.effective_state && x.effective_state !== x.state ? `${x.state} — ${x.effective_state}` : x.state;
  let current = null;
  const result = (html) => { CL.el("dep-result").innerHTML = html; };
  async function show(name) {
    const d = (await CL.api(`/api/deployments/${encodeURIComponent(name)}`)).deployment;
    if (current !== d.name) CL.el("assess-result").innerHTML = "";
    current = d.name;
    for (const tr of CL.el("deployments").querySelectorAll("tbody tr[data-name]")) tr.classList.toggle("here", tr.dataset.name === d.name);
    const rec = CL.el("record"); rec.hidden = false; rec.innerHTML = CL.deploymentRecord(d);
    assessForm(d);
    const inState = (STEPS[d.state] || []).filter((st) => st !== (d.renewal_opened_at ? "open-renewal" : "renew"));
    const steps = inState.filter((st) => can(stepAction(st)));
    CL.el("dep-actions").hidden = steps.length === 0;
    CL.el("step-buttons").innerHTML = steps.map((st) => `<button type="button" class="step" data-step="${st}">${st.replace(/-/g, " ")}</button>`).join(" ");
    for (const b of CL.el("step-buttons").querySelectorAll("button.step")) b.addEventListener("click", () => step(b.dataset.step));
    const review = d.state === "board_review", voting = review && can("deployments.vote"), commenting = review && can("deployments.board_comment");
    CL.el("board-form").hidden = !(voting || commenting);
    CL.el("board-vote-part").hidden = !voting; CL.el("board-comment-part").hidden = !commenting;
    const ro = CL.el("dep-readonly");
    ro.hidden = steps.length > 0 || voting || commenting;
    ro.textContent = !inState.length ? `No lifecycle step follows from ${d.state}.`
      : !ALL_STEPS.some((st) => can(stepAction(st))) && !can("deployments.vote") && !can("deployments.board_comment")
        ? "Your role reads this record; it cannot change it."
        : `Your role takes no step from ${d.state.replace(/_/g, " ")}: ${inState.map((st) => st.replace(/-/g, " ")).join(", ")} ${inState.length === 1 ? "is" : "are"} for other roles.`;
    document.body.dataset.shown = `${d.name}:${d.state}`;
  }
  /* Proposing a deployment and answering its impact assessment, for the roles whose `may` has
     deployments.create / deployments.assess (the same as `crimelens deployments create / assess`). The
     questions, the use policy's defaults and the floors come from /api/deployments-questionnaire, the
     registered models from /api/models; the server checks every value and the page shows its answer. */
  const proposing = can("deployments.create", ["analyst", "supervisor", "admin"]);
  const assessing = can("deployments.assess", ["analyst", "supervisor", "admin"]);
  let quest = null, registered = [];
  const split = (v) => String(v || "").split(",").map((x) => x.trim()).filter(Boolean);
  const words = (v) => String(v).replace(/_/g, " ");
  function proposalForm() {
    const p = quest.policy_defaults;
    CL.el("p-model").innerHTML = registered.map((m, i) => `<option value="${i}">${CL.esc(m.name)} ${CL.esc(m.version)}</option>`).join("")
      || `<option value="" disabled selected>no registered model: register one first (crimelens models register, or forecast backtest --register)</option>`;
    CL.el("p-send").disabled = registered.length === 0;
    CL.el("p-roles").innerHTML = "<legend>Allowed roles</legend>" + quest.roles.map((r) => `<label><input type="checkbox" name="p-role" value="${CL.esc(r)}"${(p.allowed_roles || []).includes(r) ? " checked" : ""}> ${CL.esc(r)}</label>`).join("");
    CL.el("p-retention").innerHTML = "<legend>Keep outputs and inputs (days)</legend>" + Object.entries(p.retention_days || {}).map(([k, v]) => `<label>${CL.esc(words(k))} <input type="number" min="0" step="1" required data-key="${CL.esc(k)}" value="${CL.esc(v)}"></label>`).join("");
    CL.el("p-comment-days").value = p.min_comment_days; CL.el("p-quorum").value = p.board_quorum;
    CL.el("p-approval-days").value = p.approval_days; CL.el("p-two-person").checked = !!p.two_person_rule;
    CL.el("p-actionable").value = (p.actionable_actions || []).join(", ");
    CL.el("p-floors").textContent = `The rules raise a comment period shorter than ${quest.floors.min_comment_days} days to ${quest.floors.min_comment_days}, and a quorum below ${quest.floors.board_quorum} to that majority: a policy can lengthen the process, never shorten it. When the model card names the dataset and offence its figures were measured on, the deployment is limited to them.`;
    CL.el("propose").hidden = false;
  }
  CL.el("propose-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const out = CL.el("propose-result"), m = registered[Number(CL.el("p-model").value)];
    const name = CL.el("p-name").value.trim();
    const retention = {};
    for (const i of CL.el("p-retention").querySelectorAll("input[data-key]")) retention[i.dataset.key] = Number(i.value);
    const policy = {
      allowed_purposes: split(CL.el("p-purposes").value),
      allowed_roles: [...CL.el("p-roles").querySelectorAll("input:checked")].map((i) => i.value),
      retention_days: retention, min_comment_days: Number(CL.el("p-comment-days").value),
      board_quorum: Number(CL.el("p-quorum").value), approval_days: Number(CL.el("p-approval-days").value),
      two_person_rule: CL.el("p-two-person").checked, actionable_actions: split(CL.el("p-actionable").value)};
    try {
      if (!m) throw new Error("Choose a registered model and version.");
      await CL.api("/api/deployments", {method: "POST", body: {name, model: m.name, model_version: m.version, description: CL.el("p-description").value.trim(), policy}});
      CL.clearError();
      out.innerHTML = `<span class="ok" id="propose-ok">${CL.esc(name)} is proposed as a draft of ${CL.esc(m.name)} ${CL.esc(m.version)}.${assessing ? " Answer its impact assessment below." : ""}</span>`;
      await deployments(); await show(name); await ledger();
      CL.el("record").scrollIntoView();
    } catch (e) { out.innerHTML = `<span class="bad" id="propose-bad">${CL.esc(e.message)}</span>`; CL.showError(e.message); }
  });
  function assessForm(d) {
    const form = CL.el("assess-form");
    form.hidden = !(assessing && quest && d.state === "draft");
    if (form.hidden) return;
    const given = (d.assessment && d.assessment.answers) || {};
    CL.el("assess-scoring").textContent = `${d.assessment ? `Made: level ${d.assessment.level}. Answering again replaces it while ${d.name} is a draft. ` : ""}Scored by ${quest.scoring}. Each answer's score is in brackets; the ledger records who answered what.`;
    CL.el("assess-questions").innerHTML = quest.questions.map((q) => `<fieldset class="question" data-qid="${CL.esc(q.id)}"><legend>${CL.esc(q.text)} <span class="muted">(${CL.esc(q.kind)})</span></legend>${q.choices.map((c) => `<label><input type="radio" name="aia-${CL.esc(q.id)}" value="${CL.esc(c.answer)}" required${given[q.id] === c.answer ? " checked" : ""}> ${CL.esc(words(c.answer))} <span class="muted">(${CL.esc(c.score)})</span></label>`).join("")}</fieldset>`).join("");
  }
  CL.el("assess-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const out = CL.el("assess-result"), answers = {};
    for (const q of quest.questions) {
      const c = CL.el("assess-questions").querySelector(`input[name="aia-${CSS.escape(q.id)}"]:checked`);
      if (c) answers[q.id] = c.value;
    }
    const open = quest.questions.filter((q) => !(q.id in answers)).map((q) => q.id);
    if (open.length) { out.innerHTML = `<span class="bad">Answer every question: ${CL.esc(open.join(", "))} ${open.length === 1 ? "is" : "are"} unanswered.</span>`; return; }
    try {
      const a = (await CL.api(`/api/deployments/${encodeURIComponent(current)}/assessment`, {method: "PUT", body: {answers}})).assessment;
      CL.clearError();
      out.innerHTML = `<p class="ok" id="assess-ok">Impact level <span id="assess-level">${CL.esc(a.level)}</span>: score <span id="assess-score">${CL.esc(a.score)}</span> of ${CL.esc(a.max_raw_score)} (${CL.esc(CL.fmt(a.score_pct, 1))} %); mitigation ${CL.esc(a.mitigation_score)} of ${CL.esc(a.max_mitigation_score)}${a.mitigation_applied ? ", which reduced the score by 15 %" : ", short of the 80 % that would reduce the score"}.</p><p>Required controls: ${CL.esc(a.required_controls.map(words).join(", "))}. The board cannot approve while the policy lacks one (human review needs an actionable action; the two-person rule needs it ticked).</p>`;
      await show(current); await ledger();
    } catch (e) { out.innerHTML = `<span class="bad" id="assess-bad">${CL.esc(e.message)}</span>`; CL.showError(e.message); }
  });
  async function step(st) {
    const reason = CL.el("step-reason").value.trim();
    try {
      const path = st === "suspend" ? `/api/deployments/${encodeURIComponent(current)}/suspend` : `/api/deployments/${encodeURIComponent(current)}/transitions/${st}`;
      const r = await CL.api(path, {method: "POST", body: st === "suspend" ? {reason} : {reason: reason || null}});
      const dep = r.deployment || {}, stays = dep.state === "active" ? "it stays active" : `it stays ${CL.esc(dep.state)}`;
      /* open-renewal and renew keep the state: say what they did, not "is now <the same state>" */
      const said = st === "open-renewal" ? `The renewal of ${CL.esc(current)} is open for public comment; ${stays}${dep.state === "suspended" ? " until it is resumed" : ""}.`
        : st === "renew" ? `${CL.esc(current)} is renewed${dep.approved_until ? " until " + CL.esc(CL.utcTime(dep.approved_until)) : ""}; ${stays}.`
        : `${CL.esc(current)} is now ${CL.esc(dep.state)}.`;
      result(`<span class="ok" id="step-ok">${said}</span>`);
      await deployments(); await show(current); await ledger();
    } catch (e) { result(`<span class="bad">${CL.esc(e.message)}</span>`); }
  }
  async function boardCall(path, body, what) {
    try {
      const r = await CL.api(`/api/deployments/${encodeURIComponent(current)}/${path}`, {method: "POST", body});
      result(`<span class="ok" id="board-ok">${what} recorded: ledger entry #${r.ledger_seq}.</span>`);
      await show(current); await ledger();
    } catch (e) { result(`<span class="bad">${CL.esc(e.message)}</span>`); }
  }
  CL.el("board-comment").addEventListener("click", () => boardCall("board-comments", {body: CL.el("board-body").value}, "Comment"));
  CL.el("vote-send").addEventListener("click", () => boardCall("votes", {vote: CL.el("vote").value, reason: CL.el("vote-reason").value.trim() || null}, "Vote"));
  async function deployments() {
    const d = await CL.api("/api/deployments?limit=100");
    const body = CL.el("deployments").querySelector("tbody");
    body.innerHTML = d.items.map((x) => `<tr data-name="${CL.esc(x.name)}"><td>${CL.esc(x.name)}</td><td>${CL.esc(x.model)} ${CL.esc(x.model_version)}</td><td class="${x.effective_state === "active" ? "ok" : (x.effective_state !== x.state ? "bad" : "")}">${CL.esc(stateText(x))}</td><td>${CL.esc(CL.utcTime(x.state_changed_at))}</td><td>${CL.esc(x.state_reason)}</td><td>${CL.esc(x.approved_until ? CL.utcTime(x.approved_until) : "—")}</td><td><button type="button" class="secondary open">Open</button></td></tr>`).join("") || `<tr><td colspan="7">No deployments: every use is research use.</td></tr>`;
    for (const tr of body.querySelectorAll("tr[data-name]")) tr.querySelector(".open").addEventListener("click", () => show(tr.dataset.name).catch((e) => CL.showError(e.message)));
    const ks = d.items.length ? d.items[0].kill_switch : null;
    const ksEl = CL.el("kill-state"); ksEl.hidden = !(ks && ks.engaged);
    ksEl.textContent = ks && ks.engaged ? `Global kill switch engaged since ${CL.utcTime(ks.since)} by ${ks.by} (${ks.reason}): every deployment is refused.` : "";
    const act = d.items.filter((x) => x.effective_state === "active").map((x) => `${x.name}: ${x.model} ${x.model_version}`);
    CL.provenance({model: act.length ? "active deployments — " + act.join("; ") : "no active deployment"});
  }
  async function complaints() {
    const c = await CL.api("/api/complaints?limit=100");
    const body = CL.el("complaints").querySelector("tbody");
    body.innerHTML = c.items.map((x) => `<tr data-complaint="${CL.esc(x.complaint_id)}"><td>${CL.esc(x.complaint_id)}</td><td>${CL.esc(CL.utcTime(x.filed_at))}</td><td>${CL.esc(x.complainant)}</td><td>${CL.esc(x.deployment || "—")}</td><td>${CL.esc((x.entry_seqs || []).join(", ") || "—")}</td><td>${CL.esc(x.body)}</td>
      <td>${x.status === "answered" ? `<span class="ok">answered</span>: ${CL.esc(x.response)}` : !can("complaints.respond", ["admin", "board"]) ? `<span class="muted">${CL.esc(x.status || "open")}: waiting for the board's answer</span>` : `<label class="visually-hidden" for="response-${CL.esc(x.complaint_id)}">Answer to complaint ${CL.esc(x.complaint_id)}</label><input class="response" id="response-${CL.esc(x.complaint_id)}" placeholder="response" size="28"> <button type="button" class="respond">Answer</button>`}</td></tr>`).join("") || `<tr><td colspan="7">No complaints.</td></tr>`;
    for (const tr of body.querySelectorAll("tr[data-complaint]")) {
      const b = tr.querySelector(".respond"); if (!b) continue;
      b.addEventListener("click", async () => {
        try { await CL.api(`/api/complaints/${encodeURIComponent(tr.dataset.complaint)}/response`, {method: "POST", body: {response: tr.querySelector(".response").value}}); await complaints(); await ledger(); }
        catch (e) { CL.showError(e.message); }
      });
    }
  }
  async function purge(dry) {
    if (!dry && !confirm("Delete every deployment output older than its policy's retention? The ledger entries stay.")) return;
    const out = CL.el("purge-result"); out.hidden = false;
    try {
      const r = (await CL.api("/api/retention/purge", {method: "POST", body: {dry_run: dry}})).report;
      out.textContent = `${dry ? "Due for deletion" : "Deleted"}: ${r.n_outputs} outputs (ledger entry #${r.ledger_seq})\n` + r.deployments.map((d) => `${d.deployment}: keep ${d.retention_days ?? "forever"} days${d.cutoff ? ", before " + d.cutoff.slice(0, 10) : ""}: ${d.purged.length} outputs ${d.purged.map((p) => p.action + " " + p.output_id).join(", ")}`).join("\n");
      await ledger();
    } catch (e) { out.textContent = e.message; }
  }
  {
    const purging = can("deployments.purge", ["admin"]), engage = can("killswitch.engage", ["supervisor", "admin", "board"]);
    const release = can("killswitch.release", ["admin", "board"]);
    CL.el("purge-dry").hidden = CL.el("purge-run").hidden = !purging;
    CL.el("kill-on").hidden = !engage; CL.el("kill-off").hidden = !release; CL.el("kill-reason-label").hidden = !(engage || release);
    CL.el("retention-actions").hidden = !(purging || engage || release);
    const ro = CL.el("retention-readonly"); ro.hidden = purging && engage && release;
    const says = (p, on, off) => [p && "purge outputs past retention", on && off ? "engage and release the kill switch" : on ? "engage the kill switch" : off ? "release the kill switch" : ""].filter(Boolean).join(" and ");
    ro.textContent = !(purging || engage || release) ? "Your role reads the kill switch's state; it cannot purge outputs or engage or release the switch."
      : `Your role may ${says(purging, engage, release)}; it may not ${says(!purging, !engage, !release)}.`;
  }
  CL.el("purge-dry").addEventListener("click", () => purge(true));
  CL.el("purge-run").addEventListener("click", () => purge(false));
  for (const [id, engaged] of [["kill-on", true], ["kill-off", false]]) CL.el(id).addEventListener("click", async () => {
    try { await CL.api("/api/killswitch", {method: "POST", body: {engaged, reason: CL.el("kill-reason").value}}); result(`<span class="ok">Global kill switch ${engaged ? "engaged: every deployment is refused" : "released"}.</span>`); await deployments(); await ledger(); }
    catch (e) { result(`<span class="bad">${CL.esc(e.message)}</span>`); }
  });
  if (!can("store.backup", ["admin"])) {  // the server refuses (and logs) anyone else; do not offer what the role cannot do
    CL.el("backup-form").hidden = true; CL.el("backup-result").textContent = "Administrators only.";
  }
  CL.el("backup-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const out = CL.el("backup-result");
    out.textContent = "writing and checking the backup…";
    try {
      const b = (await CL.api("/api/store/backup", {method: "POST", body: {folder: CL.el("backup-folder").value.trim(), include_key: CL.el("backup-key").checked}})).backup;
      out.innerHTML = `<span class="ok" id="backup-ok">Backup written and checked in ${CL.esc(b.folder)}: ${Object.values(b.tables).reduce((a, n) => a + n, 0).toLocaleString()} rows, ledger of ${b.ledger_entries} entries (root ${CL.esc(short(b.ledger_root))}…), ${b.evidence_files} evidence files; ledger entry #${b.ledger_seq}.</span>`;
      await ledger();
    } catch (e) { out.innerHTML = `<span class="bad">${CL.esc(e.message)}</span>`; }
  });
  async function users() {
    const body = CL.el("users").querySelector("tbody");
    const admin = can("users.add", ["admin"]);
    CL.el("user-form").hidden = !admin;
    if (!can("users.list", ["admin", "supervisor", "board", "auditor"])) {  // users.list is for administrators, supervisors, the board and auditors
      CL.el("users").hidden = true; CL.el("user-result").textContent = "Shown to administrators, supervisors, the board and auditors."; return;
    }
    const u = await CL.api("/api/users?limit=1000");
    body.innerHTML = u.items.map((x) => `<tr data-user="${CL.esc(x.name)}"><td>${CL.esc(x.name)}</td><td>${CL.esc(x.role)}</td><td>${x.active ? "yes" : "<b>disabled</b>"}</td><td>${CL.esc(short(x.created_at, 10))}</td><td>${CL.esc(x.created_by)}</td><td>${x.active && x.name !== ((me && me.user) || s.user) ? [can("users.rotate_token", ["admin"]) ? `<button type="button" class="secondary rotate">New token</button>` : "", can("users.disable", ["admin"]) ? `<button type="button" class="secondary disable">Disable</button>` : ""].filter(Boolean).join(" ") : ""}</td></tr>`).join("");
    body.querySelectorAll("button.rotate").forEach((b) => b.addEventListener("click", async () => {
      const name = b.closest("tr").dataset.user;
      try { const r = await CL.api(`/api/users/${encodeURIComponent(name)}/token`, {method: "POST"}); showToken(name, r.token, "New token"); await ledger(); }
      catch (e) { CL.el("user-result").innerHTML = `<span class="bad">${CL.esc(e.message)}</span>`; }
    }));
    body.querySelectorAll("button.disable").forEach((b) => b.addEventListener("click", async () => {
      const name = b.closest("tr").dataset.user;
      if (!confirm(`Disable ${name}? Their token stops working at once.`)) return;
      try { await CL.api(`/api/users/${encodeURIComponent(name)}/disable`, {method: "POST"}); await users(); CL.el("user-result").innerHTML = `<span class="ok">${CL.esc(name)} disabled.</span>`; await ledger(); }
      catch (e) { CL.el("user-result").innerHTML = `<span class="bad">${CL.esc(e.message)}</span>`; }
    }));
  }
  function showToken(name, token, what) {
    CL.el("user-result").innerHTML = `<p class="ok">${CL.esc(what)} for ${CL.esc(name)}, shown this once: copy it now and hand it over in person.</p><pre id="user-token">${CL.esc(token)}</pre>`;
  }
  CL.el("user-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const name = CL.el("user-name").value.trim();
    try {
      const r = await CL.api("/api/users", {method: "POST", body: {name, role: CL.el("user-role").value}});
      CL.el("user-form").reset(); await users(); showToken(name, r.token, `Added as ${r.user.role}; API token`); await ledger();
    } catch (e) { CL.el("user-result").innerHTML = `<span class="bad">${CL.esc(e.message)}</span>`; }
  });
  async function limits() {
    const body = CL.el("limits").querySelector("tbody");
    if (!can("limits.view", ["admin", "auditor"])) {  // a refused view would be a ledger entry on every page load
      CL.el("limits-budgets").textContent = "Shown to administrators and auditors."; CL.el("limits").hidden = true; return;
    }
    try {
      const l = await CL.api("/api/limits?limit=20");
      CL.el("limits-budgets").textContent = Object.entries(l.budgets).map(([k, b]) => `${k.replace(/_/g, " ")}: ${b.enabled ? `${b.limit} per ${b.per}` : "no limit"} (${b.addresses_seen} addresses seen)`).join(" · ") + ` · refusals answered after ${l.refusal_delay_s} s`;
      body.innerHTML = l.refused.map((r) => `<tr><td>${CL.esc(r.budget.replace(/_/g, " "))}</td><td><code>${CL.esc(r.address)}</code></td><td>${r.refused}</td></tr>`).join("") || `<tr><td colspan="3">No address has been refused since the server started.</td></tr>`;
    } catch (e) { CL.el("limits-budgets").textContent = e.message; body.innerHTML = ""; }
  }
  async function review() {
    const q = await CL.api("/api/review?limit=100");
    const body = CL.el("review").querySelector("tbody");
    const deciding = can("review.decide", ["supervisor"]);
    body.innerHTML = q.items.map((x) => `<tr data-item="${CL.esc(x.item_id)}"><td>${CL.esc(x.item_id)}</td><td>${CL.esc(x.deployment)}</td><td>${CL.esc(x.action)} (ledger #${x.source_seq})</td><td>${CL.esc(x.requested_by)}</td><td><code>${CL.esc(short(JSON.stringify(x.summary), 140))}</code></td>
      <td>${!deciding ? `<span class="muted">waiting for a supervisor's decision</span>` : `<select class="decision"><option value="accept">accept</option><option value="override">override</option><option value="reject">reject</option></select>
      <input class="reason" placeholder="reason (required)" required> <input class="replacement" placeholder="override: decided instead">
      <button type="button" class="decide">Record decision</button><div class="outcome"></div>`}</td></tr>`).join("") || `<tr><td colspan="6">Nothing waits for review.</td></tr>`;
    for (const tr of body.querySelectorAll("tr[data-item]")) {
      if (!tr.querySelector(".decide")) continue;
      tr.querySelector(".decide").addEventListener("click", async () => {
        const reason = tr.querySelector(".reason").value.trim();
        const decision = tr.querySelector(".decision").value;
        const out = tr.querySelector(".outcome");
        if (!reason) { out.innerHTML = `<span class="bad">A reason is required.</span>`; return; }
        const replacement = tr.querySelector(".replacement").value.trim();
        try {
          const r = await CL.api(`/api/review/${encodeURIComponent(tr.dataset.item)}/decision`, {method: "POST", body: {decision, reason, replacement: replacement ? {note: replacement} : null}});
          out.innerHTML = `<span class="ok">${CL.esc(r.status)}: ledger entry #${r.ledger_seq}</span>`;
          document.body.dataset.decided = String(r.ledger_seq);
          await ledger();
        } catch (e) { out.innerHTML = `<span class="bad">${CL.esc(e.message)}</span>`; }
      });
    }
  }
  async function ledger() {
    const l = await CL.api("/api/ledger/entries?limit=25");
    CL.el("ledger").querySelector("tbody").innerHTML = l.items.map((e) => `<tr data-seq="${e.seq}"><td>${e.seq}</td><td class="num">${CL.esc(CL.utcTime(e.at))}</td><td>${CL.esc(e.action)}</td><td>${CL.esc(e.user)} (${CL.esc(e.role)})</td><td>${CL.esc(e.purpose)}</td><td>${CL.esc(e.outcome)}</td><td class="detail"><code>${CL.esc(short(JSON.stringify(e.decision || e.detail || {}), 160))}</code></td></tr>`).join("");
    const h = await CL.api("/api/ledger/head");
    CL.el("head").textContent = JSON.stringify(h.head, null, 1);
    CL.provenance({data: `ledger of ${l.total} entries; signed head over ${h.head.tree_size}, root ${short(h.head.root_hash)}…`});
  }
  async function models() {
    const m = await CL.api("/api/models?limit=1000");
    registered = m.items;
    const body = CL.el("models").querySelector("tbody");
    body.innerHTML = m.items.map((x) => `<tr><td>${CL.esc(x.name)}</td><td>${CL.esc(x.version)}</td><td>${CL.esc(CL.utcTime(x.registered_at))}</td><td><button type="button" class="secondary card" data-name="${CL.esc(x.name)}" data-version="${CL.esc(x.version)}">Card</button></td></tr>`).join("") || `<tr><td colspan="4">No registered models.</td></tr>`;
    for (const b of body.querySelectorAll("button.card")) b.addEventListener("click", async () => {
      const c = await CL.api(`/api/models/${encodeURIComponent(b.dataset.name)}/card?version=${encodeURIComponent(b.dataset.version)}`);
      CL.el("card").hidden = false; CL.el("card").textContent = c.markdown;
    });
  }
  CL.el("verify").addEventListener("click", async () => {
    CL.el("verify-result").textContent = "verifying…";
    try {
      const v = (await CL.api("/api/ledger/verify", {method: "POST"})).report;
      CL.el("verify-result").innerHTML = v.ok
        ? `<span class="ok" id="verify-ok">Ledger verified: ${v.n_entries} entries, root ${CL.esc(short(v.root_hash))}…, signed head over ${v.signed_size} ${v.head_signature_ok ? "with a valid signature" : ""} (${CL.fmt(v.seconds, 3)} s).</span>`
        : `<span class="bad" id="verify-bad">Ledger does NOT verify: first bad entry ${v.first_bad}: ${CL.esc(v.problem)}</span>`;
      await ledger();
    } catch (e) { CL.el("verify-result").innerHTML = `<span class="bad">${CL.esc(e.message)}</span>`; }
  });
  CL.el("year").value = new Date().getUTCFullYear();
  CL.el("report-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try { const r = await CL.api(`/api/reports/annual/${CL.el("year").value}`); const f = CL.el("report"); f.hidden = false; f.srcdoc = r.html; }
    catch (e) { CL.showError(e.message); }
  });
  try { await deployments(); await review(); await ledger(); await models(); } catch (e) { CL.showError(e.message); }
  if (proposing || assessing) {
    try { quest = await CL.api("/api/deployments-questionnaire"); if (proposing) proposalForm(); } catch (e) { CL.showError(e.message); }
  }
  await limits();
  try { await users(); } catch (e) { CL.el("user-result").textContent = e.message; }
  await complaints().catch((e) => { CL.el("complaints").querySelector("tbody").innerHTML = `<tr><td colspan="7">${CL.esc(e.message)}</td></tr>`; });
  const ds = await CL.snapshot().catch(() => []);
  if (ds[0]) CL.provenance({data: CL.el("prov-data").textContent + " · " + CL.snapText(ds[0])});
  document.body.dataset.ready = "1";
})();
