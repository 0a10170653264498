"use strict";
(async () => {
  const s = CL.whoami(); if (!s) return;
  const staff = ["analyst", "supervisor", "admin"].includes(s.role);  // the server refuses (and logs) anyone else
  document.querySelectorAll(".staff").forEach((e) => { e.hidden = !staff; });
  /* a custody time to the second, in UTC (events can be seconds apart); microseconds cut to what Date reads */
  const utcSeconds = (v) => {
    const d = new Date(String(v).replace(/(\.\d{3})\d+/, "$1"));
    return isNaN(d) ? String(v) : d.toISOString().slice(0, 19).replace("T", " ") + " UTC";
  };
  const short = (v, n) => String(v === null || v === undefined ? "" : v).slice(0, n);
  const size = (b) => b >= 1 << 20 ? (b / (1 << 20)).toFixed(1) + " MiB" : b >= 1024 ? (b / 1024).toFixed(1) + " KiB" : b + " B";
  let currentCase = null, currentItem = null, currentName = null;
  CL.provenance({model: "none: evidence is stored and checked, not modelled", data: "the store's evidence items and custody events"});
  CL.el("cu-zone").textContent = Intl.DateTimeFormat().resolvedOptions().timeZone || "its zone";

  async function cases() {
    const r = await CL.api("/api/evidence/cases?limit=200");
    const body = CL.el("cases").querySelector("tbody");
    body.innerHTML = r.items.map((c) => `<tr><td><a href="#" class="case" data-case="${CL.esc(c.case_id)}">${CL.esc(c.case_id)}</a></td><td>${c.n_items}</td><td>${c.n_derivatives}</td><td>${size(c.size_bytes)}</td><td>${CL.esc(c.last_added_at ? CL.utcTime(c.last_added_at) : "")}</td></tr>`).join("") || `<tr><td colspan="5">No evidence yet.</td></tr>`;
    body.querySelectorAll("a.case").forEach((a) => a.addEventListener("click", (e) => { e.preventDefault(); openCase(a.dataset.case).catch((x) => CL.showError(x.message)); }));
    return r.items;
  }

  async function openCase(caseId) {
    currentCase = caseId; CL.clearError();
    const c = await CL.api("/api/evidence/cases/" + encodeURIComponent(caseId));
    CL.el("case-title").textContent = "Items of case " + caseId;
    CL.el("case-hint").hidden = true; CL.el("items").hidden = false; CL.el("verify").hidden = false;
    CL.el("verify-result").innerHTML = "";
    CL.el("items").querySelector("tbody").innerHTML = c.items.map((i) => `<tr data-item="${CL.esc(i.item_id)}"><td><a href="#" class="item">${CL.esc(i.item_id)}</a></td><td>${CL.esc(i.original_name)}${i.parent_item_id ? ` <span class="muted">(${CL.esc(i.derivation)} of ${CL.esc(i.parent_item_id)})</span>` : ""}</td><td>${CL.esc(i.mime_type)}</td><td>${i.size_bytes}</td><td><code title="${CL.esc(i.sha256)}">${CL.esc(short(i.sha256, 16))}…</code></td><td>${CL.esc(i.holder)}${i.checked_out ? " <b>(checked out)</b>" : ""}</td><td>${i.gaps.length ? `<span class="bad">${i.gaps.length} gap(s)</span>` : `<span class="ok">${i.n_custody_events} event(s)</span>`}</td></tr>`).join("");
    CL.el("items").querySelectorAll("a.item").forEach((a) => a.addEventListener("click", (e) => { e.preventDefault(); openItem(a.closest("tr").dataset.item).catch((x) => CL.showError(x.message)); }));
    document.body.dataset.ready = "1";
  }

  async function openItem(itemId) {
    currentItem = itemId;
    const d = await CL.api("/api/evidence/items/" + encodeURIComponent(itemId));
    const it = d.item; currentName = it.original_name;
    CL.el("item-panel").hidden = false;
    CL.el("item-title").textContent = `${it.item_id}: ${it.original_name}`;
    const custody = d.custody.map((e) => `<tr><td>${e.event_id}</td><td>${CL.esc(e.kind)}</td><td>${CL.esc(e.from)}</td><td>${CL.esc(e.to)}</td><td>${CL.esc(utcSeconds(e.event_time))}</td><td>${CL.esc(e.reason)}</td><td>${CL.esc(e.location)}</td></tr>`).join("");
    const lineage = d.lineage.map((x) => `<li>${CL.esc(x.item_id)} <code>${CL.esc(short(x.sha256, 16))}…</code>${x.derivation ? ` ${CL.esc(x.derivation)} by ${CL.esc(x.tool)} ${CL.esc(x.tool_version)}` : " (original)"}</li>`).join("");
    const gaps = d.gaps.map((g) => `<li class="bad">${CL.esc(g.kind)}: ${CL.esc(g.message)}</li>`).join("");
    CL.el("item-detail").innerHTML = `<dl class="policy"><dt>Case</dt><dd>${CL.esc(it.case_id)}</dd><dt>SHA-256</dt><dd><code id="item-sha">${CL.esc(it.sha256)}</code></dd>
      <dt>Type, size</dt><dd>${CL.esc(it.mime_type)}, ${it.size_bytes} bytes</dd><dt>Source</dt><dd>${CL.esc(it.source)}</dd>
      <dt>Taken in</dt><dd>${CL.esc(utcSeconds(it.added_at))} by ${CL.esc(it.added_by)} (ledger #${it.ledger_seq})</dd>
      <dt>Holder</dt><dd id="item-holder">${CL.esc(d.holder)}${d.checked_out ? " (checked out)" : ""}</dd>
      <dt>Original's SHA-256</dt><dd><code>${CL.esc(short(d.original_sha256, 16))}…</code></dd>
      ${d.redaction ? `<dt>Redaction</dt><dd id="item-redaction" class="${d.redaction.released ? "ok" : "bad"}">run <a href="/redaction?run=${encodeURIComponent(d.redaction.run_id)}">${CL.esc(d.redaction.run_id)}</a>: ${CL.esc(d.redaction.note)}</dd>` : ""}</dl>
      <h3>Custody record</h3><table id="custody-events"><thead><tr><th>#</th><th>event</th><th>from</th><th>to</th><th>when</th><th>reason</th><th>where</th></tr></thead><tbody>${custody}</tbody></table>
      ${gaps ? `<h3>Custody gaps</h3><ul>${gaps}</ul>` : ""}
      <h3>Lineage</h3><ul>${lineage}</ul>`;
    // narratives (JSONL), images and video can be redacted for release here; the review happens on the redaction page
    const video = /\.(avi|mp4|m4v|mov)$/i.test(it.original_name);
    if (staff && (video || /\.(jsonl|png|jpe?g|bmp|tiff?)$/i.test(it.original_name)) && it.derivation !== "redacted") {
      CL.el("item-detail").insertAdjacentHTML("beforeend", `<p><button type="button" id="redact-item">Redact for release</button> <span class="muted">${video ? "Faces are blurred frame by frame; the first, the last and sampled frames" : "Every document (or the image)"} then wait${video ? "" : "s"} for a person's review on the <a href="/redaction">redaction page</a>.</span> <progress id="redact-progress" max="1" value="0" hidden></progress> <span id="redact-progress-text" class="muted"></span></p>`);
      CL.el("redact-item").addEventListener("click", async () => {
        CL.clearError(); CL.el("redact-item").disabled = true;
        const bar = CL.el("redact-progress"), t0 = Date.now();
        const tick = (p) => {  // a video reports each frame
          bar.hidden = false; bar.max = p.total; bar.value = p.done;
          const secs = (Date.now() - t0) / 1000, left = p.done ? secs * (p.total - p.done) / p.done : NaN;
          CL.el("redact-progress-text").textContent = `${p.done} of ${p.total} frames, ${CL.fmt(secs, 0)} s` + (p.done < p.total && Number.isFinite(left) ? `, about ${CL.fmt(left, 0)} s left` : "");
          document.body.dataset.redactProgress = `${p.done}/${p.total}`;
        };
        try {
          const path = `/api/evidence/items/${encodeURIComponent(it.item_id)}/redactions`;
          const r = video ? await CL.stream(path, {}, tick) : await CL.api(path, {method: "POST", body: {}});
          location.href = "/redaction?run=" + encodeURIComponent(r.run_id);
        } catch (e) { CL.showError(e.message); CL.el("redact-item").disabled = false; }
      });
    }
  }

  CL.el("verify").addEventListener("click", async () => {
    CL.clearError(); CL.el("verify").disabled = true;
    try {
      const r = (await CL.api(`/api/evidence/cases/${encodeURIComponent(currentCase)}/verify`, {method: "POST"})).report;
      const rows = r.items.map((i) => `<li class="${i.ok ? "ok" : "bad"}">${CL.esc(i.item_id)}: ${i.ok ? "bytes match the intake hash" : CL.esc(i.problems.join("; "))}</li>`).join("");
      const gaps = r.gaps.map((g) => `<li class="bad">${CL.esc(g.item_id)} ${CL.esc(g.kind)}: ${CL.esc(g.message)}</li>`).join("");
      CL.el("verify-result").innerHTML = `<p id="verify-verdict" class="${r.ok ? "ok" : "bad"}">${r.ok ? "Verified" : "Problems found"}: ${r.n_items} item(s) re-hashed, ${r.gaps.length} custody gap(s), ledger #${r.ledger_seq}</p><ul>${rows}${gaps}</ul>`;
    } catch (e) { CL.showError(e.message); } finally { CL.el("verify").disabled = false; }
  });

  CL.el("intake").addEventListener("submit", async (ev) => {
    ev.preventDefault(); CL.clearError();
    const file = CL.el("in-file").files[0]; if (!file) return;
    const q = new URLSearchParams({source: CL.el("in-source").value, filename: file.name});
    for (const [k, id] of [["description", "in-description"], ["location", "in-location"]]) if (CL.el(id).value) q.set(k, CL.el(id).value);
    const caseId = CL.el("in-case").value.trim();
    CL.el("in-submit").disabled = true;
    try {
      const item = await CL.upload(`/api/evidence/cases/${encodeURIComponent(caseId)}/items?${q}`, file);
      CL.el("intake").reset();
      await cases(); await openCase(caseId); await openItem(item.item_id);
      if (item.same_content_as.length) CL.showError(`Recorded as ${item.item_id}. The case already holds these exact bytes as ${item.same_content_as.join(", ")}; both items stay, and the ledger entry says so.`);
    } catch (e) { CL.showError(e.message); } finally { CL.el("in-submit").disabled = false; }
  });

  CL.el("custody").addEventListener("submit", async (ev) => {
    ev.preventDefault(); CL.clearError();
    const body = {kind: CL.el("cu-kind").value, to: CL.el("cu-to").value};
    for (const [k, id] of [["from", "cu-from"], ["reason", "cu-reason"], ["location", "cu-location"]]) if (CL.el(id).value) body[k] = CL.el(id).value;
    /* a datetime-local value has no zone: read it on this browser's clock and send it in UTC */
    if (CL.el("cu-at").value) body.at = new Date(CL.el("cu-at").value).toISOString();
    if (CL.el("cu-return-follows").checked) body.return_follows = true;
    CL.el("cu-submit").disabled = true;
    try {
      const r = await CL.api(`/api/evidence/items/${encodeURIComponent(currentItem)}/custody`, {method: "POST", body});
      const notes = [];
      if (r.disagrees) notes.push(`Recorded as event ${r.event_id}. Event ${r.disagrees.event_id} (${r.disagrees.kind} at ${utcSeconds(r.disagrees.event_time)}) no longer follows from the record and is a custody gap until the return is entered`);
      if (r.gaps.length) notes.push("Custody gap(s): " + r.gaps.map((g) => g.message).join("; "));
      CL.el("custody").reset();
      await openCase(currentCase); await openItem(currentItem);  /* these clear the message box: say it after */
      if (notes.length) CL.showError(notes.join(". "));
    } catch (e) { CL.showError(e.message); } finally { CL.el("cu-submit").disabled = false; }
  });

  CL.el("download").addEventListener("click", async () => {
    CL.clearError();
    try { await CL.download(`/api/evidence/items/${encodeURIComponent(currentItem)}/content`, currentName); }
    catch (e) { CL.showError(e.message); }
  });

  try {
    const items = await cases();
    if (items.length) await openCase(items[0].case_id); else document.body.dataset.ready = "1";
  } catch (e) { CL.showError(e.message); document.body.dataset.ready = "1"; }
})();
