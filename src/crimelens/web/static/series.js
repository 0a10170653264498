"use strict";
(async () => {
  const s = CL.whoami(); if (!s) return;
  const map = CL.baseMap("map");
  let layer = null, runInfo = null;
  const staff = ["analyst", "supervisor", "admin"].includes(s.role);  // link.label: the server refuses (and logs) others
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
  try {
    const runs = await CL.api("/api/series-runs?limit=50");
    if (!runs.items.length) { CL.showError("No series runs yet (crimelens link series)."); return; }
    for (const r of runs.items) CL.el("runs").insertAdjacentHTML("beforeend", `<option value="${CL.esc(r.run_id)}">${CL.esc(r.run_id)} · ${CL.esc(r.dataset)} · ${r.n_series} series</option>`);
    const ds = await CL.snapshot(runs.items[0].dataset);
    CL.provenance({data: CL.snapText(ds[0])});
    await CL.basemap(map, runs.items[0].dataset);
    await loadRun(runs.items[0].run_id);
  } catch (e) { CL.showError(e.message); }

  async function loadRun(runId) {
    const list = await CL.api(`/api/series-runs/${encodeURIComponent(runId)}?limit=200`);
    runInfo = list.run;
    const sel = CL.el("series"); sel.innerHTML = "";
    for (const it of list.items) sel.insertAdjacentHTML("beforeend", `<option value="${CL.esc(it.series_id)}">${CL.esc(it.series_id)} · ${it.n_members} incidents · cohesion ${CL.fmt(it.cohesion, 2)}</option>`);
    CL.provenance({model: `PairwiseLinker ${runInfo.linker_id} (series run ${runInfo.run_id}, output sha256 ${String(runInfo.output_hash).slice(0, 16)}…)`, mark: list.mark ? "Research output: " + list.mark : ""});
    const want = new URLSearchParams(location.search).get("series");
    if (want) sel.value = want;
    if (sel.value) await show(runId, sel.value);
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
    CL.el("series-info").innerHTML = `<table><tr><th>series</th><td>${CL.esc(info.series_id)}</td></tr><tr><th>members</th><td>${info.n_members}</td></tr><tr><th>span</th><td>${CL.esc(String(info.first_from).slice(0, 10))} → ${CL.esc(String(info.last_to).slice(0, 10))}</td></tr><tr><th>cohesion</th><td>${CL.fmt(info.cohesion, 3)}</td></tr><tr><th>summary</th><td><pre>${CL.esc(JSON.stringify(sm, null, 1)).slice(0, 1200)}</pre></td></tr><tr><th>linker held-out</th><td>${d.run.evaluation ? "AUC " + CL.fmt(d.run.evaluation.auc) + ", top-50 share " + CL.fmt(d.run.evaluation.top_k_share) : "not evaluated"}</td></tr></table>`;
    const t0 = Date.parse(m[0].occurred_from), t1 = Date.parse(m[m.length - 1].occurred_from);
    const span = Math.max(1, t1 - t0);
    CL.el("timeline").innerHTML = m.map((x, i) => { const p = 3 + 94 * (Date.parse(x.occurred_from) - t0) / span; return `<div class="tick" style="left:${p}%" title="${CL.esc(x.incident_id)}"></div><div class="lab" style="left:${p}%;top:${i % 2 ? 50 : 34}px">${i + 1}. ${String(x.occurred_from).slice(5, 10)}</div>`; }).join("");
    CL.el("members").querySelector("tbody").innerHTML = m.map((x, i) => {
      const e = x.explanation || {};
      const drivers = (e.drivers || e.top || []).map((dr) => Array.isArray(dr) ? `${CL.esc(dr[0])} (${CL.fmt(dr[1], 2)})` : (dr.feature !== undefined ? `${CL.esc(dr.feature)} (${CL.fmt(dr.contribution, 2)})` : CL.esc(JSON.stringify(dr)))).join(", ");
      const link = e.strongest_link ? `${CL.esc(e.strongest_link)} p=${CL.fmt(e.strongest_probability, 2)} (mean p=${CL.fmt(e.mean_probability, 2)})` : "";
      const tick = staff ? `<td><input type="checkbox" class="member" value="${CL.esc(x.incident_id)}" checked aria-label="${CL.esc(x.incident_id)} is in the series"></td>` : "";
      return `<tr><td>${i + 1}</td><td>${CL.esc(x.incident_id)}</td><td>${CL.esc(x.offense)}</td><td>${CL.esc(String(x.occurred_from).slice(0, 16))}</td><td>${CL.esc(x.area)}</td><td>${link}</td><td>${drivers || CL.esc(JSON.stringify(e)).slice(0, 300)}</td>${tick}</tr>`;
    }).join("");
    document.body.dataset.members = String(m.length);
  }
})();
