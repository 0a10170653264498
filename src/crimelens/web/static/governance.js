"use strict";
(async () => {
  const s = CL.whoami(); if (!s) return;
  const short = (v, n = 16) => String(v || "").slice(0, n);
  async function deployments() {
    const d = await CL.api("/api/deployments?limit=100");
    CL.el("deployments").querySelector("tbody").innerHTML = d.items.map((x) => `<tr><td>${CL.esc(x.name)}</td><td>${CL.esc(x.model)} ${CL.esc(x.model_version)}</td><td class="${x.state === "active" ? "ok" : ""}">${CL.esc(x.state)}</td><td>${CL.esc(short(x.state_changed_at, 19))}</td><td>${CL.esc(x.state_reason)}</td><td>${CL.esc(short(x.approved_until, 10))}</td></tr>`).join("") || `<tr><td colspan="6">No deployments: every use is research use.</td></tr>`;
    const act = d.items.filter((x) => x.state === "active").map((x) => `${x.name}: ${x.model} ${x.model_version}`);
    CL.provenance({model: act.length ? "active deployments — " + act.join("; ") : "no active deployment"});
  }
  async function review() {
    const q = await CL.api("/api/review?limit=100");
    const body = CL.el("review").querySelector("tbody");
    body.innerHTML = q.items.map((x) => `<tr data-item="${CL.esc(x.item_id)}"><td>${CL.esc(x.item_id)}</td><td>${CL.esc(x.deployment)}</td><td>${CL.esc(x.action)} (ledger #${x.source_seq})</td><td>${CL.esc(x.requested_by)}</td><td><code>${CL.esc(short(JSON.stringify(x.summary), 140))}</code></td>
      <td><select class="decision"><option value="accept">accept</option><option value="override">override</option><option value="reject">reject</option></select>
      <input class="reason" placeholder="reason (required)" required> <input class="replacement" placeholder="override: decided instead">
      <button type="button" class="decide">Record decision</button><div class="outcome"></div></td></tr>`).join("") || `<tr><td colspan="6">Nothing waits for review.</td></tr>`;
    for (const tr of body.querySelectorAll("tr[data-item]")) {
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
    CL.el("ledger").querySelector("tbody").innerHTML = l.items.map((e) => `<tr data-seq="${e.seq}"><td>${e.seq}</td><td>${CL.esc(short(e.at, 19))}</td><td>${CL.esc(e.action)}</td><td>${CL.esc(e.user)} (${CL.esc(e.role)})</td><td>${CL.esc(e.purpose)}</td><td>${CL.esc(e.outcome)}</td><td><code>${CL.esc(short(JSON.stringify(e.decision || e.detail || {}), 160))}</code></td></tr>`).join("");
    const h = await CL.api("/api/ledger/head");
    CL.el("head").textContent = JSON.stringify(h.head, null, 1);
    CL.provenance({data: `ledger of ${l.total} entries; signed head over ${h.head.tree_size}, root ${short(h.head.root_hash)}…`});
  }
  async function models() {
    const m = await CL.api("/api/models?limit=100");
    const body = CL.el("models").querySelector("tbody");
    body.innerHTML = m.items.map((x) => `<tr><td>${CL.esc(x.name)}</td><td>${CL.esc(x.version)}</td><td>${CL.esc(short(x.registered_at, 19))}</td><td><button type="button" class="secondary card" data-name="${CL.esc(x.name)}" data-version="${CL.esc(x.version)}">Card</button></td></tr>`).join("") || `<tr><td colspan="4">No registered models.</td></tr>`;
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
  const ds = await CL.snapshot().catch(() => []);
  if (ds[0]) CL.provenance({data: CL.el("prov-data").textContent + " · " + CL.snapText(ds[0])});
  document.body.dataset.ready = "1";
})();
