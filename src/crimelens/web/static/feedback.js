"use strict";
(async () => {
  const s = CL.whoami(); if (!s) return;
  const table = (obj) => `<table>${Object.entries(obj || {}).map(([k, v]) => `<tr><th>${CL.esc(k)}</th><td>${typeof v === "number" ? CL.fmt(v, 4) : CL.esc(JSON.stringify(v)).slice(0, 300)}</td></tr>`).join("")}</table>`;
  function show(run) {
    CL.el("summary").innerHTML = `<p>run ${CL.esc(run.run_id)} · ${CL.esc(run.scenario)} · ledger #${run.ledger_seq}</p>` + table(run.summary) + `<h3>Parameters</h3>` + table(run.params);
    CL.provenance({model: `feedback simulator ${CL.esc(run.params && run.params.model ? run.params.model : run.scenario)} (run ${run.run_id}, output sha256 ${String(run.output_hash).slice(0, 16)}…)`,
                   data: `scenario ${run.scenario}, seed ${run.params ? run.params.seed : "?"}: simulated data, no records`,
                   mark: run.mark ? "Research output: " + run.mark : ""});
    document.body.dataset.ready = "1";
  }
  async function list() {
    const r = await CL.api("/api/feedback/runs?limit=20");
    const body = CL.el("runs").querySelector("tbody");
    body.innerHTML = r.items.map((x, i) => `<tr data-i="${i}"><td><a href="#" class="pick">${CL.esc(x.run_id)}</a></td><td>${CL.esc(x.kind)}</td><td>${CL.esc(x.scenario)}</td><td>${CL.esc(String(x.created_at).slice(0, 19))}</td><td>${CL.esc(JSON.stringify(x.summary)).slice(0, 120)}</td></tr>`).join("") || `<tr><td colspan="5">None yet.</td></tr>`;
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
  try { const items = await list(); if (items.length) show({...items[0], mark: ""}); } catch (e) { CL.showError(e.message); }
})();
