"use strict";
(async () => {
  const s = CL.whoami(); if (!s) return;
  const palette = ["#1d4ed8", "#b91c1c", "#15803d", "#a16207", "#7c3aed", "#0f766e", "#be185d", "#475569"];
  const NS = "http://www.w3.org/2000/svg";
  function axes(svg, xl, yl) {
    svg.innerHTML = `<line x1="40" y1="320" x2="340" y2="320" stroke="#333"/><line x1="40" y1="20" x2="40" y2="320" stroke="#333"/><line x1="40" y1="320" x2="340" y2="20" stroke="#999" stroke-dasharray="4 4"/><text x="190" y="350" text-anchor="middle" font-size="12">${xl}</text><text x="12" y="170" font-size="12" transform="rotate(-90 12 170)" text-anchor="middle">${yl}</text><text x="36" y="324" font-size="10" text-anchor="end">0</text><text x="36" y="24" font-size="10" text-anchor="end">1</text><text x="340" y="334" font-size="10" text-anchor="middle">1</text>`;
  }
  const X = (v) => 40 + 300 * v, Y = (v) => 320 - 300 * v;
  function path(svg, pts, colour, dash) {
    const p = document.createElementNS(NS, "polyline");
    p.setAttribute("points", pts.map(([a, b]) => `${X(a).toFixed(1)},${Y(b).toFixed(1)}`).join(" "));
    p.setAttribute("fill", "none"); p.setAttribute("stroke", colour); p.setAttribute("stroke-width", "2");
    if (dash) p.setAttribute("stroke-dasharray", dash);
    svg.appendChild(p);
  }
  async function show(id) {
    CL.clearError();
    const a = await CL.api(`/api/audits/${encodeURIComponent(id)}`);
    const r = a.report;
    const facet = (r.groups.find((g) => g.facet !== "overall") || {facet: "overall"}).facet;
    const groups = [...new Set(r.groups.filter((g) => g.facet === facet || g.facet === "overall").map((g) => g.facet + ":" + g.group))];
    const colour = (k) => palette[groups.indexOf(k) % palette.length];
    const roc = CL.el("roc"); axes(roc, "false positive rate", "true positive rate");
    for (const k of groups) {
      const pts = r.roc.filter((p) => p.facet + ":" + p.group === k).map((p) => [p.fpr, p.tpr]).sort((u, v) => u[0] - v[0] || u[1] - v[1]);
      if (pts.length) path(roc, [[0, 0], ...pts, [1, 1]], colour(k));
    }
    const cal = CL.el("cal"); axes(cal, "score (bin mean)", "observed rate");
    const smax = Math.max(1, ...r.calibration.map((c) => c.mean_score));
    for (const k of groups) {
      const rows = r.calibration.filter((c) => c.facet + ":" + c.group === k && c.observed_rate !== null);
      path(cal, rows.map((c) => [c.mean_score / smax, c.observed_rate]), colour(k));
      for (const c of rows) if (c.observed_low !== null) path(cal, [[c.mean_score / smax, c.observed_low], [c.mean_score / smax, c.observed_high]], colour(k), "2 2");
    }
    CL.el("legend").innerHTML = groups.map((k) => `<i style="background:${colour(k)}"></i>${CL.esc(k)}`).join(" &nbsp; ");
    const ci = (g, m) => `${CL.fmt(g[m])} <span class="muted">[${CL.fmt(g[m + "_low"])}, ${CL.fmt(g[m + "_high"])}]</span>`;
    CL.el("groups").querySelector("tbody").innerHTML = r.groups.map((g) => `<tr${g.below_min_size ? ' class="muted"' : ""}><td>${CL.esc(g.facet)}</td><td>${CL.esc(g.group)}${g.below_min_size ? " (below minimum size)" : ""}</td><td>${g.n}</td><td>${ci(g, "base_rate")}</td><td>${ci(g, "selection_rate")}</td><td>${ci(g, "fpr")}</td><td>${ci(g, "fnr")}</td><td>${ci(g, "ppv")}</td><td>${ci(g, "auc")}</td></tr>`).join("");
    CL.provenance({model: `score "${r.score}" at threshold ${r.threshold}${a.model_id ? " (risk model " + a.model_id + ")" : ""}; audit ${a.report_id}, JSON sha256 ${String(a.json_hash).slice(0, 16)}…`,
                   data: `${a.data_file} (sha256 ${String(a.data_hash).slice(0, 16)}…), ${r.n} rows, ${r.n_boot} bootstrap resamples, ${Math.round(r.ci_level * 100)} % intervals`,
                   mark: r.label_limits && r.label_limits.length ? "Label limits — " + r.label_limits[0] : ""});
    document.body.dataset.ready = "1";
  }
  try {
    const list = await CL.api("/api/audits?limit=50");
    if (!list.items.length) { CL.showError("No stored audits yet (crimelens audit group …)."); return; }
    for (const it of list.items) CL.el("audits").insertAdjacentHTML("beforeend", `<option value="${CL.esc(it.report_id)}">${CL.esc(it.report_id)} · ${CL.esc(it.score_name)} · ${CL.esc(String(it.created_utc).slice(0, 10))}</option>`);
    CL.el("audits").addEventListener("change", (e) => show(e.target.value).catch((x) => CL.showError(x.message)));
    await show(list.items[0].report_id);
  } catch (e) { CL.showError(e.message); }
})();
