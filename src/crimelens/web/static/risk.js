"use strict";
/* The calibration chart's x-axis. A score in [0, 1] is read as a probability: drawn on 0–1 beside the dashed
   diagonal of perfect calibration. Any other score (COMPAS's decile 1–10, a point total) is drawn in its own
   units, from its lowest to its highest bin mean, with no diagonal: "perfect calibration" means nothing there. */
function calibrationScale(means) {
  const v = means.filter((x) => Number.isFinite(x));
  const lo = v.length ? Math.min(...v) : 0, hi = v.length ? Math.max(...v) : 1;
  if (lo >= 0 && hi <= 1) return {lo: 0, hi: 1, diagonal: true, ticks: [0, 0.5, 1]};
  const a = Math.floor(lo), b = Math.max(Math.ceil(hi), a + 1);
  const step = Math.max(1, Math.ceil((b - a) / 10)), ticks = [];
  for (let t = a; t <= b; t += step) ticks.push(t);
  return {lo: a, hi: b, diagonal: false, ticks};
}
/* Where each mitigation table shows a group's own cut ("≥ 7"; group-specific thresholds only), and a group under
   the minimum size, marked as the group tables mark it. */
function mitigationCut(t) { return t.flag_at === undefined || t.flag_at === null ? "—" : `≥ ${Number(t.flag_at)}`; }
(async () => {
  /* the stored-model and stored-audit pickers are never sent: the page's CSP (script-src 'self') refuses inline
     onsubmit handlers, so the default is prevented here */
  for (const id of ["rm-models", "audits"]) CL.el(id).closest("form").addEventListener("submit", (ev) => ev.preventDefault());
  const s = CL.whoami(); if (!s) return;
  const palette = ["#1d4ed8", "#b91c1c", "#15803d", "#a16207", "#7c3aed", "#0f766e", "#be185d", "#475569"];
  const NS = "http://www.w3.org/2000/svg";
  /* scale: {lo, hi, diagonal, ticks} of the x-axis (default 0–1 with the diagonal, as ROC has it) */
  function axes(svg, xl, yl, scale) {
    const sc = scale || {lo: 0, hi: 1, diagonal: true, ticks: [1]};
    const xt = sc.ticks.filter((t) => !(sc.lo === 0 && t === 0)).map((t) => `<text x="${(40 + 300 * (t - sc.lo) / (sc.hi - sc.lo)).toFixed(1)}" y="334" font-size="10" text-anchor="middle">${t}</text>`).join("");
    svg.innerHTML = `<line x1="40" y1="320" x2="340" y2="320" stroke="#333"/><line x1="40" y1="20" x2="40" y2="320" stroke="#333"/>${sc.diagonal ? '<line class="diagonal" x1="40" y1="320" x2="340" y2="20" stroke="#999" stroke-dasharray="4 4"/>' : ""}<text x="190" y="350" text-anchor="middle" font-size="12">${xl}</text><text x="12" y="170" font-size="12" transform="rotate(-90 12 170)" text-anchor="middle">${yl}</text><text x="36" y="324" font-size="10" text-anchor="end">0</text><text x="36" y="24" font-size="10" text-anchor="end">1</text>${xt}`;
  }
  const X = (v) => 40 + 300 * v, Y = (v) => 320 - 300 * v;
  function path(svg, pts, colour, dash) {
    const p = document.createElementNS(NS, "polyline");
    p.setAttribute("points", pts.map(([a, b]) => `${X(a).toFixed(1)},${Y(b).toFixed(1)}`).join(" "));
    p.setAttribute("fill", "none"); p.setAttribute("stroke", colour); p.setAttribute("stroke-width", "2");
    if (dash) p.setAttribute("stroke-dasharray", dash);
    svg.appendChild(p);
  }
  /* Risk models: a staff member fits one from a table; anyone who may read cards picks a stored one. */
  const staff = ["analyst", "supervisor", "admin"].includes(s.role);  /* risk.fit: the server refuses (and logs) others */
  document.querySelectorAll(".staff").forEach((e) => { e.hidden = !staff; });
  const ci = (g, m) => (g[m + "_low"] === null || g[m + "_low"] === undefined) ? CL.fmt(g[m])
    : `${CL.fmt(g[m])} <span class="muted">[${CL.fmt(g[m + "_low"])}, ${CL.fmt(g[m + "_high"])}]</span>`;
  const list = (v) => String(v || "").split(",").map((x) => x.trim()).filter(Boolean);
  /* What a reader must know before the figures (a feature that may carry the outcome, a person on several
     rows, an audit of a model on its own training file), as the card or the stored audit says it. */
  function warnings(id, items) {
    const box = CL.el(id), shown = items || [];
    box.innerHTML = shown.map((w) => `<li>${CL.esc(w)}</li>`).join("");
    box.hidden = !shown.length;
  }
  function showCard(card) {
    const p = card.provenance || {}, cv = card.cv || {};
    CL.el("rm-card").hidden = false;
    CL.el("rm-title").textContent = `${card.kind} ${card.model_id}` + (card.mark ? ` — ${card.mark}` : "");
    const params = Object.entries(card.params || {}).map(([k, v]) => `${k}=${v}`).join(", ");
    CL.el("rm-facts").innerHTML = `
      <tr><th>outcome</th><td>${CL.esc(card.label)} (a recorded event, not offending)</td></tr>
      <tr><th>features</th><td>${(card.features || []).map(CL.esc).join(", ")}</td></tr>
      <tr><th>cross-validated AUC</th><td id="rm-auc">${CL.fmt(cv.auc_mean)} ± ${CL.fmt(cv.auc_sd)} <span class="muted">(stratified ${cv.folds}-fold, ${cv.repeats} repeat(s)${cv.grouped_by ? `, folds grouped by person (${CL.esc(cv.grouped_by)})` : ""})</span></td></tr>
      <tr><th>rows</th><td>${card.n_train}${card.data_note ? ` <span class="muted">(${CL.esc(card.data_note)})</span>` : ""}</td></tr>
      <tr><th>data</th><td>${CL.esc(card.data_file)} <span class="muted">sha256 ${CL.esc(String(card.data_hash || "").slice(0, 16))}…</span></td></tr>
      <tr><th>parameters</th><td>${CL.esc(params)}</td></tr>
      ${p.fitted_by ? `<tr><th>fitted</th><td>by ${CL.esc(p.fitted_by)}, ${CL.esc(String(p.created_utc).slice(0, 19))}, ledger #${p.ledger_seq}; artefact sha256 ${CL.esc(String(p.artefact_sha256 || "").slice(0, 16))}…</td></tr>` : ""}`;
    warnings("rm-warnings", card.warnings);
    CL.el("rm-text").textContent = (card.model || {}).text || "";
    const g = card.groups, bt = CL.el("rm-by-group");
    bt.hidden = !g;
    if (g) {
      bt.querySelector("caption").textContent = `Out-of-fold error rates by group, flagging ${CL.fmt(g.flagged_share * 100, 1)} % of people (probability ≥ ${CL.fmt(g.threshold)}); groups are audit columns, never features`;
      bt.querySelector("tbody").innerHTML = g.audit.groups.map((r) => `<tr data-group="${CL.esc(r.facet + ":" + r.group)}"${r.below_min_size ? ' class="muted"' : ""}><td>${CL.esc(r.facet)}</td><td>${CL.esc(r.group)}${r.below_min_size ? " (below minimum size)" : ""}</td><td>${r.n}</td><td>${CL.fmt(r.base_rate)}</td><td>${CL.fmt(r.selection_rate)}</td><td>${ci(r, "fpr")}</td><td>${ci(r, "fnr")}</td><td>${CL.fmt(r.ppv)}</td><td>${CL.fmt(r.auc)}</td></tr>`).join("");
    }
    const cmp = card.compas_comparison, ct = CL.el("rm-compas");
    ct.hidden = !cmp;
    if (cmp) {
      const keys = [...new Set(cmp.rows.flatMap((r) => Object.keys(r)))];
      const cols = ["auc", "accuracy", "flagged_share", "threshold"].filter((k) => keys.includes(k))
        .concat(keys.filter((k) => k.startsWith("fpr[")), keys.filter((k) => k.startsWith("fnr[")));
      const head = (k) => k.replace(/^(fpr|fnr)\[(.*)\]$/, (_, m, g) => `${m.toUpperCase()} ${g}`).replace("_", " ").replace(/^auc$/, "AUC");
      ct.querySelector("thead").innerHTML = `<tr><th>model</th>${cols.map((k) => `<th>${CL.esc(head(k))}</th>`).join("")}</tr>`;
      ct.querySelector("tbody").innerHTML = cmp.rows.map((r) => `<tr><th>${CL.esc(r.model)}</th>${cols.map((k) => `<td class="num">${r[k] === undefined ? "—" : CL.fmt(r[k])}</td>`).join("")}</tr>`).join("");
    }
    CL.el("rm-limits").innerHTML = (card.label_limits || []).map((x) => `<li>${CL.esc(x)}</li>`).join("");
    CL.provenance({model: `${card.kind} ${card.model_id} (risk model card${p.ledger_seq !== undefined ? ", ledger #" + p.ledger_seq : ""})`,
                   data: `${card.data_file} (sha256 ${String(card.data_hash || "").slice(0, 16)}…), ${card.n_train} rows`,
                   mark: card.mark || ""});
    document.body.dataset.riskModel = card.model_id;
  }
  /* A stored output as the file whose hash the ledger holds, and what the server says of that. */
  async function takeAway(path, name, out, what) {
    try {
      const r = await CL.downloadChecked(path, name);
      out.innerHTML = r.matches === "true"
        ? `<span class="ok">${what} hashes to its ledger entry (sha256 ${CL.esc(r.sha256.slice(0, 16))}…)</span>`
        : `<span class="bad">${what} does NOT hash to its ledger entry: it changed after it was recorded</span>`;
      document.body.dataset.takenAway = name;
    } catch (e) { out.innerHTML = `<span class="bad">${CL.esc(e.message)}</span>`; }
  }
  CL.el("rm-dl").addEventListener("click", () => {
    const id = document.body.dataset.riskModel; if (!id) return;
    takeAway(`/api/risk/models/${encodeURIComponent(id)}/card/export`, `risk-card-${id}.json`, CL.el("rm-dl-result"), "The card");
  });
  CL.el("au-dl").addEventListener("click", () => {
    const id = CL.el("audits").value; if (!id) return;
    takeAway(`/api/audits/${encodeURIComponent(id)}/export`, `audit-${id}.json`, CL.el("au-dl-result"), "The audit");
  });
  async function openCard(id) {
    CL.clearError();
    showCard((await CL.api(`/api/risk/models/${encodeURIComponent(id)}/card`)).card);
    CL.el("rm-dl-result").innerHTML = "";
  }
  async function models(pick) {
    const r = await CL.api("/api/risk/models?limit=50");
    CL.el("rm-models").innerHTML = r.items.map((m) => `<option value="${CL.esc(m.model_id)}">${CL.esc(m.model_id)} · ${CL.esc(m.kind)} · ${CL.esc(m.label)} · ${CL.esc(String(m.created_utc).slice(0, 10))} · ${CL.esc(m.user_name)}</option>`).join("");
    if (pick) CL.el("rm-models").value = pick;
    CL.el("rm-models").closest("form").hidden = !r.items.length;
    if (!r.items.length) { CL.el("rm-hint").hidden = false; CL.el("rm-hint").textContent = "No stored risk models yet" + (staff ? ": fit one from a table above." : "."); }
    return r.items;
  }
  const sizeLabel = () => {
    const kind = CL.el("rm-kind").value;
    CL.el("rm-size-box").hidden = kind === "logistic";
    CL.el("rm-size-box").firstChild.textContent = kind === "rules" ? "Most rules " : "Most items ";
  };
  CL.el("rm-kind").addEventListener("change", sizeLabel); sizeLabel();
  CL.el("rm-models").addEventListener("change", (e) => openCard(e.target.value).catch((x) => CL.showError(x.message)));
  CL.el("rm-form").addEventListener("submit", async (ev) => {
    ev.preventDefault(); CL.clearError();
    const file = CL.el("rm-file").files[0];
    if (!file) { CL.showError("Pick a table to fit on."); return; }
    const kind = CL.el("rm-kind").value, q = new URLSearchParams({filename: file.name, label: CL.el("rm-label").value.trim(), model: kind});
    if (CL.el("rm-features").value.trim()) q.set("features", list(CL.el("rm-features").value).join(","));
    for (const g of list(CL.el("rm-groups").value)) q.append("group", g);
    if (CL.el("rm-size").value && kind !== "logistic") q.set(kind === "rules" ? "max_rules" : "max_items", CL.el("rm-size").value);
    if (CL.el("rm-id").value.trim()) q.set("id_column", CL.el("rm-id").value.trim());
    CL.el("rm-fit").disabled = true;
    CL.el("rm-hint").hidden = false; CL.el("rm-hint").textContent = `fitting a ${kind} model on ${file.name} and cross-validating it (5 folds)…`;
    try {
      const d = await CL.upload(`/api/risk/models?${q}`, file);
      CL.el("rm-hint").textContent = `Stored as ${d.model_id} (ledger #${d.ledger_seq}).`;
      await models(d.model_id);
      await openCard(d.model_id);  /* the stored card, read back as any reader sees it */
    } catch (e) { CL.el("rm-hint").hidden = true; CL.showError(e.message); } finally { CL.el("rm-fit").disabled = false; }
  });

  async function show(id) {
    CL.clearError(); CL.el("au-dl-result").innerHTML = "";
    const a = await CL.api(`/api/audits/${encodeURIComponent(id)}`);
    const r = a.report;
    warnings("au-warnings", a.warnings || r.warnings);
    const facet = (r.groups.find((g) => g.facet !== "overall") || {facet: "overall"}).facet;
    const groups = [...new Set(r.groups.filter((g) => g.facet === facet || g.facet === "overall").map((g) => g.facet + ":" + g.group))];
    const colour = (k) => palette[groups.indexOf(k) % palette.length];
    const roc = CL.el("roc"); axes(roc, "false positive rate", "true positive rate");
    for (const k of groups) {
      const pts = r.roc.filter((p) => p.facet + ":" + p.group === k).map((p) => [p.fpr, p.tpr]).sort((u, v) => u[0] - v[0] || u[1] - v[1]);
      if (pts.length) path(roc, [[0, 0], ...pts, [1, 1]], colour(k));
    }
    const scale = calibrationScale(r.calibration.map((c) => c.mean_score));
    const cal = CL.el("cal"); axes(cal, scale.diagonal ? "score (bin mean)" : `${r.score} (bin mean, its own units)`, "observed rate", scale);
    cal.dataset.diagonal = String(scale.diagonal);
    const sx = (m) => (m - scale.lo) / (scale.hi - scale.lo);
    for (const k of groups) {
      const rows = r.calibration.filter((c) => c.facet + ":" + c.group === k && c.observed_rate !== null);
      path(cal, rows.map((c) => [sx(c.mean_score), c.observed_rate]), colour(k));
      for (const c of rows) if (c.observed_low !== null) path(cal, [[sx(c.mean_score), c.observed_low], [sx(c.mean_score), c.observed_high]], colour(k), "2 2");
    }
    CL.el("legend").innerHTML = groups.map((k) => `<i style="background:${colour(k)}"></i>${CL.esc(k)}`).join(" &nbsp; ");
    /* each mitigation as a trade-off: who gains, who loses, and what it needs to know about each person */
    CL.el("mitigations").innerHTML = (r.mitigations || []).map((m) => `<h3>Mitigation: ${CL.esc(m.name)}</h3>
      <p>${CL.esc(m.description)}. Accuracy ${CL.fmt(m.accuracy_before)} → ${CL.fmt(m.accuracy_after)}.${m.needs_protected_at_decision && !/protected attribute/.test(m.description) ? " <b>It needs the protected attribute when deciding about each person.</b>" : ""}</p>
      <table class="mitigation"><thead><tr><th>group</th><th>n</th>${m.tradeoff.some((t) => "flag_at" in t) ? "<th>flagged at</th>" : ""}<th>flagged before → after</th><th>false positive rate</th><th>false negative rate</th><th>PPV</th><th>who gains, who loses</th></tr></thead><tbody>${m.tradeoff.map((t) => `<tr${t.below_min_size ? ' class="muted"' : ""}><td>${CL.esc(t.group)}${t.below_min_size ? ` (${CL.esc(t.note)})` : ""}</td><td>${t.n}</td>${"flag_at" in t ? `<td>${CL.esc(mitigationCut(t))}</td>` : ""}<td>${CL.fmt(t.selection_rate_before)} → ${CL.fmt(t.selection_rate_after)}</td><td>${CL.fmt(t.fpr_before)} → ${CL.fmt(t.fpr_after)}</td><td>${CL.fmt(t.fnr_before)} → ${CL.fmt(t.fnr_after)}</td><td>${CL.fmt(t.ppv_before)} → ${CL.fmt(t.ppv_after)}</td><td>${CL.esc(t.who_gains_who_loses || "")}</td></tr>`).join("")}</tbody></table>`).join("");
    CL.el("groups").querySelector("tbody").innerHTML = r.groups.map((g) => `<tr${g.below_min_size ? ' class="muted"' : ""}><td>${CL.esc(g.facet)}</td><td>${CL.esc(g.group)}${g.below_min_size ? " (below minimum size)" : ""}</td><td>${g.n}</td><td>${ci(g, "base_rate")}</td><td>${ci(g, "selection_rate")}</td><td>${ci(g, "fpr")}</td><td>${ci(g, "fnr")}</td><td>${ci(g, "ppv")}</td><td>${ci(g, "auc")}</td></tr>`).join("");
    CL.provenance({model: `score "${r.score}" at threshold ${r.threshold}${a.model_id ? " (risk model " + a.model_id + ")" : ""}; audit ${a.report_id}, JSON sha256 ${String(a.json_hash).slice(0, 16)}…`,
                   data: `${a.data_file} (sha256 ${String(a.data_hash).slice(0, 16)}…), ${r.n} rows, ${r.n_boot ? `${r.n_boot} bootstrap resamples, ${Math.round(r.ci_level * 100)} % intervals` : "no bootstrap: point estimates, no intervals"}`,
                   mark: r.label_limits && r.label_limits.length ? "Label limits — " + r.label_limits[0] : ""});
  }
  async function audits(pick) {
    const got = await CL.api("/api/audits?limit=50");
    CL.el("audits").innerHTML = got.items.map((it) => `<option value="${CL.esc(it.report_id)}">${CL.esc(it.report_id)} · ${CL.esc(it.score_name)} · ${CL.esc(it.data_file)} · ${CL.esc(String(it.created_utc).slice(0, 10))} · ${CL.esc(it.user_name)}</option>`).join("");
    if (pick) CL.el("audits").value = pick;
    CL.el("audits").closest("form").hidden = !got.items.length;
    CL.el("legend").textContent = got.items.length ? "" : "No stored audits yet: audit a score column above (or crimelens audit …).";
    return got.items;
  }
  CL.el("au-form").addEventListener("submit", async (ev) => {
    ev.preventDefault(); CL.clearError();
    const file = CL.el("au-file").files[0];
    if (!file) { CL.showError("Pick a table to audit."); return; }
    const q = new URLSearchParams({filename: file.name, label: CL.el("au-label").value.trim(), score: CL.el("au-score").value.trim(),
                                   bootstrap: CL.el("au-boot").value || "1000", positive_is_harmful: String(CL.el("au-harmful").checked),
                                   mitigate: String(CL.el("au-mitigate").checked)});
    if (CL.el("au-threshold").value.trim()) q.set("threshold", CL.el("au-threshold").value.trim());
    for (const g of list(CL.el("au-groups").value)) q.append("group", g);
    for (const r of list(CL.el("au-reference").value)) q.append("reference", r);
    if (CL.el("au-id").value.trim()) q.set("id_column", CL.el("au-id").value.trim());
    CL.el("au-run").disabled = true;
    CL.el("au-hint").hidden = false; CL.el("au-hint").textContent = `auditing ${q.get("score")} on ${file.name} with ${q.get("bootstrap")} bootstrap replicates…`;
    try {
      const d = await CL.upload(`/api/audits?${q}`, file);
      CL.el("au-hint").textContent = `Stored as ${d.report_id} (ledger #${d.ledger_seq}, JSON sha256 ${String(d.json_hash).slice(0, 16)}…).`;
      await audits(d.report_id);
      await show(d.report_id);
      document.body.dataset.audit = d.report_id;
    } catch (e) { CL.el("au-hint").hidden = true; CL.showError(e.message); } finally { CL.el("au-run").disabled = false; }
  });

  try {
    const stored = await models();
    if (stored.length) await openCard(stored[0].model_id);
    const stored2 = await audits();
    CL.el("audits").addEventListener("change", (e) => show(e.target.value).catch((x) => CL.showError(x.message)));
    if (stored2.length) await show(stored2[0].report_id);
    document.body.dataset.ready = "1";
  } catch (e) { CL.showError(e.message); }
})();
