"use strict";
(async () => {
  const s = CL.whoami(); if (!s) return;
  const staff = ["analyst", "supervisor", "admin"].includes(s.role);  // forecast.backtest: the server refuses (and logs) others
  document.querySelectorAll(".staff").forEach((e) => { e.hidden = !staff; });
  const MODELS = ["naive", "weighted", "retro", "prospective", "kde", "etas", "sepp", "gbm"];
  const CHOSEN = new Set(["naive", "weighted", "gbm"]);
  const palette = ["#1d4ed8", "#b91c1c", "#15803d", "#a16207", "#7c3aed", "#0f766e", "#be185d", "#475569"];
  const NS = "http://www.w3.org/2000/svg";
  const pct = (c) => `${CL.fmt(c * 100, c < 0.01 ? 1 : 0)} %`;
  // the perfect-rate ceiling is one expected value, not a mean over periods: a bound, without an interval
  /* an interval, or why there is none (one scored period; too many resamples undefined) */
  const band = (low, high, d, why) => low === null || low === undefined || high === null || high === undefined
    ? `<small class="muted" title="${CL.esc(why || "")}">(no interval${why ? ": " + CL.esc(why) : ""})</small>`
    : `<small class="muted">[${CL.fmt(low, d)}, ${CL.fmt(high, d)}]</small>`;
  const cell = (v, d = 3, m = "") => !v || v.mean === null || v.mean === undefined ? "—"
    : m.startsWith("ceiling:") ? `${CL.fmt(v.mean, d)} <small class="muted">(expected; no interval)</small>`
    : `${CL.fmt(v.mean, d)} ${band(v.low, v.high, d, v.no_interval)}`;
  CL.el("bt-models").insertAdjacentHTML("beforeend", MODELS.map((m) =>
    `<label><input type="checkbox" value="${m}"${CHOSEN.has(m) ? " checked" : ""}>${m}</label>`).join(""));

  /* Hit rate against the share of cells flagged, one line per model; the ceiling dashed. */
  function curve(summ) {
    const svg = CL.el("bt-curve");
    const names = Object.keys(summ.models);
    const covs = [...new Set(names.flatMap((m) => Object.keys(summ.models[m].hit_rate).map(Number)))].sort((a, b) => a - b);
    const xmax = covs[covs.length - 1] || 0.2;
    const ymax = Math.min(1, Math.ceil(Math.max(0.05, ...names.flatMap((m) => covs.map((c) => (summ.models[m].hit_rate[String(c)] || {}).mean || 0))) * 10) / 10);
    const X = (v) => 50 + 350 * v / xmax, Y = (v) => 320 - 300 * v / ymax;
    let html = `<line x1="50" y1="320" x2="400" y2="320" stroke="#333"/><line x1="50" y1="20" x2="50" y2="320" stroke="#333"/>`;
    for (let k = 0; k <= 4; k++) {
      const xv = xmax * k / 4, yv = ymax * k / 4;
      html += `<text x="${X(xv)}" y="336" font-size="10" text-anchor="middle">${pct(xv)}</text><text x="45" y="${Y(yv) + 3}" font-size="10" text-anchor="end">${CL.fmt(yv, 2)}</text><line x1="50" x2="400" y1="${Y(yv)}" y2="${Y(yv)}" stroke="#eef1f6"/>`;
    }
    html += `<text x="225" y="362" text-anchor="middle" font-size="12">share of cells flagged</text><text x="12" y="170" font-size="12" transform="rotate(-90 12 170)" text-anchor="middle">hit rate (mean over forecasts)</text>`;
    svg.innerHTML = html;
    const legend = [];
    names.forEach((m, i) => {
      const pts = covs.map((c) => [c, (summ.models[m].hit_rate[String(c)] || {}).mean]).filter(([, v]) => v !== null && v !== undefined);
      const colour = m.startsWith("ceiling:") ? "#111827" : palette[i % palette.length];
      const p = document.createElementNS(NS, "polyline");
      p.setAttribute("points", pts.map(([a, b]) => `${X(a).toFixed(1)},${Y(b).toFixed(1)}`).join(" "));
      p.setAttribute("fill", "none"); p.setAttribute("stroke", colour); p.setAttribute("stroke-width", "2");
      p.dataset.model = m;
      if (m.startsWith("ceiling:")) p.setAttribute("stroke-dasharray", "5 4");
      svg.appendChild(p);
      legend.push(`<span><i style="background:${colour}"></i>${CL.esc(m)}</span>`);
    });
    CL.el("bt-legend").innerHTML = legend.join("");
  }

  function show(d) {
    const summ = d.summary || d;
    const covs = summ.coverages || d.coverages || [0.01, 0.05];
    const names = Object.keys(summ.models);
    CL.el("bt-hint").hidden = true;
    CL.el("bt-title").textContent = `Backtest ${d.run_id}: ${d.dataset || "all datasets"} · ${d.offense || "all offenses"}`;
    const area = summ.area || {};
    const origins = summ.origins || [];
    // the scores are defined on the study area: the test incidents recorded outside it are not scored
    const ti = summ.test_incidents;
    const outside = ti ? `<tr id="bt-outside"${ti.share_outside > 0.1 ? ` class="bt-warning"` : ""}><th>test incidents</th><td>${CL.fmt(ti.n_outside, 0)} of ${CL.fmt(ti.n_recorded, 0)} test incidents (${CL.fmt(100 * ti.share_outside, 0)} %) fell outside the study area and are not scored; the scores are over the other ${CL.fmt(ti.n_in_study_area, 0)}</td></tr>` : "";
    CL.el("bt-info").innerHTML = `<table>
      <tr><th>forecasts</th><td>${summ.n_periods} of ${CL.span(summ.horizon_days)}, first from ${CL.esc(origins.length ? CL.localTime(origins[0], summ.timezone) : "")}, last from ${CL.esc(origins.length ? CL.localTime(origins[origins.length - 1], summ.timezone) : "")} (${CL.esc(summ.timezone || "UTC")})</td></tr>
      ${(summ.warnings || []).map((w) => `<tr class="bt-warning"><th>warning</th><td>${CL.esc(w)}</td></tr>`).join("")}
      <tr><th>records</th><td id="bt-records">${summ.records === "incident" ? `each incident once (${summ.n_records_left_out || 0} further records of counted incidents left out)` : "every record"}</td></tr>
      <tr><th>study area</th><td>${area.n_cells} cells of ${CL.esc(area.cell_m || "")} m: ${CL.esc(area.rule || "")}</td></tr>
      ${outside}
      <tr><th>intervals</th><td>${CL.esc(summ.interval || "")}</td></tr>
      <tr><th>ties</th><td>${CL.esc(summ.ties || "")}</td></tr>
      ${d.user_name ? `<tr><th>run by</th><td>${CL.esc(d.user_name)} (${CL.esc(d.purpose)}), ${CL.esc(String(d.created_at).slice(0, 19))}</td></tr>` : ""}
      ${d.output_hash_matches === undefined ? "" : `<tr><th>stored summary</th><td class="${d.output_hash_matches ? "ok" : "bad"}">${d.output_hash_matches ? "matches" : "does NOT match"} its ledger entry's output hash (#${d.ledger_seq})</td></tr>`}
    </table>`;
    const st = CL.el("bt-scores"); st.hidden = false;
    st.querySelector("thead").innerHTML = `<tr><th>model</th>${covs.map((c) => `<th>PAI, top ${pct(c)}</th><th>hit rate</th><th>PEI</th>`).join("")}<th>s / forecast</th></tr>`;
    st.querySelector("tbody").innerHTML = names.map((m) => {
      const e = summ.models[m];
      const kind = e.class && !MODELS.includes(m) ? ` <small class="muted">${CL.esc(e.class)}</small>` : "";
      return `<tr data-model="${CL.esc(m)}"><th>${CL.esc(m)}${kind}</th>${covs.map((c) => { const k = String(c); return `<td class="num pai">${cell(e.pai[k], 2, m)}</td><td class="num">${cell(e.hit_rate[k], 3, m)}</td><td class="num">${cell(e.pei[k], 3, m)}</td>`; }).join("")}<td class="num">${CL.fmt(e.seconds_per_period, 2)}</td></tr>`;
    }).join("");
    const paired = summ.paired || d.paired || {};
    const pt = CL.el("bt-paired"); pt.hidden = !Object.keys(paired).length;
    const versus = summ.versus || d.versus;
    pt.querySelector("caption").textContent = versus
      ? `Paired: each model's mean PAI over ${versus}'s, on the same forecasts; an interval above 1 means the model is better than ${versus}`
      : "Paired: the best model's mean PAI over each other model's, on the same forecasts; an interval above 1 means the best is better";
    pt.querySelector("thead").innerHTML = `<tr><th>${versus ? "model / " + CL.esc(versus) : "best / other"}</th>${covs.map((c) => `<th>PAI ratio, top ${pct(c)}</th>`).join("")}</tr>`;
    pt.querySelector("tbody").innerHTML = Object.entries(paired).map(([k, v]) => `<tr><th>${CL.esc(k)}</th>${covs.map((c) => { const r = v[String(c)]; return `<td class="num${r && r.low > 1 ? " ok" : ""}">${r ? `${CL.fmt(r.ratio)} ${band(r.low, r.high, 3, r.no_interval)}` : "—"}</td>`; }).join("")}</tr>`).join("");
    curve(summ);
    const g = summ.groups || d.groups, gt = CL.el("bt-groups");
    gt.hidden = !g;
    if (g) {
      const c0 = String(covs[0]);
      // groups with no recorded incident in any window say nothing: left out, and counted in the caption
      const all = [...new Set(Object.values(g.models).flatMap((m) => Object.keys(m[c0] || {})))].sort();
      const groups = all.filter((x) => Object.values(g.models).some((m) => ((m[c0] || {})[x] || {}).n > 0));
      gt.querySelector("caption").textContent = `By audit group: the share of each group's recorded incidents in flagged cells, pooled over the forecasts (groups are never model inputs); n=A of B: A of the group's B test incidents fell in the study area and are scored${all.length > groups.length ? `; ${all.length - groups.length} groups with no incident recorded in the windows are left out` : ""}`;
      const models = Object.keys(g.models);
      gt.querySelector("thead").innerHTML = `<tr><th>${CL.esc(g.by)}</th>${models.map((m) => `<th>${CL.esc(m)}, top ${pct(covs[0])}</th>`).join("")}</tr>`;
      gt.querySelector("tbody").innerHTML = groups.map((x) => `<tr data-group="${CL.esc(x)}"><th>${CL.esc(x)}</th>${models.map((m) => { const r = (g.models[m][c0] || {})[x]; return `<td class="num">${r ? `${CL.fmt(r.hit_rate)} ${band(r.low, r.high, 3, r.no_interval)} <small class="muted">n=${CL.fmt(r.n, 0)}${r.n_recorded === undefined ? "" : ` of ${CL.fmt(r.n_recorded, 0)}`}</small>` : "—"}</td>`; }).join("")}</tr>`).join("");
    }
    CL.provenance({model: `${names.filter((m) => !m.startsWith("ceiling:")).join(", ")} (backtest ${d.run_id}, output sha256 ${String(d.output_hash || "").slice(0, 16)}…)`,
                   mark: "Research output: " + (d.mark || "model evaluation, not a forecast to act on")});
    CL.el("bt-export").hidden = false; CL.el("bt-export-result").innerHTML = "";
    document.body.dataset.backtest = d.run_id;
    document.body.dataset.shown = String(Number(document.body.dataset.shown || 0) + 1);
  }

  // the shown backtest as a file: the stored JSON summary (its hash is the ledger's), a CSV table, the curves
  for (const b of document.querySelectorAll(".bt-dl")) b.addEventListener("click", async () => {
    const id = document.body.dataset.backtest; if (!id) return;
    const fmt = b.dataset.format, out = CL.el("bt-export-result");
    try {
      const r = await CL.downloadChecked(`/api/backtests/${encodeURIComponent(id)}/export?format=${fmt}`, `backtest-${id}.${fmt}`);
      out.innerHTML = r.matches === "true"
        ? `<span class="ok" id="bt-export-ok">${fmt}: the stored summary hashes to its ledger entry${fmt === "json" ? ` (sha256 ${CL.esc(r.sha256.slice(0, 16))}…, the ledger's output hash)` : ""}</span>`
        : `<span class="bad" id="bt-export-ok">${fmt}: the stored summary does NOT hash to its ledger entry: it changed after the run</span>`;
    } catch (e) { out.innerHTML = `<span class="bad">${CL.esc(e.message)}</span>`; }
  });

  async function runs() {
    const r = await CL.api("/api/backtests?limit=30");
    const body = CL.el("bt-runs").querySelector("tbody");
    body.innerHTML = r.items.map((x) => `<tr><td><a href="#" class="bt-pick" data-run="${CL.esc(x.run_id)}">${CL.esc(x.run_id)}</a></td><td>${CL.esc(String(x.created_at).slice(0, 16))}</td><td>${CL.esc(x.user_name)}</td><td>${CL.esc(x.dataset || "all")} · ${CL.esc(x.offense || "all")}</td><td>${x.models.map(CL.esc).join(", ")}</td><td>${x.n_periods} × ${CL.span(x.horizon_days)} from ${CL.esc(String(x.first_origin_local || x.first_origin).slice(0, 10))}</td></tr>`).join("") || `<tr><td colspan="6">No stored backtests yet.</td></tr>`;
    body.querySelectorAll("a.bt-pick").forEach((a) => a.addEventListener("click", async (e) => {
      e.preventDefault(); CL.clearError();
      try { show(await CL.api(`/api/backtests/${encodeURIComponent(a.dataset.run)}`)); } catch (x) { CL.showError(x.message); }
    }));
    return r.items;
  }

  /* "Paired against" offers the models and labelled settings chosen above. */
  const versusChoices = () => {
    const was = CL.el("bt-versus").value;
    const labels = [...CL.el("bt-models").querySelectorAll("input:checked")].map((i) => i.value)
      .concat(CL.el("bt-variants").value.split(",").map((v) => v.split("=")[0].trim()).filter(Boolean));
    CL.el("bt-versus").innerHTML = `<option value="">the best</option>` + labels.map((m) => `<option${m === was ? " selected" : ""}>${CL.esc(m)}</option>`).join("");
  };
  CL.el("bt-models").addEventListener("change", versusChoices);
  CL.el("bt-variants").addEventListener("input", versusChoices);
  versusChoices();

  CL.el("bt-form").addEventListener("submit", async (ev) => {
    ev.preventDefault(); CL.clearError();
    const models = [...CL.el("bt-models").querySelectorAll("input:checked")].map((i) => i.value)
      .concat(CL.el("bt-variants").value.split(",").map((v) => v.trim()).filter(Boolean));
    const coverages = CL.el("bt-coverages").value.split(",").map((v) => Number(v.trim())).filter((v) => v > 0);
    if (!models.length) { CL.showError("Pick at least one model."); return; }
    CL.el("bt-run").disabled = true;
    CL.el("bt-hint").hidden = false; CL.el("bt-hint").textContent = "running: each forecast is fitted and scored in turn…";
    const bar = CL.el("bt-progress"), t0 = Date.now();
    CL.el("bt-progress-box").hidden = false; bar.value = 0; CL.el("bt-progress-text").textContent = "";
    const tick = (p) => {
      bar.max = p.total; bar.value = p.done;
      const secs = (Date.now() - t0) / 1000, left = p.done ? secs * (p.total - p.done) / p.done : NaN;
      CL.el("bt-progress-text").textContent = `${p.done} of ${p.total} forecasts, ${CL.fmt(secs, 0)} s` + (p.done < p.total && Number.isFinite(left) ? `, about ${CL.fmt(left, 0)} s left` : "");
      document.body.dataset.progress = `${p.done}/${p.total}`;
    };
    try {
      const body = {dataset: CL.el("bt-dataset").value, models, coverages, start: CL.el("bt-start").value,  // midnight in the dataset's zone
                    periods: Number(CL.el("bt-periods").value), horizon_days: Number(CL.el("bt-horizon").value),
                    cell_m: Number(CL.el("bt-cell").value)};
      if (CL.el("bt-offense").value) body.offense = CL.el("bt-offense").value;
      if (CL.el("bt-group").value.trim()) body.group_by = CL.el("bt-group").value.trim();
      if (CL.el("bt-versus").value) body.versus = CL.el("bt-versus").value;
      const params = CL.parseParams(CL.el("bt-params").value, true);
      if (Object.keys(params).length) body.params = params;
      const d = await CL.stream("/api/backtests", body, tick);
      await runs();
      show(await CL.api(`/api/backtests/${encodeURIComponent(d.run_id)}`));
    } catch (e) { CL.el("bt-hint").textContent = ""; CL.showError(e.message); } finally { CL.el("bt-run").disabled = false; CL.el("bt-progress-box").hidden = true; }
  });

  try {
    const ds = await CL.snapshot();
    for (const d of ds) CL.el("bt-dataset").insertAdjacentHTML("beforeend", `<option>${CL.esc(d.dataset)}</option>`);
    const chosen = () => ds.find((x) => x.dataset === CL.el("bt-dataset").value);
    const start = () => {  // a first forecast that leaves the forecasts' whole span to replay
      const d = chosen(); if (!d) return;
      const end = new Date(String(d.last_local || d.occurred_to).slice(0, 10) + "T00:00:00Z");  // date arithmetic only
      end.setTime(end.getTime() - 86400e3 * Math.ceil(Number(CL.el("bt-horizon").value) * Number(CL.el("bt-periods").value || 8)));
      CL.el("bt-start").value = end.toISOString().slice(0, 10);
    };
    const pick = () => {  // the chosen dataset's offenses and start
      const d = chosen(); if (!d) return;
      CL.el("bt-offense").innerHTML = `<option value="">all</option>` + d.offenses.map((o) => `<option>${CL.esc(o)}</option>`).join("");
      start();
      CL.provenance({data: CL.snapText(d)});
    };
    CL.el("bt-dataset").addEventListener("change", pick);
    CL.el("bt-horizon").addEventListener("change", start);
    pick();
    const items = await runs();
    if (items.length) show(await CL.api(`/api/backtests/${encodeURIComponent(items[0].run_id)}`));
  } catch (e) { CL.showError(e.message); }
  document.body.dataset.ready = "1";
})();
