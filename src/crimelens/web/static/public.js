/* The public page: read deployments, comment while one is open, file a complaint; no account. */
"use strict";
(async () => {
  const short = (v, n = 19) => String(v || "").slice(0, n);
  /* A time with its zone: "2026-11-29 09:00 UTC" (the server's times are UTC). */
  const utc = (v) => (v ? `${CL.localTime(v, "UTC")} UTC` : "—");
  /* The model card's Markdown as HTML: every line is escaped first, then only headings, tables, lists,
     paragraphs, **bold**, _italic_ and `code` are turned into elements; nothing the card holds is markup. */
  function markdown(text) {
    const inline = (t) => CL.esc(t).replace(/\*\*(.+?)\*\*/g, "<strong>$1</strong>")
      .replace(/(^|[\s(])_(.+?)_(?=$|[\s).,;:])/g, "$1<em>$2</em>").replace(/`([^`]+)`/g, "<code>$1</code>");
    const cells = (line) => line.trim().replace(/^\|/, "").replace(/\|$/, "").split("|").map((c) => c.trim());
    const out = []; let para = [], list = [], table = [];
    const flush = () => {
      if (para.length) out.push(`<p>${para.map(inline).join(" ")}</p>`);
      if (list.length) out.push(`<ul>${list.map((x) => `<li>${inline(x)}</li>`).join("")}</ul>`);
      if (table.length) {
        const [head, ...rest] = table.filter((r) => !/^\|?\s*:?-{3,}/.test(r.trim()));
        out.push(`<div class="table-scroll"><table class="card-table"><thead><tr>${cells(head).map((c) => `<th scope="col">${inline(c)}</th>`).join("")}</tr></thead><tbody>${rest.map((r) => `<tr>${cells(r).map((c, i) => i === 0 ? `<th scope="row">${inline(c)}</th>` : `<td>${inline(c)}</td>`).join("")}</tr>`).join("")}</tbody></table></div>`);
      }
      para = []; list = []; table = [];
    };
    for (const line of String(text || "").split("\n")) {
      const h = /^(#{1,3})\s+(.*)$/.exec(line);
      if (h) { flush(); out.push(`<h${h[1].length + 3}>${inline(h[2])}</h${h[1].length + 3}>`); }
      else if (/^\s*\|/.test(line)) { if (para.length || list.length) flush(); table.push(line); }
      else if (/^\s*[-*]\s+/.test(line)) { if (para.length || table.length) flush(); list.push(line.replace(/^\s*[-*]\s+/, "")); }
      else if (!line.trim()) flush();
      else { if (list.length || table.length) flush(); para.push(line.trim()); }
    }
    flush();
    return out.join("\n");
  }
  /* The floors the deployment's steps applied, from their ledger entries (the API's `floors`): the record
     says them on its Public comment and Board quorum lines (CL.deploymentRecord); here, a warning above
     the record when the demonstration setting lowered them. */
  function floors(rec, d) {
    const f = d.floors; if (!f) return;
    if (f.demo_lowered) {
      const warn = document.createElement("p"); warn.className = "bad floors-demo"; warn.id = "floors-demo";
      warn.textContent = f.note;
      rec.querySelector("h3").after(warn);
    }
  }
  let current = null;
  async function show(name) {
    const d = (await CL.publicApi(`/api/deployments/${encodeURIComponent(name)}`)).deployment;
    current = d;
    const rec = CL.el("record"); rec.hidden = false;
    rec.innerHTML = CL.deploymentRecord(d) + `<p><button type="button" class="secondary" id="show-card">Read the model card</button></p><section id="card" class="card" hidden></section>`;
    floors(rec, d);
    CL.el("show-card").addEventListener("click", async () => {
      try {
        const c = await CL.publicApi(`/api/models/${encodeURIComponent(d.model)}/card?version=${encodeURIComponent(d.model_version)}`);
        CL.el("card").hidden = false; CL.el("card").innerHTML = markdown(c.markdown);
      } catch (e) { CL.showError(e.message); }
    });
    const open = d.state === "public_comment" || (Boolean(d.renewal_opened_at) && ["active", "suspended"].includes(d.state));
    CL.el("comment-form").hidden = !open;
    CL.el("comment-target").textContent = d.name;
    document.body.dataset.shown = d.name;
  }
  /* How a deployment's state reads in the table: green only while it is open for comment and running as
     approved (public comment, or an active one whose renewal is open); a suspended or blocked one warns,
     even with its renewal open. */
  const stateClass = (x) => {
    const now = x.effective_state || x.state;
    if (x.state === "suspended" || now !== x.state) return "warn";
    return x.state === "public_comment" || (x.renewal_opened_at && x.state === "active") ? "ok" : "";
  };
  async function deployments() {
    const d = await CL.publicApi("/api/deployments?limit=100");
    const body = CL.el("deployments").querySelector("tbody");
    body.innerHTML = d.items.map((x) => `<tr data-name="${CL.esc(x.name)}"><td>${CL.esc(x.name)}</td><td>${CL.esc(x.model)} ${CL.esc(x.model_version)}</td><td class="${stateClass(x)}">${CL.esc(x.state === "public_comment" ? "open for comment" : (x.effective_state && x.effective_state !== x.state ? `${x.state} — ${x.effective_state}` : x.state) + (x.renewal_opened_at && x.state !== "decommissioned" ? ", renewal open for comment" : ""))}</td><td>${CL.esc(utc(x.state_changed_at))}</td><td><button type="button" class="secondary show">Read the record<span class="visually-hidden"> of ${CL.esc(x.name)}</span></button></td></tr>`).join("") || `<tr><td colspan="5">No deployments: nothing is used operationally.</td></tr>`;
    for (const tr of body.querySelectorAll("tr[data-name]")) {
      tr.querySelector(".show").addEventListener("click", () => show(tr.dataset.name).catch((e) => CL.showError(e.message)));
    }
    CL.el("complaint-deployment").innerHTML = `<option value="">—</option>` + d.items.map((x) => `<option>${CL.esc(x.name)}</option>`).join("");
  }
  CL.el("comment-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const out = CL.el("comment-result");
    try {
      const r = await CL.publicApi(`/api/deployments/${encodeURIComponent(current.name)}/comments`, {method: "POST", body: {body: CL.el("comment-body").value, name: CL.el("comment-name").value.trim() || null}});
      out.innerHTML = `<span class="ok" id="comment-ok">Thank you. Your comment is ledger entry #${r.ledger_seq}.</span>`;
      CL.el("comment-body").value = "";
      await show(current.name);
    } catch (e) { out.innerHTML = `<span class="bad">${CL.esc(e.message)}</span>`; }
  });
  CL.el("complaint-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const out = CL.el("complaint-result");
    const raw = CL.el("complaint-entries").value.split(/[\s,;]+/).filter(Boolean);
    if (raw.some((x) => !/^\d+$/.test(x))) { out.innerHTML = `<span class="bad">Ledger entries are whole numbers, e.g. 1204, 1210.</span>`; return; }
    try {
      const r = await CL.publicApi("/api/complaints", {method: "POST", body: {body: CL.el("complaint-body").value, name: CL.el("complaint-name").value.trim() || null, deployment: CL.el("complaint-deployment").value || null, entry_seqs: raw.map(Number)}});
      out.innerHTML = `<span class="ok" id="complaint-ok">Complaint ${CL.esc(r.complaint_id)} filed as ledger entry #${r.ledger_seq}. Keep this number.</span>`;
      CL.el("complaint-body").value = "";
    } catch (e) { out.innerHTML = `<span class="bad">${CL.esc(e.message)}</span>`; }
  });
  CL.el("status-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const out = CL.el("status-result");
    try {
      const c = (await CL.publicApi(`/api/complaints/${encodeURIComponent(CL.el("status-id").value.trim())}`)).complaint;
      out.innerHTML = `<p id="status-ok">Complaint ${CL.esc(c.complaint_id)}, filed ${CL.esc(short(c.filed_at, 10))}${c.deployment ? " about " + CL.esc(c.deployment) : ""}: <b>${CL.esc(c.status)}</b>${c.response ? ". The answer: " + CL.esc(c.response) : "; no answer yet."}</p>`;
    } catch (e) { out.innerHTML = `<span class="bad">${CL.esc(e.message)}</span>`; }
  });
  CL.el("year").value = new Date().getUTCFullYear();
  CL.el("report-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try { const r = await CL.publicApi(`/api/reports/annual/${CL.el("year").value}`); const f = CL.el("report"); f.hidden = false; f.srcdoc = r.html; }
    catch (e) { CL.showError(e.message); }
  });
  try {
    await deployments();
    const h = await CL.publicApi("/api/ledger/head");
    CL.el("head").textContent = JSON.stringify(h.head, null, 1);
  } catch (e) { CL.showError(e.message); }
  document.body.dataset.ready = "1";
})();
