"use strict";
(async () => {
  /* the selector forms (series run, pair run) are never sent: the page's CSP (script-src 'self') refuses inline
     onsubmit handlers, so the default is prevented here */
  for (const id of ["runs", "pair-runs"]) CL.el(id).closest("form").addEventListener("submit", (ev) => ev.preventDefault());
  const s = CL.whoami(); if (!s) return;
  const map = CL.baseMap("map");
  let layer = null, runInfo = null, basemapFor = null;
  const staff = ["analyst", "supervisor", "admin"].includes(s.role);  // link.label/train/series/pairs: the server refuses (and logs) others
  document.querySelectorAll(".staff").forEach((e) => { e.hidden = !staff; });
  CL.el("confirm-form").addEventListener("submit", async (ev) => {
    ev.preventDefault(); CL.clearError();
    const ids = [...CL.el("members").querySelectorAll("input.member:checked")].map((c) => c.value);
    const out = CL.el("confirm-result");
    if (ids.length < 2) { out.innerHTML = `<span class="bad">Tick at least two members.</span>`; return; }
    try {
      const body = {dataset: runInfo.dataset, incident_ids: ids, series: CL.el("confirm-label").value.trim()};
      if (CL.el("confirm-note").value.trim()) body.note = CL.el("confirm-note").value.trim();
      const r = await CL.api("/api/series-labels", {method: "POST", body});
      out.innerHTML = `<span class="ok" id="confirm-ok">${r.n_labelled} incidents filed under ${CL.esc(r.series)} in ${CL.esc(r.dataset)}: training labels for the next linker.</span>`;
    } catch (e) { out.innerHTML = `<span class="bad">${CL.esc(e.message)}</span>`; }
  });
  // handlers first: a pick made while the first load is still awaiting must not be lost
  CL.el("runs").addEventListener("change", (e) => loadRun(e.target.value).catch((x) => CL.showError(x.message)));
  CL.el("series").addEventListener("change", (e) => show(CL.el("runs").value, e.target.value).catch((x) => CL.showError(x.message)));
  CL.el("pair-runs").addEventListener("change", (e) => { if (e.target.value) showPairs(e.target.value).catch((x) => CL.showError(x.message)); });
  CL.el("pair-csv").addEventListener("click", async () => {
    const id = CL.el("pair-runs").value; if (!id) return;
    const out = CL.el("pair-csv-result");
    try {
      const r = await CL.downloadChecked(`/api/link-pairs/${encodeURIComponent(id)}/csv`, `pairs-${id}.csv`);
      out.innerHTML = r.matches === "true"
        ? `<span class="ok" id="pair-csv-ok">sha256 ${CL.esc(r.sha256.slice(0, 16))}…: the output hash in the run's ledger entry</span>`
        : `<span class="bad" id="pair-csv-ok">sha256 ${CL.esc(r.sha256.slice(0, 16))}… does NOT match the run's ledger entry: the stored pairs changed</span>`;
    } catch (e) { out.innerHTML = `<span class="bad">${CL.esc(e.message)}</span>`; }
  });
  // a series run as files for QGIS: series hulls, members and links (GeoPackage), members (GeoJSON, CSV)
  for (const b of document.querySelectorAll(".series-export")) b.addEventListener("click", async () => {
    const id = CL.el("runs").value; if (!id) return;
    const fmt = b.dataset.format, out = CL.el("series-export-result");
    try {
      const r = await CL.downloadChecked(`/api/series-runs/${encodeURIComponent(id)}/export?format=${fmt}`, `series-${id}.${fmt}`);
      out.innerHTML = r.matches === "true"
        ? `<span class="ok" id="series-export-ok">${fmt}: the stored series hash to the run's ledger entry</span>`
        : `<span class="bad" id="series-export-ok">${fmt}: the stored series do NOT hash to the run's ledger entry: they changed after the run</span>`;
    } catch (e) { out.innerHTML = `<span class="bad">${CL.esc(e.message)}</span>`; }
  });
  // staff: train a linker, build series, score pairs (the server checks the role and logs each)
  const said = (html) => { CL.el("lk-result").innerHTML = html; };
  async function act(button, path, body, done, streamed = false) {
    CL.clearError(); CL.el(button).disabled = true; said(`<span class="muted">running…</span>`);
    const t0 = Date.now();
    let stage = null, ts = t0;  // the time left is estimated within a stage (each counts its own units)
    // each job streams its progress: candidate pairs scored of the total (pairs) or the stage it
    // is in (series: reading, indexing, scoring, clustering, describing, storing; training: counting and sampling the pairs, the
    // fits, the held-out checks)
    const tick = (p) => {
      if (p.stage !== stage) {
        stage = p.stage; ts = Date.now();
        if (stage) document.body.dataset.stages = (document.body.dataset.stages ? document.body.dataset.stages + "|" : "") + stage;
      }
      const secs = (Date.now() - t0) / 1000, inStage = (Date.now() - ts) / 1000;
      const left = p.done ? inStage * (p.total - p.done) / p.done : NaN;
      const what = p.stage ? `${CL.esc(p.stage)}: ${p.done.toLocaleString()} of ${p.total.toLocaleString()}`
                           : `${p.done.toLocaleString()} of ${p.total.toLocaleString()} candidate pairs scored`;
      said(`<progress max="${p.total}" value="${p.done}"></progress> <span class="muted" id="lk-progress">${what}, ${CL.fmt(secs, 0)} s${p.done < p.total && Number.isFinite(left) ? `, about ${CL.fmt(left, 0)} s left${p.stage ? " in this step" : ""}` : ""}</span>`);
      if (!p.stage || p.stage === "scoring candidate pairs") document.body.dataset.pairProgress = `${p.done}/${p.total}`;
    };
    try { await done(streamed ? await CL.stream(path, body, tick) : await CL.api(path, {method: "POST", body})); }
    catch (e) { said(`<span class="bad">${CL.esc(e.message)}</span>`); } finally { CL.el(button).disabled = false; }
  }
  CL.el("lk-train").addEventListener("click", () => {
    const body = {dataset: CL.el("lk-dataset").value};
    if (CL.el("lk-cutoff").value) body.cutoff = CL.el("lk-cutoff").value + "T00:00:00Z";
    return act("lk-train", "/api/linkers", body, (r) => {
      const ev = r.evaluation;
      const t = r.training || {};
      said(`<span class="ok" id="lk-ok">Linker ${CL.esc(r.linker_id)} trained on ${t.n_labelled} labelled incidents (${t.n_linked_pairs} linked and ${t.n_unlinked_pairs} unlinked pairs)${ev ? `; on the labelled incidents after the cutoff: AUC ${CL.fmt(ev.auc)}, top-50 share ${CL.fmt(ev.top_k_share)}` : ""}. Build series or score pairs with it next.</span>`);
    }, true);
  });
  CL.el("lk-series").addEventListener("click", () => act("lk-series", "/api/series-runs",
    {dataset: CL.el("lk-dataset").value, threshold: Number(CL.el("lk-threshold").value), method: CL.el("lk-method").value},
    async (r) => {
      await loadRuns(r.run_id);
      said(`<span class="ok" id="lk-ok">Series run ${CL.esc(r.run_id)}: ${r.n_series} candidate series from ${r.n_candidates} candidate pairs.</span>`
        + (r.warnings || []).map((w) => `<br><span class="bad lk-warning">warning: ${CL.esc(w)}</span>`).join(""));
    }, true));
  CL.el("lk-pairs").addEventListener("click", () => act("lk-pairs", "/api/link-pairs",
    {dataset: CL.el("lk-dataset").value, min_score: Number(CL.el("lk-min").value)},
    async (r) => {
      await loadPairRuns(r.run_id);
      said(`<span class="ok" id="lk-ok">Pair run ${CL.esc(r.run_id)}: ${r.n_pairs} of ${r.n_candidates} candidate pairs at or above ${CL.fmt(Number(CL.el("lk-min").value), 2)}.</span>`
        + (r.warnings || []).map((w) => `<br><span class="bad lk-warning">warning: ${CL.esc(w)}</span>`).join(""));
    }, true));
  try {
    const ds = await CL.snapshot();
    for (const d of ds) CL.el("lk-dataset").insertAdjacentHTML("beforeend", `<option>${CL.esc(d.dataset)}</option>`);
    await loadPairRuns();
    const first = await loadRuns();
    if (!first) CL.showError("No series runs yet: build some (Build series, or crimelens link series).");
  } catch (e) { CL.showError(e.message); }
  document.body.dataset.ready = "1";

  async function loadRuns(pick) {
    const runs = await CL.api("/api/series-runs?limit=50");
    const sel = CL.el("runs"); sel.innerHTML = "";
    for (const r of runs.items) sel.insertAdjacentHTML("beforeend", `<option value="${CL.esc(r.run_id)}">${CL.esc(r.run_id)} · ${CL.esc(r.dataset)} · ${r.n_series} series</option>`);
    const chosen = runs.items.find((r) => r.run_id === pick) || runs.items[0];
    if (!chosen) return null;
    sel.value = chosen.run_id;
    if (!basemapFor) {
      const ds = await CL.snapshot(chosen.dataset);
      CL.provenance({data: CL.snapText(ds[0])});
      await CL.basemap(map, chosen.dataset);
      basemapFor = chosen.dataset;
    }
    await loadRun(chosen.run_id);
    return chosen.run_id;
  }
  async function loadPairRuns(pick) {
    const runs = await CL.api("/api/link-pairs?limit=50");
    const sel = CL.el("pair-runs");
    sel.innerHTML = `<option value="">—</option>` + runs.items.map((r) => `<option value="${CL.esc(r.run_id)}">${CL.esc(r.run_id)} · ${CL.esc(r.dataset)} · ${r.n_pairs} pairs ≥ ${CL.fmt(r.params.min_score, 2)} · ${CL.esc(String(r.created_at).slice(0, 16))}</option>`).join("");
    if (pick) { sel.value = pick; await showPairs(pick); }
  }
  async function showPairs(runId) {
    const d = await CL.api(`/api/link-pairs/${encodeURIComponent(runId)}?limit=100`);
    const place = (o, t, a) => `${CL.esc(o || "—")} · ${CL.esc(String(t || "").slice(0, 16))} · ${CL.esc(a || "—")}`;
    CL.el("pairs").querySelector("tbody").innerHTML = d.items.map((p, i) => `<tr><td>${i + 1}</td><td>${CL.esc(p.incident_id_a)}</td><td>${CL.esc(p.incident_id_b)}</td><td>${CL.fmt(p.score)}</td><td>${CL.fmt(p.cheap_score)}</td><td>${place(p.offense_a, p.occurred_a, p.area_a)}</td><td>${place(p.offense_b, p.occurred_b, p.area_b)}</td></tr>`).join("") || `<tr><td colspan="7">No pair at or above the threshold.</td></tr>`;
    CL.el("pair-info").textContent = `Run ${d.run.run_id} by ${d.run.user_name} (${d.run.purpose}) with linker ${d.run.linker_id}: ${d.total} of ${d.run.n_candidates} candidate pairs at or above ${CL.fmt(d.run.params.min_score, 2)}; ${d.items.length < d.total ? `the first ${d.items.length} shown; the CSV has them all` : "all shown"}. ${d.mark ? "Research output: " + d.mark : ""}`;
    CL.el("pair-csv").disabled = false; CL.el("pair-csv-result").innerHTML = "";
    document.body.dataset.pairs = runId;
  }

  function seriesOption(it) { return `<option value="${CL.esc(it.series_id)}">${CL.esc(it.series_id)} · ${it.n_members} incidents · cohesion ${CL.fmt(it.cohesion, 2)}</option>`; }
  CL.el("series-find").addEventListener("submit", async (ev) => {
    ev.preventDefault(); CL.clearError();
    const runId = CL.el("runs").value, id = CL.el("series-incident").value.trim();
    if (!runId || !id) return;
    try {
      const found = await CL.api(`/api/series-runs/${encodeURIComponent(runId)}?incident=${encodeURIComponent(id)}`);
      if (!found.items.length) { CL.showError(`Incident ${id} is in no series of run ${runId} (no link to another incident reached the run's threshold, or no such incident in its dataset).`); return; }
      const it = found.items[0], sel = CL.el("series");
      if (![...sel.options].some((o) => o.value === it.series_id)) sel.insertAdjacentHTML("beforeend", seriesOption(it));
      sel.value = it.series_id;
      await show(runId, it.series_id);
    } catch (e) { CL.showError(e.message); }
  });

  async function loadRun(runId) {
    const list = await CL.api(`/api/series-runs/${encodeURIComponent(runId)}?limit=200`);
    runInfo = list.run;
    for (const b of document.querySelectorAll(".series-export")) b.disabled = false;
    CL.el("series-export-result").innerHTML = "";
    const sel = CL.el("series"); sel.innerHTML = "";
    for (const it of list.items) sel.insertAdjacentHTML("beforeend", seriesOption(it));
    /* a large run lists its largest series; any other is found by one of its incidents */
    CL.el("series-count").textContent = list.items.length < list.total
      ? `The ${list.items.length} largest of ${list.total} series are listed.` : `${list.total} series.`;
    CL.provenance({model: `PairwiseLinker ${runInfo.linker_id} (series run ${runInfo.run_id}, output sha256 ${String(runInfo.output_hash).slice(0, 16)}…)`, mark: list.mark ? "Research output: " + list.mark : ""});
    const want = new URLSearchParams(location.search).get("series");
    if (want) sel.value = want;
    if (sel.value) await show(runId, sel.value);
  }
  /* the series' summary as a reader reads it: offenses, span, extent and the M.O. most members share */
  function summaryList(sm) {
    const mo = (sm.common_mo || []).map((m) => `${CL.esc(m.attribute)} = ${CL.esc(m.value)} (${Math.round(100 * m.share)} % of members)`);
    const items = [
      ["offense", (sm.offense || []).map(CL.esc).join(", ") || "—"],
      ["span", sm.span_days === undefined ? "—" : `${CL.fmt(sm.span_days, 1)} days`],
      ["area", sm.hull_area_m2 === undefined ? "—" : `${CL.fmt(sm.hull_area_m2 / 1e6, 2)} km² (members' convex hull), largest extent ${CL.fmt(sm.max_extent_m, 0)} m`],
      ["common M.O.", mo.join("; ") || "none shared by half the members"],
    ];
    return `<ul class="series-summary">${items.map(([k, v]) => `<li><b>${k}</b>: ${v}</li>`).join("")}</ul>`;
  }
  async function show(runId, seriesId) {
    CL.clearError();
    const d = await CL.api(`/api/series-runs/${encodeURIComponent(runId)}/series/${encodeURIComponent(seriesId)}`);
    const m = d.members; CL.el("confirm-result").innerHTML = "";
    if (layer) map.removeLayer(layer);
    layer = L.layerGroup().addTo(map);
    const pts = m.map((x) => [x.lat, x.lon]);
    L.polyline(pts, {color: "#7c3aed", weight: 2, dashArray: "4 4"}).addTo(layer);
    m.forEach((x, i) => {
      L.circleMarker([x.lat, x.lon], {radius: 7, color: "#7c3aed", fillColor: "#a78bfa", fillOpacity: 0.9}).addTo(layer)
        .bindTooltip(`${i + 1}. ${CL.esc(x.incident_id)}<br>${CL.esc(x.offense)} · ${String(x.occurred_from).slice(0, 16)}`);
      L.marker([x.lat, x.lon], {interactive: false, icon: L.divIcon({className: "area-label", html: String(i + 1), iconSize: [14, 14], iconAnchor: [-6, 14]})}).addTo(layer);
    });
    map.fitBounds(L.latLngBounds(pts).pad(0.5));
    const info = d.series, sm = info.summary || {};
    CL.el("series-info").innerHTML = `<table><tr><th>series</th><td>${CL.esc(info.series_id)}</td></tr><tr><th>members</th><td>${info.n_members}</td></tr><tr><th>span</th><td>${CL.esc(String(info.first_from).slice(0, 10))} → ${CL.esc(String(info.last_to).slice(0, 10))}</td></tr><tr><th>cohesion</th><td>${CL.fmt(info.cohesion, 3)}</td></tr><tr><th>summary</th><td>${summaryList(sm)}</td></tr><tr><th>linker held-out</th><td>${d.run.evaluation ? "AUC " + CL.fmt(d.run.evaluation.auc) + ", top-50 share " + CL.fmt(d.run.evaluation.top_k_share) : "not evaluated"}</td></tr></table>`;
    const t0 = Date.parse(m[0].occurred_from), t1 = Date.parse(m[m.length - 1].occurred_from);
    const span = Math.max(1, t1 - t0);
    CL.el("timeline").innerHTML = m.map((x, i) => { const p = 3 + 94 * (Date.parse(x.occurred_from) - t0) / span; return `<div class="tick" style="left:${p}%" title="${CL.esc(x.incident_id)}"></div><div class="lab" style="left:${p}%;top:${i % 2 ? 50 : 34}px">${i + 1}. ${String(x.occurred_from).slice(5, 10)}</div>`; }).join("");
    CL.el("members").querySelector("tbody").innerHTML = m.map((x, i) => {
      const e = x.explanation || {};
      const drivers = (e.drivers || e.top || []).map((dr) => Array.isArray(dr) ? `${CL.esc(dr[0])} (${CL.fmt(dr[1], 2)})` : (dr.feature !== undefined ? `${CL.esc(dr.feature)}${dr.reading ? `: ${CL.esc(dr.reading)}` : ""} (${CL.fmt(dr.contribution, 2)})` : CL.esc(JSON.stringify(dr)))).join(", ");
      const link = e.strongest_link ? `${CL.esc(e.strongest_link)} p=${CL.fmt(e.strongest_probability, 2)} (mean p=${CL.fmt(e.mean_probability, 2)})` : "";
      const tick = staff ? `<td><input type="checkbox" class="member" value="${CL.esc(x.incident_id)}" checked aria-label="${CL.esc(x.incident_id)} is in the series"></td>` : "";
      return `<tr><td>${i + 1}</td><td>${CL.esc(x.incident_id)}</td><td>${CL.esc(x.offense)}</td><td>${CL.esc(String(x.occurred_from).slice(0, 16))}</td><td>${CL.esc(x.area)}</td><td>${link}</td><td>${drivers || CL.esc(JSON.stringify(e)).slice(0, 300)}</td>${tick}</tr>`;
    }).join("");
    document.body.dataset.members = String(m.length);
  }
})();
