"use strict";
(async () => {
  const s = CL.whoami(); if (!s) return;
  const staff = ["analyst", "supervisor", "admin"].includes(s.role);  /* nearrepeat.knox: the server refuses (and logs) others */
  document.querySelectorAll(".staff").forEach((e) => { e.hidden = !staff; });
  /* A run's significance level and the p-value it decides by, as the run says: its own alpha (runs stored
     before runs kept one were read at 0.05) and its p_source, the permutation p, or the Poisson p of a run
     without permutations (whose permutation p is null). */
  const runAlpha = (d) => (typeof d.alpha === "number" ? d.alpha : 0.05);
  const pSource = (d) => d.p_source || (d.n_permutations ? "permutation" : "poisson");
  const pText = (p) => (p === null || p === undefined ? "–" : (p > 0 && p < 0.001 ? p.toExponential(1) : CL.fmt(p, 3)));
  /* a seed exactly: runs stored before drew 63-bit seeds, which a JavaScript number rounds (7301010655906923019
     would read 7301010655906924000), so the server sends seed_text too, and the form sends the seed as text */
  const seedText = (d) => (d.seed_text !== undefined && d.seed_text !== null ? String(d.seed_text) : (d.seed === null || d.seed === undefined ? "–" : String(d.seed)));
  const bandsText = (x) => (x.space_bands && x.space_bands.length ? `${x.space_bands.join(", ")} m × ${(x.time_bands || []).join(", ")} d; ` : "") + `${x.convention}, ${x.distance_metric}`;
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
    const alpha = runAlpha(d), poisson = pSource(d) === "poisson";
    const pUsed = poisson ? d.p_poisson : d.p_value, pName = poisson ? "pP" : "p";
    let stars = 0;
    /* the open-ended row and column ("more than X m", "more than N days") are never starred: they hold every pair
       beyond the finite bands, the complement of the close pairs, not near-repeat evidence */
    const open = (bands, k, n) => (bands && bands.bands && bands.bands[k] ? bands.bands[k].upper === null : k === n - 1);
    let html = `<table class="knox"><thead><tr><th>distance \\ days</th>${cols.map((c) => `<th>${CL.esc(c)}</th>`).join("")}</tr></thead><tbody>`;
    rows.forEach((rl, i) => {
      html += `<tr><th>${CL.esc(rl)}</th>` + cols.map((_, j) => {
        const r = d.knox_ratio[i][j], p = pUsed ? pUsed[i][j] : null, o = d.observed[i][j], e = d.expected[i][j];
        const ended = open(d.space_bands, i, rows.length) || open(d.time_bands, j, cols.length);
        const sig = !ended && p !== null && p !== undefined && r !== null && p < alpha && r > 1;
        if (sig) stars += 1;
        return `<td class="kx${sig ? " sig" : ""}${ended ? " open-ended" : ""}" style="background:${shade(r)}" title="observed ${o}, expected ${CL.fmt(e, 1)}${poisson ? " (analytic)" : ""}">${r === null ? "–" : CL.fmt(r, 2)}${sig ? " *" : ""}<br><small>${pName} ${pText(p)} · ${o} obs</small></td>`;
      }).join("") + "</tr>";
    });
    CL.el("kx-table").innerHTML = html + "</tbody></table>";
    CL.el("kx-hint").hidden = true;
    CL.el("kx-title").textContent = `Knox table: ${d.dataset || d.source}${d.offense ? " · " + d.offense : ""} (run ${d.run_id})`;
    /* one event per incident: further records of one incident (ID#2, ...) pair at gap 0 and would inflate the nearest bands */
    const merged = d.n_records_left_out ? ` (${d.n_records_left_out} further records of incidents already counted left out)` : (d.records === "all" ? " (every record counted)" : "");
    const test = poisson
      ? "no permutations: analytic expectation; * ratio > 1 with pP < " + alpha + ", pP the Poisson approximation P(X ≥ observed), a screen and not a permutation test"
      : `${d.n_permutations} permutations, seed ${seedText(d)}; * ratio > 1 with p < ${alpha}, p the permutation p-value (k+1)/(n+1)`;
    CL.el("kx-note").textContent = `${d.n_events} incidents${merged}, ${d.n_close_pairs} pairs inside the bands; ${d.distance} distance; ${test} (the run's alpha). The open-ended cells (more than the largest band) are never starred: they hold every pair beyond the finite bands, the complement of the close pairs, so they are not near-repeat evidence (findings and alerts ignore them too). Bands: ${d.convention_note}.`;
    /* what the run says a reader must know first: coarse times, no permutations, an alpha no cell can reach */
    const warns = d.warnings || [];
    CL.el("kx-warnings").innerHTML = warns.map((w) => `<li>${CL.esc(w)}</li>`).join("");
    CL.el("kx-warnings").hidden = !warns.length;
    document.body.dataset.knoxStars = String(stars);
    document.body.dataset.knoxP = poisson ? "poisson" : "permutation";
    CL.provenance({model: `KnoxTest (run ${d.run_id}, output sha256 ${String(d.output_hash).slice(0, 16)}…)`, mark: d.mark ? "Research output: " + d.mark : ""});
    document.body.dataset.knox = d.run_id;
    shownRun = d.run_id; CL.el("kx-exports").hidden = false; CL.el("kx-export-result").textContent = "";
  }
  let shownRun = null;
  document.querySelectorAll("button.kx-dl").forEach((b) => b.addEventListener("click", async () => {
    if (!shownRun) return;
    const fmt = b.dataset.format;
    try {
      /* no alpha: the heat map outlines at the run's own */
      const sha = await CL.download(`/api/nearrepeat/runs/${encodeURIComponent(shownRun)}/export?format=${fmt}`, `knox-${shownRun}.${fmt}`);
      CL.el("kx-export-result").textContent = `${fmt}: sha256 ${String(sha).slice(0, 16)}…`;
    } catch (e) { CL.showError(e.message); }
  }));
  async function runs() {
    const r = await CL.api("/api/nearrepeat/runs?limit=30");
    const body = CL.el("kx-runs").querySelector("tbody");
    body.innerHTML = r.items.map((x) => `<tr><td><a href="#" class="kx-pick" data-run="${CL.esc(x.run_id)}">${CL.esc(x.run_id)}</a></td><td>${CL.esc(String(x.created_utc).slice(0, 19))}</td><td>${CL.esc(x.dataset || x.source)}</td><td>${CL.esc(x.offense || "all")}</td><td>${CL.esc(bandsText(x))}</td><td>${x.n_events}</td><td>${x.n_permutations}</td><td>${CL.esc(seedText(x))}</td></tr>`).join("") || `<tr><td colspan="8">No stored runs yet.</td></tr>`;
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
                    permutations: Number(CL.el("kx-perms").value),
                    alpha: Number(CL.el("kx-alpha").value), allow_coarse_times: CL.el("kx-coarse").checked};
      /* as text: Number() would round a seed above 2**53; empty: the server draws one (and reports it) */
      const seed = CL.el("kx-seed").value.trim(); if (seed) body.seed = seed;
      if (CL.el("kx-offense").value) body.offense = CL.el("kx-offense").value;
      const d = await CL.api("/api/nearrepeat/runs", {method: "POST", body});
      await runs(); show(d);
    } catch (e) { CL.el("kx-hint").textContent = ""; CL.showError(e.message); } finally { CL.el("kx-run").disabled = false; }
  });
  try {
    const ds = await CL.snapshot();
    for (const d of ds) CL.el("kx-dataset").insertAdjacentHTML("beforeend", `<option>${CL.esc(d.dataset)}</option>`);
    const offenses = () => {  /* the offenses of the chosen dataset */
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
