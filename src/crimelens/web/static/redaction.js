"use strict";
(async () => {
  const s = CL.whoami(); if (!s) return;
  // reading documents (redact.inspect), deciding and releasing are for staff: the server refuses (and logs) others
  const staff = ["analyst", "supervisor", "admin"].includes(s.role);
  document.querySelectorAll(".staff").forEach((e) => { e.hidden = !staff; });
  let run = null, unit = null, removed = new Set(), added = [], imageUrl = null;

  async function runs() {
    const r = await CL.api("/api/redactions?limit=100");
    CL.el("rd-runs").querySelector("tbody").innerHTML = r.items.map((x) => `<tr data-run="${CL.esc(x.run_id)}"><td><a href="#" class="rd-pick">${CL.esc(x.run_id)}</a></td><td>${CL.esc(x.case_id || "—")} · ${CL.esc(x.source_item_id || x.input_name)}</td><td>${CL.esc(x.kind)}</td><td>${CL.esc(x.status)}</td><td>${x.n_pending} pending${x.n_rejected ? `, ${x.n_rejected} rejected` : ""} of ${x.n_review}</td><td>${CL.esc(x.created_by)}, ${CL.esc(String(x.created_at).slice(0, 16))}</td></tr>`).join("") || `<tr><td colspan="6">No redaction runs yet.</td></tr>`;
    CL.el("rd-runs").querySelectorAll("a.rd-pick").forEach((a) => a.addEventListener("click", (e) => {
      e.preventDefault(); openRun(a.closest("tr").dataset.run).catch((x) => CL.showError(x.message));
    }));
  }

  async function openRun(runId) {
    CL.clearError();
    const d = await CL.api(`/api/redactions/${encodeURIComponent(runId)}`);
    run = d.run;
    document.querySelectorAll("#rd-runs tr").forEach((tr) => tr.classList.toggle("here", tr.dataset.run === runId));
    CL.el("rd-hint").hidden = true; CL.el("rd-queue").hidden = false;
    CL.el("rd-title").textContent = `Review queue of ${run.run_id}: ${run.kind} from ${run.input_name}`;
    CL.el("rd-info").innerHTML = `<p>${run.n_units} ${run.kind === "text" ? "document(s)" : "frame(s)"}, ${run.n_detections} detection(s) by ${CL.esc(run.tool)} ${CL.esc(run.tool_version)}; case ${CL.esc(run.case_id || "—")}, item ${CL.esc(run.source_item_id || "—")}; status <b id="rd-status">${CL.esc(run.status)}</b>${run.output_item_id ? `; redacted copy ${CL.esc(run.output_item_id)}` : ""}. ${d.n_open} item(s) still pending or rejected.</p>`;
    CL.el("rd-queue").querySelector("tbody").innerHTML = d.queue.map((q) => `<tr data-unit="${CL.esc(q.unit)}"><td>${staff ? `<a href="#" class="rd-unit">${CL.esc(q.unit)}</a>` : CL.esc(q.unit)}</td><td class="${q.status === "pending" ? "" : q.status === "rejected" ? "bad" : "ok"}">${CL.esc(q.status)}</td><td>${q.detections.map((x) => CL.esc(x.type)).join(", ") || "none"}</td><td>${CL.esc(q.reviewer || "")}</td></tr>`).join("");
    CL.el("rd-queue").querySelectorAll("a.rd-unit").forEach((a) => a.addEventListener("click", (e) => {
      e.preventDefault(); openUnit(a.closest("tr").dataset.unit).catch((x) => CL.showError(x.message));
    }));
    CL.el("rd-release").disabled = !d.releasable;
    CL.el("rd-release").title = d.releasable ? "" : (run.status === "released" ? "already released" : "every item must be confirmed or corrected first");
    if (!staff) CL.el("rd-info").insertAdjacentHTML("beforeend", `<p class="muted">Reading the documents, deciding and releasing are for analysts, supervisors and administrators.</p>`);
    CL.provenance({model: `${run.tool} ${run.tool_version} (run ${run.run_id}, output sha256 ${String(run.output_sha256).slice(0, 16)}…, ledger #${run.ledger_seq})`});
    document.body.dataset.run = run.run_id;
    return d;
  }

  /* The document with every span: detections to redact (yellow), undone ones (struck grey), added ones (red). */
  function drawText(text, dets) {
    const label = new Array(text.length).fill(null);
    // where spans overlap, what the reviewer added shows over a detection, and a detection over an undone one
    const spans = [...added.map(([a, b, t], k) => ({start: a, end: b, cls: "added", tag: `added ${k + 1}: ${t}`})),
                   ...dets.filter((x) => !removed.has(x.idx)).map((x) => ({start: x.start_pos, end: x.end_pos, cls: "", tag: `${x.idx}: ${x.type}`})),
                   ...dets.filter((x) => removed.has(x.idx)).map((x) => ({start: x.start_pos, end: x.end_pos, cls: "kept", tag: `${x.idx}: ${x.type} (kept in clear)`}))];
    spans.forEach((sp, k) => { for (let i = sp.start; i < Math.min(sp.end, text.length); i++) if (label[i] === null) label[i] = k; });
    let html = "", i = 0;
    while (i < text.length) {
      let j = i; while (j < text.length && label[j] === label[i]) j++;
      const piece = CL.esc(text.slice(i, j)), k = label[i];
      html += k === null ? piece : `<mark class="${spans[k].cls}" title="${CL.esc(spans[k].tag)}">${piece}</mark>`;
      i = j;
    }
    CL.el("rd-text").innerHTML = html;
  }

  async function openUnit(u) {
    CL.clearError();
    const d = await CL.api(`/api/redactions/${encodeURIComponent(run.run_id)}/units/${encodeURIComponent(u)}`);
    unit = d; removed = new Set(); added = [];
    for (const [a, b, t] of (d.correction && d.correction.add) || []) added.push([a, b, t]);
    for (const k of (d.correction && d.correction.remove) || []) removed.add(k);
    document.querySelectorAll("#rd-queue tr").forEach((tr) => tr.classList.toggle("here", tr.dataset.unit === u));
    CL.el("rd-unit-panel").hidden = false; CL.el("rd-decision").innerHTML = ""; CL.el("rd-note").value = "";
    CL.el("rd-unit-title").textContent = `${run.kind === "text" ? "Document" : "Frame"} ${u} (${d.status}${d.reviewer ? " by " + d.reviewer : ""})`;
    const text = run.kind === "text";
    CL.el("rd-text").hidden = !text; CL.el("rd-image").hidden = text; CL.el("rd-add-box").hidden = !text;
    CL.el("rd-unit-help").textContent = text
      ? "Highlighted text will be redacted. Untick a detection to keep it in clear; select text in the document and press Add to redact it too. Confirm saves your corrections with the decision."
      : run.kind === "video"
        ? `Frame ${u} of the redacted copy: check that every face is blurred. Confirm, or reject and redact again (boxes cannot be corrected by hand). Frames between the sampled ones hold the boxes of their neighbours.`
        : "The redacted copy: check that every face is blurred. Confirm, or reject and redact again (boxes cannot be corrected by hand).";
    const draw = () => {
      if (text) drawText(d.text, d.detections);
      CL.el("rd-dets").querySelector("tbody").innerHTML = [
        ...d.detections.map((x) => `<tr><td>${x.idx}</td><td>${CL.esc(x.type)}</td><td>${CL.esc(x.recogniser)}</td><td>${text ? `“${CL.esc(d.text.slice(x.start_pos, x.end_pos))}” at ${x.start_pos}–${x.end_pos}` : `box ${x.box_x},${x.box_y} ${x.box_w}×${x.box_h}`}</td><td>${text ? `<input type="checkbox" class="rd-keep" data-idx="${x.idx}" ${removed.has(x.idx) ? "" : "checked"} aria-label="redact detection ${x.idx}">` : "yes"}</td></tr>`),
        ...added.map(([a, b, t], k) => `<tr class="added"><td>+${k + 1}</td><td>${CL.esc(t)}</td><td>you</td><td>“${CL.esc(d.text.slice(a, b))}” at ${a}–${b}</td><td><button type="button" class="secondary rd-drop" data-k="${k}">drop</button></td></tr>`)].join("");
      CL.el("rd-dets").querySelectorAll("input.rd-keep").forEach((c) => c.addEventListener("change", () => {
        const k = Number(c.dataset.idx); if (c.checked) removed.delete(k); else removed.add(k); draw();
      }));
      CL.el("rd-dets").querySelectorAll("button.rd-drop").forEach((b) => b.addEventListener("click", () => { added.splice(Number(b.dataset.k), 1); draw(); }));
    };
    draw();
    unit.draw = draw;
    if (!text && d.output_item_id) {
      const src = run.kind === "video" ? `/api/redactions/${encodeURIComponent(run.run_id)}/units/${encodeURIComponent(u)}/frame`
        : `/api/evidence/items/${encodeURIComponent(d.output_item_id)}/content`;
      const r = await fetch(src, {headers: {"Authorization": "Bearer " + s.token, "X-Purpose": CL.purposeHeader(s.purpose)}});
      if (!r.ok) throw new Error((await r.json()).error || ("HTTP " + r.status));
      if (imageUrl) URL.revokeObjectURL(imageUrl);
      imageUrl = URL.createObjectURL(await r.blob());
      CL.el("rd-image").src = imageUrl;
    }
    document.body.dataset.unit = u;
  }

  CL.el("rd-add").addEventListener("click", () => {
    const sel = window.getSelection(), box = CL.el("rd-text");
    if (!unit || !sel || sel.rangeCount === 0 || sel.isCollapsed) { CL.el("rd-decision").innerHTML = `<span class="bad">Select the text to redact in the document first.</span>`; return; }
    const r = sel.getRangeAt(0);
    if (!box.contains(r.startContainer) || !box.contains(r.endContainer)) { CL.el("rd-decision").innerHTML = `<span class="bad">The selection must lie inside the document.</span>`; return; }
    const before = document.createRange(); before.selectNodeContents(box); before.setEnd(r.startContainer, r.startOffset);
    const start = before.toString().length, end = start + r.toString().length;
    added.push([start, end, CL.el("rd-type").value]); sel.removeAllRanges(); unit.draw();
  });

  async function decide(status) {
    CL.clearError();
    const corrected = status === "confirmed" && (removed.size > 0 || added.length > 0);
    const body = {status: corrected ? "corrected" : status};
    if (corrected) { body.add = added; body.remove = [...removed].sort((a, b) => a - b); }
    if (CL.el("rd-note").value.trim()) body.note = CL.el("rd-note").value.trim();
    try {
      const r = await CL.api(`/api/redactions/${encodeURIComponent(run.run_id)}/units/${encodeURIComponent(unit.unit)}/decision`, {method: "POST", body});
      await openRun(run.run_id); await runs();
      CL.el("rd-unit-title").textContent = `${run.kind === "text" ? "Document" : "Frame"} ${r.unit} (${r.status} by ${r.reviewer})`;
      CL.el("rd-decision").innerHTML = `<span class="ok" id="rd-decided">${CL.esc(r.unit)}: ${CL.esc(r.status)} by ${CL.esc(r.reviewer)}${corrected ? ` (${added.length} added, ${removed.size} undone)` : ""}</span>`;
      document.body.dataset.decided = `${r.unit}:${r.status}`;
    } catch (e) { CL.el("rd-decision").innerHTML = `<span class="bad">${CL.esc(e.message)}</span>`; }
  }
  CL.el("rd-confirm").addEventListener("click", () => decide("confirmed"));
  CL.el("rd-reject").addEventListener("click", () => decide("rejected"));

  CL.el("rd-release").addEventListener("click", async () => {
    CL.clearError(); CL.el("rd-release").disabled = true;
    const out = CL.el("rd-release-result");
    try {
      const r = await CL.api(`/api/redactions/${encodeURIComponent(run.run_id)}/release`, {method: "POST"});
      await openRun(run.run_id); await runs();
      out.innerHTML = `<span class="ok" id="rd-released">Released as evidence item ${CL.esc(r.output_item_id)} (sha256 ${CL.esc(String(r.output_sha256).slice(0, 16))}…, ledger #${r.ledger_seq})</span> <button type="button" class="secondary" id="rd-download">Download it</button>`;
      CL.el("rd-download").addEventListener("click", () => CL.download(`/api/evidence/items/${encodeURIComponent(r.output_item_id)}/content`, `${run.input_name.replace(/\.[^.]+$/, "")}.released${run.kind === "text" ? ".jsonl" : run.kind === "video" ? ".avi" : ".png"}`).catch((e) => CL.showError(e.message)));
      document.body.dataset.released = r.output_item_id;
    } catch (e) { out.innerHTML = `<span class="bad">${CL.esc(e.message)}</span>`; CL.el("rd-release").disabled = false; }
  });

  try {
    await runs();
    const want = new URLSearchParams(location.search).get("run");
    if (want) await openRun(want);
  } catch (e) { CL.showError(e.message); }
  document.body.dataset.ready = "1";
})();
