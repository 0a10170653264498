"use strict";
(async () => {
  const s = CL.whoami(); if (!s) return;
  const map = CL.baseMap("map");
  let cells = null, baseData = "", latest = 0, fitToCells = true;
  const colours = ["#fff7bc", "#fee391", "#fec44f", "#fe9929", "#ec7014", "#cc4c02", "#8c2d04"];
  const legend = L.control({position: "bottomright"});
  legend.onAdd = () => { const d = L.DomUtil.create("div", "legend"); d.id = "legend"; return d; };
  legend.addTo(map);
  // handlers first: a pick made while the first load is still awaiting must not be lost
  let shownRun = null;
  document.querySelectorAll("#exports button.dl").forEach((b) => b.addEventListener("click", async () => {
    if (!shownRun) return;
    const fmt = b.dataset.format;
    try {
      const sha = await CL.download(`/api/forecasts/${encodeURIComponent(shownRun)}/export?format=${fmt}`, `forecast-${shownRun}.${fmt}`);
      CL.el("export-result").textContent = `${fmt}: sha256 ${String(sha).slice(0, 16)}…`;
    } catch (e) { CL.showError(e.message); }
  }));
  CL.el("runs").addEventListener("change", (e) => { if (e.target.value) show(e.target.value).catch((x) => CL.showError(x.message)); });
  CL.el("run-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    CL.el("run").disabled = true;
    try {
      const body = {dataset: CL.el("dataset").value, offense: CL.el("offense").value || null,
                    at: CL.el("at").value + ":00" /* read in the dataset's zone */, horizon_days: Number(CL.el("horizon").value),
                    coverage: Number(CL.el("coverage").value), model: CL.el("model").value};
      const params = CL.parseParams(CL.el("params").value);
      if (Object.keys(params).length) body.params = params;
      const run = await CL.api("/api/forecasts", {method: "POST", body});
      CL.el("runs").insertAdjacentHTML("afterbegin", runOption(run.run_id, run.model, run.window[0], run.offense, " (new)"));
      CL.el("runs").value = run.run_id;
      await show(run.run_id);
    } catch (e) { CL.showError(e.message); } finally { CL.el("run").disabled = false; }
  });
  try {
    const ds = await CL.snapshot();
    const sel = CL.el("dataset");
    for (const d of ds) sel.insertAdjacentHTML("beforeend", `<option>${CL.esc(d.dataset)}</option>`);
    const first = ds[0];
    if (!first) { CL.showError("The store holds no incidents yet."); return; }
    const pick = (d) => {  // the chosen data set's offenses, a start at its last record, its provenance
      CL.el("offense").innerHTML = `<option value="">all</option>` + d.offenses.map((o) => `<option>${CL.esc(o)}</option>`).join("");
      CL.el("at").value = String(d.last_local || d.occurred_to).slice(0, 10) + "T00:00";  // the last record's day, local midnight
      CL.el("at-zone").textContent = d.timezone || "UTC";
      baseData = CL.snapText(d);
      CL.provenance({data: baseData});
    };
    pick(first);
    sel.addEventListener("change", () => { const d = ds.find((x) => x.dataset === sel.value); if (d) pick(d); });
    fitToCells = !(await CL.basemap(map, first.dataset));
    const runs = await CL.api("/api/forecasts?limit=50");
    for (const r of runs.items) CL.el("runs").insertAdjacentHTML("beforeend", runOption(r.run_id, r.model, r.window_start, r.offense, ""));
    if (runs.items.length) { CL.el("runs").value = runs.items[0].run_id; await show(runs.items[0].run_id); }
  } catch (e) { CL.showError(e.message); }

  function runOption(id, model, start, offense, note) {  // start to the hour: shifts differ by it
    return `<option value="${CL.esc(id)}">${CL.esc(id)} · ${CL.esc(model)} · ${CL.esc(String(start).slice(0, 16).replace("T", " "))} · ${CL.esc(offense || "all")}${note}</option>`;
  }

  async function show(runId) {
    CL.clearError();
    const mine = ++latest;  // a later pick wins over a slower earlier one
    const layer = await CL.api(`/api/forecasts/${encodeURIComponent(runId)}/cells`);
    if (mine !== latest) return;
    const p = layer.properties;
    const ranked = layer.features.map((f) => f.properties.risk).sort((a, b) => a - b);
    const q = (v) => { let lo = 0, hi = ranked.length; while (lo < hi) { const m = (lo + hi) >> 1; if (ranked[m] < v) lo = m + 1; else hi = m; } return lo / Math.max(1, ranked.length); };
    if (cells) map.removeLayer(cells);
    cells = L.geoJSON(layer, {
      style: (f) => ({stroke: f.properties.flagged, color: "#b91c1c", weight: f.properties.flagged ? 2 : 0,
                      fillColor: colours[Math.min(colours.length - 1, Math.floor(q(f.properties.risk) * colours.length))], fillOpacity: 0.75}),
      onEachFeature: (f, l) => l.bindTooltip(`cell ${CL.esc(f.properties.cell_id)}<br>risk ${CL.fmt(f.properties.risk, 4)} · rank ${f.properties.rank}${f.properties.flagged ? "<br><b>flagged</b>" : ""}`)
    }).addTo(map);
    if (fitToCells && layer.features.length) map.fitBounds(cells.getBounds());  // no basemap to frame the city
    document.body.dataset.cells = String(layer.features.length);
    shownRun = runId; CL.el("exports").hidden = false; CL.el("export-result").textContent = "";
    CL.el("legend").innerHTML = colours.map((c, i) => `<i style="background:${c}"></i>${Math.round(i * 100 / colours.length)}–${Math.round((i + 1) * 100 / colours.length)} % of cells<br>`).join("") + `<i style="border:2px solid #b91c1c"></i>flagged (top ${CL.fmt(p.coverage * 100, 0)} %)`;
    CL.provenance({model: `${p.model} ${p.model_version} (run ${p.run_id}, output sha256 ${String(p.output_hash).slice(0, 16)}…)`,
                   mark: !p.mark ? "Operational output under a deployment." : p.mark.startsWith("research")
                     ? "Research output: " + p.mark : "Operational output under a deployment: " + p.mark});
    CL.provenance({data: `${baseData}; training data sha256 ${String(p.data_hash).slice(0, 16)}…`});
    CL.el("run-info").innerHTML = `<table><tr><th>run</th><td>${CL.esc(p.run_id)}</td></tr><tr><th>window</th><td>${CL.esc(CL.localTime(p.window[0], p.timezone))} → ${CL.esc(CL.localTime(p.window[1], p.timezone))} ${CL.esc(p.timezone || "UTC")}</td></tr><tr><th>cells</th><td>${p.n_cells} (${p.n_flagged} flagged)${!p.tie_at_cut ? "" : p.tie_at_cut.flagged + p.tie_at_cut.unflagged === p.n_cells ? `<br><span class="bad" id="run-tie">every cell has the same risk ${CL.fmt(p.tie_at_cut.risk, 4)}: the model found nothing to tell the cells apart, and the flagged cells are only the lowest cell indices (try naive or kde)</span>` : `<br><span class="bad" id="run-tie">the top ${CL.fmt(p.coverage * 100, 0)} % ends inside a tie: ${p.tie_at_cut.flagged} flagged and ${p.tie_at_cut.unflagged} unflagged cells share the risk ${CL.fmt(p.tie_at_cut.risk, 4)}, so which are flagged is only the tie rule (lowest cell index)</span>`}</td></tr><tr><th>records</th><td id="run-records">${p.records === "all" ? "every record" : `each incident once (${p.n_records_left_out || 0} further records of counted incidents left out)`}</td></tr><tr><th>units</th><td>${CL.esc(p.risk_units)}</td></tr><tr><th>ledger</th><td id="run-ledger" class="${p.matches_ledger === false ? "bad" : "ok"}">${p.matches_ledger === false ? "the stored cells do not match this run's ledger entry (changed in the store after the run was logged): " + CL.esc((p.ledger_problems || []).join("; ")) : "the stored cells match the run's ledger entry"}</td></tr><tr><th>parameters</th><td id="run-params">${CL.esc(Object.entries(p.params || {}).filter(([k, v]) => k !== "area" && v !== null).map(([k, v]) => `${k}=${typeof v === "object" ? JSON.stringify(v) : v}`).join(", "))}</td></tr></table>`;
    const ev = await CL.api(`/api/forecasts/${encodeURIComponent(runId)}/evaluation`);
    if (mine !== latest) return;
    CL.el("scores").querySelector("tbody").innerHTML = ev.scores.map((r) => `<tr><td>${CL.fmt(r.coverage * 100, 0)} %</td><td>${r.n_flagged}</td><td>${CL.fmt(r.hit_rate)}</td><td>${CL.fmt(r.pai, 2)}</td></tr>`).join("");
    CL.el("eval-note").textContent = `${ev.n_recorded_in_window} incidents recorded in the window (${ev.n_outside_study_area} outside the study area). ${ev.note}`;
    const bg = ev.by_group, gt = CL.el("groups-eval");
    gt.hidden = !bg || !Object.keys(bg.groups).length;
    if (bg) {
      gt.querySelector("thead").innerHTML = `<tr><th>${CL.esc(bg.by)}</th><th>recorded</th>${bg.coverages.map((c) => `<th>hit rate, top ${CL.fmt(c * 100, 0)} %</th>`).join("")}</tr>`;
      gt.querySelector("tbody").innerHTML = Object.entries(bg.groups).map(([g, v]) => `<tr data-group="${CL.esc(g)}"><td>${CL.esc(g)}</td><td>${v.n}</td>${v.hit_rate.map((h) => `<td>${CL.fmt(h)}</td>`).join("")}</tr>`).join("");
    }
  }
})();
