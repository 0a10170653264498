"use strict";
(async () => {
  const s = CL.whoami(); if (!s) return;
  const staff = ["analyst", "supervisor", "admin"].includes(s.role);  // feedback.exposure: the server refuses (and logs) others
  document.querySelectorAll(".staff").forEach((e) => { e.hidden = !staff; });
  const ci = (v, d = 3) => v && v.mean !== null && v.mean !== undefined ? `${CL.fmt(v.mean, d)} <small class="muted">[${CL.fmt(v.lo, d)}, ${CL.fmt(v.hi, d)}]</small>` : "—";
  /* An exposure audit: per group of areas, its share of the flags against its share of incidents and of people. */
  function showExposure(run) {
    const sm = run.summary || {}, p = run.params || {};
    const rows = Object.entries(sm.groups || {}).map(([g, v]) => `<tr data-group="${CL.esc(g)}"><th>${CL.esc(g)}</th><td class="num">${v.population === null ? "—" : CL.fmt(v.population, 0)}</td><td class="num">${v.n_areas}</td><td class="num">${ci(v.flag_share)}</td><td class="num">${ci(v.incident_share)}</td><td class="num">${ci(v.population_share)}</td><td class="num ratio">${ci(v.ratio_to_incidents, 2)}</td><td class="num">${ci(v.ratio_to_population, 2)}</td><td class="num">${ci(v.hit_rate)}</td></tr>`).join("");
    CL.el("summary").innerHTML = `<p>exposure audit ${CL.esc(run.run_id)} · ${CL.esc(run.scenario)} · model ${CL.esc(p.model)}, top ${CL.fmt((p.coverage || 0) * 100, 1)} % of cells of ${CL.esc(p.cell_m)} m flagged, ${p.n_periods} periods of ${p.period_days} days from ${CL.esc(p.first_day || "")} · ledger #${run.ledger_seq}</p>
      <table id="exposure"><caption class="muted">Per ${CL.esc(sm.group_by || "area")}: its share of the flagged cell-periods against its share of the recorded incidents and of the people, with ${Math.round((sm.confidence || 0.95) * 100)} % intervals across periods. A ratio above 1 means more patrol attention than its share; compare with incidents <em>and</em> people, since recorded incidents follow where police already look.</caption>
      <thead><tr><th>group</th><th>people</th><th>areas</th><th>share of flags</th><th>share of incidents</th><th>share of people</th><th>flags ÷ incidents</th><th>flags ÷ people</th><th>hit rate</th></tr></thead><tbody>${rows}</tbody></table>
      ${sm.caution_window ? `<p class="muted" id="exp-caution-window">Caution: ${CL.esc(sm.caution_window)}</p>` : ""}
      ${sm.caution ? `<p class="muted" id="exp-caution">Caution: ${CL.esc(sm.caution)}</p>` : ""}
      ${["caution_zero_risk", "caution_ties", "caution_outside", "caution_location"].filter((k) => sm[k]).map((k) => `<p class="warn" id="exp-${k.replace("_", "-")}">Caution: ${CL.esc(sm[k])}</p>`).join("")}`;
    CL.provenance({model: `${p.model} (exposure audit ${run.run_id}, output sha256 ${String(run.output_hash).slice(0, 16)}…)`,
                   data: `${run.scenario}${p.offense ? ", " + p.offense : ""}; areas ${p.areas}`,
                   mark: run.mark ? "Research output: " + run.mark : ""});
    document.body.dataset.exposure = run.run_id;
    document.body.dataset.ready = "1";
  }
  const table = (obj) => `<table>${Object.entries(obj || {}).map(([k, v]) => `<tr><th>${CL.esc(k)}</th><td>${typeof v === "number" ? CL.fmt(v, 4) : CL.esc(JSON.stringify(v)).slice(0, 300)}</td></tr>`).join("")}</table>`;
  function show(run) {
    if (run.kind === "exposure") { showExposure(run); return; }
    CL.el("summary").innerHTML = `<p>run ${CL.esc(run.run_id)} · ${CL.esc(run.scenario)} · ledger #${run.ledger_seq}</p>` + table(run.summary) + `<h3>Parameters</h3>` + table(run.params);
    CL.provenance({model: `feedback simulator ${CL.esc(run.params && run.params.model ? run.params.model : run.scenario)} (run ${run.run_id}, output sha256 ${String(run.output_hash).slice(0, 16)}…)`,
                   data: `scenario ${run.scenario}, seed ${run.params ? run.params.seed : "?"}: simulated data, no records`,
                   mark: run.mark ? "Research output: " + run.mark : ""});
    document.body.dataset.ready = "1";
  }
  const headline = (x) => x.kind === "exposure"
    ? "flags ÷ people: " + Object.entries((x.summary || {}).groups || {}).filter(([, v]) => v.ratio_to_population && v.ratio_to_population.mean !== null)
        .map(([g, v]) => `${g} ${CL.fmt(v.ratio_to_population.mean, 2)}`).join(", ")
    : JSON.stringify(x.summary);
  async function list() {
    const r = await CL.api("/api/feedback/runs?limit=20");
    const body = CL.el("runs").querySelector("tbody");
    body.innerHTML = r.items.map((x, i) => `<tr data-i="${i}"><td><a href="#" class="pick">${CL.esc(x.run_id)}</a></td><td>${CL.esc(x.kind)}</td><td>${CL.esc(x.scenario)}</td><td>${CL.esc(String(x.created_at).slice(0, 19))}</td><td>${CL.esc(headline(x)).slice(0, 160)}</td></tr>`).join("") || `<tr><td colspan="5">None yet.</td></tr>`;
    body.querySelectorAll("a.pick").forEach((a, i) => a.addEventListener("click", (e) => { e.preventDefault(); show({...r.items[i], mark: ""}); }));
    return r.items;
  }
  CL.el("sim-form").addEventListener("submit", async (ev) => {
    ev.preventDefault(); CL.el("simulate").disabled = true; CL.clearError();
    try {
      const run = await CL.api("/api/feedback/simulations", {method: "POST", body: {scenario: CL.el("scenario").value, days: Number(CL.el("days").value), n_runs: Number(CL.el("n_runs").value), seed: Number(CL.el("seed").value)}});
      show(run); await list();
    } catch (e) { CL.showError(e.message); } finally { CL.el("simulate").disabled = false; }
  });
  CL.el("exp-form").addEventListener("submit", async (ev) => {
    ev.preventDefault(); CL.el("exp-run").disabled = true; CL.clearError();
    CL.el("summary").textContent = "backtesting the model over the periods and auditing its flags…";
    try {
      const body = {dataset: CL.el("exp-dataset").value, model: CL.el("exp-model").value, coverage: Number(CL.el("exp-coverage").value),
                    periods: Number(CL.el("exp-periods").value), period_days: Number(CL.el("exp-days").value), window_days: Number(CL.el("exp-window").value)};
      if (CL.el("exp-group").value.trim()) body.group_by = CL.el("exp-group").value.trim();
      if (CL.el("exp-offense").value) body.offense = CL.el("exp-offense").value;
      const run = await CL.api("/api/feedback/exposure", {method: "POST", body});
      showExposure(run); await list();
    } catch (e) { CL.el("summary").textContent = ""; CL.showError(e.message); } finally { CL.el("exp-run").disabled = false; }
  });
  try {
    if (staff) {
      const ds = await CL.snapshot();
      for (const d of ds) CL.el("exp-dataset").insertAdjacentHTML("beforeend", `<option>${CL.esc(d.dataset)}</option>`);
      const offenses = () => {
        const d = ds.find((x) => x.dataset === CL.el("exp-dataset").value);
        CL.el("exp-offense").innerHTML = `<option value="">all</option>` + ((d && d.offenses) || []).map((o) => `<option>${CL.esc(o)}</option>`).join("");
      };
      CL.el("exp-dataset").addEventListener("change", offenses); offenses();
    }
    const items = await list(); if (items.length) show({...items[0], mark: ""});
  } catch (e) { CL.showError(e.message); }
})();
