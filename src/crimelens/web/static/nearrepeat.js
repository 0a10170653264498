"use strict";
(async () => {
  const s = CL.whoami(); if (!s) return;
  const staff = ["analyst", "supervisor", "admin"].includes(s.role);  // nearrepeat.knox: the server refuses (and logs) others
  document.querySelectorAll(".staff").forEach((e) => { e.hidden = !staff; });
  const ALPHA = 0.05;
  const edges = (id) => CL.el(id).value.split(",").map((v) => Number(v.trim())).filter((v) => v > 0);
  /* Knox ratio as a colour: white at 1, deepening red above, blue below. */
  function shade(r) {
    if (r === null || r === undefined) return "#f1f5f9";
    const t = Math.max(-1, Math.min(1, Math.log2(r) / 1.5));
    const c = (a, b) => Math.round(a + (b - a) * Math.abs(t));
    return t >= 0 ? `rgb(255,${c(255, 120)},${c(255, 100)})` : `rgb(${c(255, 140)},${c(255, 170)},255)`;
  }
  function show(d) {
    const rows = d.rows, cols = d.columns;
    let html = `<table class="knox"><thead><tr><th>distance \\ days</th>${cols.map((c) => `<th>${CL.esc(c)}</th>`).join("")}</tr></thead><tbody>`;
    rows.forEach((rl, i) => {
      html += `<tr><th>${CL.esc(rl)}</th>` + cols.map((_, j) => {
        const r = d.knox_ratio[i][j], p = d.p_value[i][j], o = d.observed[i][j], e = d.expected[i][j];
        const sig = p !== null && p !== undefined && p < ALPHA && r > 1;
        return `<td class="kx${sig ? " sig" : ""}" style="background:${shade(r)}" title="observed ${o}, expected ${CL.fmt(e, 1)}">${r === null ? "–" : CL.fmt(r, 2)}${sig ? " *" : ""}<br><small>p ${p === null ? "–" : CL.fmt(p, 3)} · ${o} obs</small></td>`;
      }).join("") + "</tr>";
    });
    CL.el("kx-table").innerHTML = html + "</tbody></table>";
    CL.el("kx-hint").hidden = true;
    CL.el("kx-title").textContent = `Knox table: ${d.dataset || d.source}${d.offense ? " · " + d.offense : ""} (run ${d.run_id})`;
    // one event per incident: further records of one incident (ID#2, ...) pair at gap 0 and would inflate the nearest bands
    const merged = d.n_records_left_out ? ` (${d.n_records_left_out} further records of incidents already counted left out)` : (d.records === "all" ? " (every record counted)" : "");
    CL.el("kx-note").textContent = `${d.n_events} incidents${merged}, ${d.n_close_pairs} pairs inside the bands; ${d.distance} distance; ${d.n_permutations} permutations, seed ${d.seed}; * ratio > 1 with p < ${ALPHA}. Bands: ${d.convention_note}.`;
    CL.provenance({model: `KnoxTest (run ${d.run_id}, output sha256 ${String(d.output_hash).slice(0, 16)}…)`, mark: d.mark ? "Research output: " + d.mark : ""});
    document.body.dataset.knox = d.run_id;
    shownRun = d.run_id; CL.el("kx-exports").hidden = false; CL.el("kx-export-result").textContent = "";
  }
  let shownRun = null;
  document.querySelectorAll("button.kx-dl").forEach((b) => b.addEventListener("click", async () => {
    if (!shownRun) return;
    const fmt = b.dataset.format;
    try {
      const sha = await CL.download(`/api/nearrepeat/runs/${encodeURIComponent(shownRun)}/export?format=${fmt}&alpha=${ALPHA}`, `knox-${shownRun}.${fmt}`);
      CL.el("kx-export-result").textContent = `${fmt}: sha256 ${String(sha).slice(0, 16)}…`;
    } catch (e) { CL.showError(e.message); }
  }));
  async function runs() {
    const r = await CL.api("/api/nearrepeat/runs?limit=30");
    const body = CL.el("kx-runs").querySelector("tbody");
    body.innerHTML = r.items.map((x) => `<tr><td><a href="#" class="kx-pick" data-run="${CL.esc(x.run_id)}">${CL.esc(x.run_id)}</a></td><td>${CL.esc(String(x.created_utc).slice(0, 19))}</td><td>${CL.esc(x.dataset || x.source)}</td><td>${CL.esc(x.offense || "all")}</td><td>${CL.esc(x.convention)}, ${CL.esc(x.distance_metric)}</td><td>${x.n_events}</td><td>${x.n_permutations}</td></tr>`).join("") || `<tr><td colspan="7">No stored runs yet.</td></tr>`;
    body.querySelectorAll("a.kx-pick").forEach((a) => a.addEventListener("click", async (e) => {
      e.preventDefault(); CL.clearError();
      try { show(await CL.api(`/api/nearrepeat/runs/${encodeURIComponent(a.dataset.run)}`)); } catch (x) { CL.showError(x.message); }
    }));
    return r.items;
  }
  CL.el("knox-form").addEventListener("submit", async (ev) => {
    ev.preventDefault(); CL.clearError(); CL.el("kx-run").disabled = true;
    CL.el("kx-hint").hidden = false; CL.el("kx-hint").textContent = "computing…";
    try {
      const body = {dataset: CL.el("kx-dataset").value, space_bands: edges("kx-space"), time_bands: edges("kx-time"),
                    distance: CL.el("kx-distance").value, convention: CL.el("kx-convention").value,
                    permutations: Number(CL.el("kx-perms").value), seed: Number(CL.el("kx-seed").value)};
      if (CL.el("kx-offense").value) body.offense = CL.el("kx-offense").value;
      const d = await CL.api("/api/nearrepeat/runs", {method: "POST", body});
      await runs(); show(d);
    } catch (e) { CL.el("kx-hint").textContent = ""; CL.showError(e.message); } finally { CL.el("kx-run").disabled = false; }
  });
  try {
    const ds = await CL.snapshot();
    for (const d of ds) CL.el("kx-dataset").insertAdjacentHTML("beforeend", `<option>${CL.esc(d.dataset)}</option>`);
    const offenses = () => {  // the offenses of the chosen dataset
      const d = ds.find((x) => x.dataset === CL.el("kx-dataset").value); if (!d) return;
      CL.el("kx-offense").innerHTML = `<option value="">all</option>` + d.offenses.map((o) => `<option>${CL.esc(o)}</option>`).join("");
      CL.provenance({data: CL.snapText(d)});
    };
    CL.el("kx-dataset").addEventListener("change", offenses);
    offenses();
    await runs();
  } catch (e) { CL.showError(e.message); }
  document.body.dataset.ready = "1";
})();
