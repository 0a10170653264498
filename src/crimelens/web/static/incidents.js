"use strict";
(async () => {
  const s = CL.whoami(); if (!s) return;
  const map = CL.baseMap("map");
  /* the day in the dataset's own zone; a whole-day surface's alert gives that date already */
  const localDay = (iso, tz) => String(iso).length <= 10 ? String(iso) : CL.localTime(iso, tz).slice(0, 10);
  const staff = ["analyst", "supervisor", "admin"].includes(s.role);  // ingest.file: the server refuses (and logs) others
  CL.el("load-panel").hidden = !staff;
  async function quarantine(dataset) {
    const name = typeof dataset === "string" ? dataset : CL.el("dataset").value;
    const q = await CL.api("/api/quarantine?limit=50" + (name ? "&dataset=" + encodeURIComponent(name) : ""));
    CL.el("q-count").textContent = `(${q.total} in ${name || "all datasets"}; newest 50)`;
    CL.el("quarantine").querySelector("tbody").innerHTML = q.rows.map((r) => `<tr><td>${CL.esc(r.dataset)}</td><td>${CL.esc(r.file)}</td><td>${CL.esc(r.line)}</td><td>${CL.esc(r.column)}</td><td><code>${CL.esc(String(r.value === null ? "" : r.value).slice(0, 60))}</code></td><td>${CL.esc(r.reason)}</td></tr>`).join("") || `<tr><td colspan="6">No refused rows.</td></tr>`;
  }
  CL.el("load-form").addEventListener("submit", async (ev) => {
    ev.preventDefault(); CL.clearError();
    const file = CL.el("load-file").files[0]; if (!file) return;
    const dataset = CL.el("load-dataset").value.trim();
    CL.el("load-submit").disabled = true; CL.el("load-result").textContent = `loading ${file.name}…`;
    try {
      const q = new URLSearchParams({filename: file.name});
      if (CL.el("load-mapping").value) q.set("mapping", CL.el("load-mapping").value);
      const r = await CL.upload(`/api/datasets/${encodeURIComponent(dataset)}/files?${q}`, file);
      const reasons = r.top_reasons.map((x) => `<li>${x.rows} × ${CL.esc(x.reason)}</li>`).join("");
      CL.el("load-result").innerHTML = r.already_ingested
        ? `<p class="ok" id="load-ok">${CL.esc(file.name)} was already loaded into ${CL.esc(r.dataset)} (ingest ${CL.esc(r.ingest_id)}): nothing changed.</p>`
        : `<p class="ok" id="load-ok">${CL.esc(file.name)} into ${CL.esc(r.dataset)} as ${CL.esc(r.reader)}: read ${r.n_read.toLocaleString()}, landed ${r.n_landed.toLocaleString()}, quarantined ${r.n_quarantined.toLocaleString()} (ingest ${CL.esc(r.ingest_id)}, projected to ${CL.esc(r.crs)}).</p>${(r.warnings || []).map((w) => `<p class="warn">warning: ${CL.esc(w)}</p>`).join("")}${reasons ? `<ul>${reasons}</ul>` : ""}`;
      CL.el("load-form").reset(); CL.el("load-dataset").value = dataset;
      if (![...CL.el("dataset").options].some((o) => o.value === dataset)) CL.el("dataset").insertAdjacentHTML("beforeend", `<option>${CL.esc(dataset)}</option>`);
      await quarantine(dataset);
    } catch (e) { CL.el("load-result").textContent = ""; CL.showError(e.message); } finally { CL.el("load-submit").disabled = false; }
  });
  async function mappings(pick) {
    const m = await CL.api("/api/mappings");
    CL.el("load-mapping").innerHTML = `<option value="">detect from the header</option>` + m.items.map((x) => `<option value="${CL.esc(x.name)}">${CL.esc(x.name)} (version ${x.version})</option>`).join("");
    if (pick) CL.el("load-mapping").value = pick;
  }
  CL.el("mapping-form").addEventListener("submit", async (ev) => {
    ev.preventDefault(); CL.clearError();
    const file = CL.el("mapping-file").files[0], name = CL.el("mapping-name").value.trim(), out = CL.el("mapping-result");
    if (!file || !name) return;
    try {
      const d = await CL.upload(`/api/mappings/${encodeURIComponent(name)}`, file, {method: "PUT", type: "application/toml"});
      await mappings(d.name);  // the list picks the new mapping before the page says it is kept
      out.innerHTML = `<span class="ok" id="mapping-ok">${CL.esc(d.name)}: ${d.changed ? `kept as version ${d.version}` : `unchanged (version ${d.version})`}, layout ${CL.esc(d.layout)}.</span>`;
    } catch (e) { out.innerHTML = `<span class="bad">${CL.esc(e.message)}</span>`; }
  });
  CL.el("areas-form").addEventListener("submit", async (ev) => {
    ev.preventDefault(); CL.clearError();
    const file = CL.el("areas-file").files[0], dataset = CL.el("areas-dataset").value.trim(), out = CL.el("areas-result");
    if (!file || !dataset) return;
    const q = new URLSearchParams({filename: file.name});
    if (CL.el("areas-replace").checked) q.set("replace", "true");
    try {
      const r = await CL.upload(`/api/datasets/${encodeURIComponent(dataset)}/areas?${q}`, file);
      out.innerHTML = `<span class="ok" id="areas-ok">${r.n_areas} areas for ${CL.esc(r.dataset)}${r.replaced ? ` (replacing ${r.replaced})` : ""}, projected to ${CL.esc(r.crs)}; audit attributes: ${r.audit_attributes.map(CL.esc).join(", ") || "none"}.</span>`;
    } catch (e) { out.innerHTML = `<span class="bad">${CL.esc(e.message)}</span>`; }
  });
  let points = null, rings = null, rows = [], fitToPoints = true, offset = 0, total = 0;
  // each dataset's zone (the one its files were read in): times are shown there, named, as the near-repeat panel shows them
  const zones = {};
  const zoneOf = (dataset) => zones[dataset] || "UTC";
  const when = (iso, dataset) => (iso ? CL.localTime(iso, zoneOf(dataset)) : "—");
  // handlers first: a pick made while the first load is still awaiting must not be lost
  CL.el("filters").addEventListener("submit", (ev) => { ev.preventDefault(); offset = 0; load().then(() => quarantine()).catch((e) => CL.showError(e.message)); });
  // every incident the heading counts is reachable: a page at a time, newest first
  const turn = (step) => { offset = Math.max(0, offset + step * Number(CL.el("limit").value)); load().catch((e) => CL.showError(e.message)); };
  CL.el("page-newer").addEventListener("click", () => turn(-1));
  CL.el("page-older").addEventListener("click", () => turn(1));
  try {
    const ds = await CL.snapshot();
    if (!ds.length) { CL.showError("The store holds no incidents yet."); return; }
    for (const d of ds) zones[d.dataset] = d.timezone || "UTC";
    for (const d of ds) CL.el("dataset").insertAdjacentHTML("beforeend", `<option>${CL.esc(d.dataset)}</option>`);
    for (const o of ds[0].offenses) CL.el("offense").insertAdjacentHTML("beforeend", `<option>${CL.esc(o)}</option>`);
    CL.provenance({data: CL.snapText(ds[0]), model: "none (recorded incidents as stored)"});
    CL.el("load-dataset").value = ds[0].dataset; CL.el("areas-dataset").value = ds[0].dataset;
    fitToPoints = !(await CL.basemap(map, ds[0].dataset));
    await load();
    await quarantine();
    if (staff) await mappings();
  } catch (e) { CL.showError(e.message); }
  async function load() {
    CL.clearError();
    const dataset = CL.el("dataset").value;
    if (dataset && !(dataset in zones)) {  // a dataset loaded since the page opened: ask for its zone
      const d = await CL.snapshot(dataset);
      zones[dataset] = (d[0] && d[0].timezone) || "UTC";
    }
    const zone = zoneOf(dataset);
    const q = new URLSearchParams({dataset, limit: CL.el("limit").value, offset: String(offset)});
    if (CL.el("offense").value) q.set("offense", CL.el("offense").value);
    // a date without an offset: midnight in the dataset's own zone (the server reads it there)
    if (CL.el("start").value) q.set("start", CL.el("start").value + "T00:00:00");
    if (CL.el("end").value) q.set("end", CL.el("end").value + "T00:00:00");
    const r = await CL.api("/api/incidents?" + q.toString());
    rows = r.items; total = r.total;
    // the heading counts exactly the rows the table shows, and where they stand among all that match
    CL.el("count").textContent = rows.length
      ? `(${(offset + 1).toLocaleString()}–${(offset + rows.length).toLocaleString()} of ${total.toLocaleString()}, newest first; times in ${zone})`
      : `(none of ${total.toLocaleString()})`;
    CL.el("page-newer").disabled = offset === 0;
    CL.el("page-older").disabled = offset + rows.length >= total;
    CL.el("list-zone").textContent = `(${zone})`;
    if (points) map.removeLayer(points);
    points = L.layerGroup(rows.map((x) => L.circleMarker([x.lat, x.lon], {radius: 3, weight: 1, color: "#1e3a8a", fillOpacity: 0.6})
      .bindTooltip(`${CL.esc(x.incident_id)}<br>${CL.esc(x.offense)} · ${CL.esc(when(x.occurred_from, x.dataset))} ${CL.esc(zoneOf(x.dataset))}`)
      .on("click", () => nearRepeat(x)))).addTo(map);
    if (fitToPoints && rows.length) map.fitBounds(L.latLngBounds(rows.map((x) => [x.lat, x.lon])).pad(0.05));
    CL.el("list").querySelector("tbody").innerHTML = rows.map((x, i) => `<tr data-incident="${CL.esc(x.incident_id)}"><td>${CL.esc(x.incident_id)}</td><td>${CL.esc(x.offense)}</td><td>${CL.esc(when(x.occurred_from, x.dataset))}</td><td>${CL.esc(x.area)}</td><td><button type="button" class="secondary nr" data-i="${i}">Near repeat</button> <button type="button" class="secondary sim" data-i="${i}">Similar</button></td></tr>`).join("");
    CL.el("list").querySelectorAll("button.nr").forEach((b) => b.addEventListener("click", () => nearRepeat(rows[Number(b.dataset.i)])));
    CL.el("list").querySelectorAll("button.sim").forEach((b) => b.addEventListener("click", () => similar(rows[Number(b.dataset.i)])));
    document.body.dataset.listed = String(rows.length);
  }
  /* The analyst's main view: the incidents the linker scores as most likely linked to this one, and why. */
  let simLayer = null;
  async function similar(x) {
    CL.clearError();
    CL.el("sim-panel").hidden = false;
    CL.el("sim-title").textContent = `Similar incidents to ${x.incident_id}`;
    CL.el("sim-note").textContent = "scoring…";
    try {
      const d = await CL.api(`/api/incidents/${encodeURIComponent(x.incident_id)}/similar?dataset=${encodeURIComponent(x.dataset)}&k=10`);
      const at = (p) => p ? `${CL.esc(p.offense)} · ${CL.esc(when(p.occurred_from, x.dataset))} · ${CL.esc(p.area || "—")} · ${CL.esc(p.premise || "—")}` : "—";
      CL.el("sim-zone").textContent = `(${zoneOf(x.dataset)})`;
      // each driver with what the pair has (agree / differ / unknown, the values compared) and its part of the log-odds
      const drivers = (m) => m.drivers.map((v) => `<span class="driver">${CL.esc(v.feature)}${v.reading ? `: ${CL.esc(v.reading)}` : ""} ${v.contribution >= 0 ? "+" : ""}${CL.fmt(v.contribution, 2)}</span>`).join("");
      CL.el("similar").querySelector("tbody").innerHTML = `<tr class="here"><td>—</td><td>${CL.esc(x.incident_id)}</td><td>(this one)</td><td>${at(d.incident)}</td><td></td></tr>` +
        d.matches.map((m, i) => `<tr data-incident="${CL.esc(m.incident_id)}"><td>${i + 1}</td><td>${CL.esc(m.incident_id)}</td><td>${CL.fmt(m.probability)}</td><td>${at(m.place)}</td><td>${drivers(m)}</td></tr>`).join("");
      const record = d.asked_for !== d.incident_id ? `${d.asked_for} is a further record of incident ${d.incident_id} (one row per victim or offence): these are its incident's matches. ` : "";
      CL.el("sim-note").innerHTML = CL.esc(`${record}${d.matches.length} of ${d.n_candidates} incidents close enough in place and time to compare; linker ${d.linker_id}; ledger #${d.ledger_seq}; ${CL.fmt(d.elapsed_ms, 0)} ms.`)
        + (d.warnings || []).map((w) => `<br><span class="bad sim-warning">warning: ${CL.esc(w)}</span>`).join("");
      if (simLayer) map.removeLayer(simLayer);
      simLayer = L.layerGroup().addTo(map);
      const here = d.incident ? [d.incident.lat, d.incident.lon] : [x.lat, x.lon];
      d.matches.forEach((m, i) => {
        if (!m.place) return;
        const there = [m.place.lat, m.place.lon];
        L.polyline([here, there], {color: "#7c3aed", weight: 1 + 3 * m.probability, opacity: 0.7, className: "sim-link"}).addTo(simLayer);
        L.circleMarker(there, {radius: 6, color: "#7c3aed", fillColor: "#a78bfa", fillOpacity: 0.9}).addTo(simLayer)
          .bindTooltip(`${i + 1}. ${CL.esc(m.incident_id)} · p=${CL.fmt(m.probability, 2)}`);
      });
      L.circleMarker(here, {radius: 8, color: "#7c3aed", fillColor: "#fff", fillOpacity: 1, weight: 3}).addTo(simLayer);
      CL.provenance({model: `PairwiseLinker ${d.linker_id} (similar incidents to ${x.incident_id})`, mark: d.mark ? "Research output: " + d.mark : ""});
      document.body.dataset.similar = String(d.matches.length);
    } catch (e) { CL.el("sim-note").innerHTML = `<span class="bad">${CL.esc(e.message)}</span>`; }
  }
  async function nearRepeat(x) {
    CL.el("nr").textContent = `computing the surface for ${x.incident_id}…`;
    try {
      const a = await CL.api(`/api/incidents/${encodeURIComponent(x.incident_id)}/nearrepeat`, {method: "POST", body: {dataset: x.dataset}});
      if (rings) map.removeLayer(rings);
      rings = L.layerGroup().addTo(map);
      L.circleMarker([x.lat, x.lon], {radius: 6, color: "#b91c1c", fillOpacity: 1}).addTo(rings);
      const maxK = Math.max(1, ...a.elevated.map((e) => e.knox_ratio));
      // rings come from the server in the run's distance: diamonds (Manhattan) or circles (Euclidean)
      a.elevated.forEach((e, i) => {
        const g = (a.rings || [])[i];
        if (!g) return;
        L.geoJSON(g, {style: {className: "nr-ring", color: "#b91c1c", weight: 1, fillColor: "#f97316", fillOpacity: 0.1 + 0.3 * (e.knox_ratio - 1) / Math.max(0.01, maxK - 1)}}).addTo(rings)
          .bindTooltip(`${CL.esc(e.space_interval)} · ${CL.esc(e.time_interval)} · Knox ratio ${CL.fmt(e.knox_ratio, 2)} · ${CL.esc(a.distance)} distance`);
      });
      // a run stored before Knox counted one event per incident: its further records (ID#2, ...) passed for near repeats
      const stale = a.surface_records === "all" ? `<p class="bad">That Knox run counted every record, so an incident's further records (ID#2, …) count as near repeats: run the Knox table again to count each incident once.</p>` : "";
      CL.el("nr").innerHTML = `<p>${CL.esc(x.incident_id)} (${CL.esc(a.offense)}), Knox run ${CL.esc(a.run_id)}${a.surface_computed ? " (computed now)" : ""}; ledger #${a.ledger_seq}</p>` + stale +
        (a.elevated.length ? `<table><tr><th>distance</th><th>days</th><th>Knox ratio</th><th>p</th><th>applies (${CL.esc(a.timezone || "UTC")})</th></tr>${a.elevated.map((e) => `<tr><td>${CL.esc(e.space_interval)}</td><td>${CL.esc(e.time_interval)}</td><td>${CL.fmt(e.knox_ratio, 2)}</td><td>${CL.fmt(e.p_value, 3)}</td><td>${CL.esc(localDay(e.starts, a.timezone))} → ${CL.esc(localDay(e.ends, a.timezone))}</td></tr>`).join("")}</table>` : "<p>No band is elevated at this alpha.</p>");
      CL.provenance({model: `KnoxTest (run ${a.run_id})`, mark: a.mark ? "Research output: " + a.mark : ""});
      document.body.dataset.nearrepeat = String(a.elevated.length);
    } catch (e) { CL.el("nr").innerHTML = `<span class="bad">${CL.esc(e.message)}</span>`; }
  }
})();
