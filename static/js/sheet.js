// The error-analysis sheet: keyboard-first tagging, live updates, bulk actions, undo.
// Data comes from the "sheet-config" JSON; every write goes to the review API.
(function () {
  "use strict";
  const cfg = JSON.parse(document.getElementById("sheet-config").textContent);
  const { apiFetch, paintDataStyles, el } = window.mlstrat;
  const $ = (id) => document.getElementById(id);

  // A multi-task dataset's tasks ([] for a single-task one: no task UI at all).
  const tasks = cfg.tasks || [];
  const taskColumns = tasks.length ? 2 : 0; // "Task" and "All tasks"
  const classesOf = (row) => (row && cfg.taskClasses && cfg.taskClasses[row.task]) || cfg.classNames;

  const state = {
    categories: cfg.categories,
    rows: cfg.rows,
    current: 0,
    selected: new Set(),
    anchor: null,
    pending: new Map(), // "example:category" -> desired ticked state while a save is in flight
    failed: new Set(),
    undo: [],
    applied: new Set(),
    since: cfg.since,
    commentsSince: cfg.commentsSince,
    marksSince: cfg.marksSince,
    footer: cfg.footer,
    progress: cfg.progress,
    view: cfg.query.view,
    openExample: null,
    cols: cfg.query.cols && cfg.query.cols.length ? cfg.query.cols : null,
  };
  const me = cfg.me;
  const rowIndex = new Map();
  // The columns shown: every active category, or those a view chose (?cols=3,1), in order.
  const allActive = () => state.categories.filter((c) => !c.archived);
  function active() {
    const all = allActive();
    if (!state.cols) return all;
    return state.cols.map((id) => all.find((c) => c.id === id)).filter(Boolean);
  }
  const catById = (id) => state.categories.find((c) => c.id === Number(id));
  const catByKey = (key) => active().find((c) => c.key && c.key === key);
  const userName = (id) => cfg.users[String(id)] || "someone";
  const cellKey = (exampleId, catId) => `${exampleId}:${catId}`;

  function ticks(row, catId) { return row.tags[String(catId)] || []; }
  // On a review's sheet, a row counts once people mark it reviewed there (a tick, a
  // comment, or 0 for "nothing applies"); ticks by anyone else are shown but do not count.
  const inReview = cfg.review !== null;
  function reviewers(row) { return row.reviewed_by || []; }
  function reviewedByMe(row) { return reviewers(row).includes(me); }
  function outsideTick(row, catId, userId) {
    return inReview && !reviewers(row).includes(userId) && ticks(row, catId).includes(userId);
  }
  function whereTicked(row, catId, userId) {
    const origin = (row.outside || []).find((o) => o.category === Number(catId) && o.user === userId);
    if (!origin || origin.review === null) return "on the run's sheet";
    return origin.review === cfg.review ? "here" : `in review “${cfg.reviewNames[String(origin.review)] || "another review"}”`;
  }
  function mine(row, catId) {
    const key = cellKey(row.example, catId);
    if (state.pending.has(key)) return state.pending.get(key);
    return ticks(row, catId).includes(me);
  }

  // ------------------------------------------------------------ rendering
  function renderHead() {
    const head = $("sheet-head");
    head.replaceChildren();
    const tr = el("tr", {},
      el("th", { class: "col-select", scope: "col", title: "Select (x)" }, ""),
      el("th", { class: "col-num", scope: "col", text: "#" }),
      el("th", { class: "col-thumb", scope: "col", text: "Image" }),
      el("th", { class: "col-id", scope: "col", text: "Example" }),
      ...(tasks.length ? [el("th", { class: "col-task", scope: "col", text: "Task" })] : []),
      el("th", { class: "col-label", scope: "col", text: "Label" }),
      el("th", { class: "col-pred", scope: "col", text: "Prediction" }),
      el("th", { class: "col-conf", scope: "col", text: "Conf." }),
      ...(tasks.length ? [el("th", { class: "col-tasks", scope: "col", title: "Every task's label → prediction for this image (? unknown)", text: "All tasks" })] : []));
    if (inReview) tr.append(el("th", { class: "col-reviewed", scope: "col", title: "Reviewed: by you (✓) and by teammates; 0 marks nothing applies" }, "Reviewed ", el("kbd", { text: "0" })));
    active().forEach((c) => {
      tr.append(el("th", {
        class: "col-cat", scope: "col", "data-color": c.color, "data-category": c.id,
        title: c.description || c.name,
      }, el("span", { class: "cat-name", text: c.name }), c.key ? el("kbd", { text: c.key }) : ""));
    });
    tr.append(el("th", { class: "col-comments", scope: "col", text: "Comments" }));
    head.append(tr);
    paintDataStyles(head);
    const bulk = $("bulk-category");
    bulk.replaceChildren(...active().map((c) => el("option", { value: c.id, text: c.name })));
  }

  function renderCell(row, c) {
    const td = el("td", { class: "cat-cell", "data-category": c.id, "data-color": c.color });
    const all = ticks(row, c.id);
    const ticked = mine(row, c.id);
    const key = cellKey(row.example, c.id);
    const box = el("input", {
      type: "checkbox", checked: ticked, class: "tick",
      "aria-label": `${c.name} on ${row.example_id}`, tabIndex: -1,
    });
    td.append(box);
    const others = all.filter((u) => u !== me).length;
    const outside = all.filter((u) => outsideTick(row, c.id, u));
    if (outside.length) {
      td.classList.add("outside");
      box.title = outside.map((u) => `${userName(u)} ticked ${whereTicked(row, c.id, u)}`).join("; ") + ": not counted here until reviewed here";
    }
    if (state.view !== "mine" && all.length) {
      td.append(el("span", { class: "count", text: String(all.length) }));
    } else if (others) {
      td.append(el("span", { class: "others", text: `+${others}` }));
    }
    if (all.length) td.title = "Ticked by " + all.map(userName).join(", ");
    if (ticked) td.classList.add("on");
    if (state.pending.has(key)) td.classList.add("saving");
    if (state.failed.has(key)) td.classList.add("failed");
    if (state.view !== "mine" && all.length) td.classList.add("has-team");
    if (!ticked && row.suggestions.includes(c.id)) {
      td.classList.add("suggested");
      td.title = (td.title ? td.title + " · " : "") + "Tagged in an earlier run: press a to accept";
    }
    return td;
  }

  // A multi-task row: every task's label → prediction for the same image ("?" unknown).
  function renderTasks(row) {
    return el("td", { class: "col-tasks" }, el("ul", { class: "task-list" }, (row.tasks || []).map((t) =>
      el("li", {
        class: "task-item" + (t.task === row.task ? " this-task" : "") + (t.is_error ? " wrong" : "") + (t.is_error === null && !t.missing ? " unknown" : ""),
        "data-task": t.task,
        title: t.missing ? `${t.task}: no example` : `${t.task}: label ${t.label || "? (unknown)"}, predicted ${t.prediction ?? "–"}`,
      },
      t.missing ? el("span", { class: "task-name", text: t.task + " " })
        : el("a", { class: "task-name", href: cfg.labelExample.replace("/0/", `/${t.example}/`), text: t.task, title: t.label ? `Labels of ${t.task}` : `Fill in the unknown ${t.task} label` }),
      " ",
      el("span", { class: "task-label", text: t.missing ? "–" : (t.label || "?") }),
      el("span", { class: "meta", text: " → " }),
      el("span", { class: "task-pred", text: t.prediction ?? "–" })))));
  }

  function renderRow(row, index) {
    const tr = el("tr", { "data-example": row.example, "data-index": index });
    if (index === state.current) tr.classList.add("current");
    if (state.selected.has(row.example)) tr.classList.add("selected");
    if (state.view === "agreement") tr.classList.add("disagree");
    const conf = row.confidence === null ? "–" : row.confidence.toFixed(3);
    tr.append(
      el("td", { class: "col-select" }, el("input", {
        type: "checkbox", class: "select", checked: state.selected.has(row.example),
        "aria-label": `Select ${row.example_id}`, tabIndex: -1,
      })),
      el("td", { class: "col-num meta", text: row.position ?? index + 1 }),
      el("td", { class: "col-thumb" }, el("button", { type: "button", class: "thumb", title: "Open large view (Enter)" },
        el("img", { src: row.thumbnail, alt: row.example_id, loading: "lazy", width: 44, height: 44 }))),
      el("td", { class: "col-id" }, el("code", { text: row.example_id }), row.source ? el("div", { class: "meta", text: row.source }) : ""),
      ...(tasks.length ? [el("td", { class: "col-task" }, el("span", { class: "badge task-badge", text: row.task }))] : []),
      el("td", { class: "col-label" }, el("span", { class: "pill label-pill", text: row.label || "?" })),
      el("td", { class: "col-pred" }, el("span", { class: "pill pred-pill", text: row.prediction })),
      el("td", { class: "col-conf num" }, el("span", { text: conf }),
        row.confidence === null ? "" : el("meter", { min: 0, max: 1, value: row.confidence })),
      ...(tasks.length ? [renderTasks(row)] : [])
    );
    if (inReview) {
      const people = reviewers(row);
      const others = people.filter((u) => u !== me);
      const mineDone = people.includes(me);
      tr.classList.add(people.length ? "reviewed" : "unreviewed");
      const cell = el("td", { class: "col-reviewed" + (mineDone ? " mine" : ""), title: people.length ? "Reviewed by " + people.map(userName).join(", ") : "Not reviewed yet: tick, comment, or press 0 (nothing applies)" },
        el("span", { class: "reviewed-mark", text: mineDone ? "✓" : "·" }),
        others.length ? el("span", { class: "others", text: ` +${others.length}` }) : "",
        mineDone && !active().some((c) => mine(row, c.id)) ? el("span", { class: "meta nothing", text: " nothing applies" }) : "");
      if (state.pending.has(`reviewed:${row.example}`)) cell.classList.add("saving");
      tr.append(cell);
    }
    active().forEach((c) => tr.append(renderCell(row, c)));
    const last = row.comments[row.comments.length - 1];
    const cell = el("td", { class: "col-comments" });
    if (last) {
      cell.append(el("span", { class: "comment-who", text: userName(last.user) + ": " }), el("span", { class: "comment-text", text: last.text }));
      if (row.comments.length > 1) cell.append(el("span", { class: "badge", text: `${row.comments.length}` }));
    } else {
      cell.append(el("span", { class: "muted add-comment", text: "c to comment" }));
    }
    tr.append(cell);
    paintDataStyles(tr);
    return tr;
  }

  function renderBody() {
    const body = $("sheet-body");
    rowIndex.clear();
    body.replaceChildren(...state.rows.map((row, i) => { rowIndex.set(row.example, i); return renderRow(row, i); }));
    $("sheet-empty").classList.toggle("hidden", state.rows.length > 0);
    $("sheet").classList.toggle("hidden", state.rows.length === 0);
  }

  function refreshRow(index) {
    const body = $("sheet-body");
    const old = body.children[index];
    if (old) body.replaceChild(renderRow(state.rows[index], index), old);
    if (state.rows[index] && state.rows[index].example === state.openExample) renderLvTicks();
  }

  // The large view's own tick buttons: the same ticks as the row, togglable by click or key.
  function renderLvTicks() {
    const box = $("lv-ticks");
    const index = rowIndex.get(state.openExample);
    if (!box || index === undefined) return;
    const row = state.rows[index];
    box.replaceChildren(...active().map((c) => {
      const on = mine(row, c.id);
      const others = ticks(row, c.id).filter((u) => u !== me).length;
      return el("button", {
        type: "button", class: "lv-tick" + (on ? " on" : ""), "data-category": c.id, "data-color": c.color,
        "aria-pressed": on ? "true" : "false", title: c.description || c.name,
      }, c.key ? el("kbd", { text: c.key }) : "", ` ${c.name}`, others ? el("span", { class: "others", text: ` +${others}` }) : "");
    }));
    paintDataStyles(box);
  }

  const pctText = (v) => (v === null || v === undefined ? "–" : `${(100 * v).toFixed(1)}%`);
  // The footer is the review's "k of n" under the team rule: the same numbers as the
  // dashboard and the review API (one tally on the server). On the run's own sheet
  // (not a review), it only counts the errors carrying each category.
  function renderFoot() {
    const foot = $("sheet-foot");
    const f = state.footer;
    if (f.kind === "review") {
      const tr = el("tr", { class: "share-row" },
        el("th", { colSpan: 8 + taskColumns, scope: "row" }, "Share of reviewed ",
          el("span", { class: "meta", id: "footer-n", text: `(k of n = ${f.reviewed} reviewed of ${f.sampled} sampled · rule: ${f.rule})` })));
      const byId = new Map(f.categories.map((c) => [c.id, c]));
      active().forEach((c) => {
        const share = byId.get(c.id) || { k: 0, n: f.reviewed, share: null, share_low: null, share_high: null };
        tr.append(el("td", { class: "share", "data-category": c.id, "data-color": c.color,
          title: `${share.k} of ${share.n} reviewed · 95% ${pctText(share.share_low)}–${pctText(share.share_high)}` },
          el("strong", { text: pctText(share.share) }),
          el("span", { class: "meta share-count", text: ` ${share.k}/${share.n}` })));
      });
      tr.append(el("td", { class: "share other-share", title: "Reviewed examples that fit no category (the “other” row)" },
        el("span", { class: "meta", text: "other " }), el("strong", { text: pctText(f.other.share) }),
        el("span", { class: "meta share-count", text: ` ${f.other.k}/${f.other.n}` })));
      foot.replaceChildren(tr);
    } else {
      const tr = el("tr", { class: "share-row" },
        el("th", { colSpan: 7 + taskColumns, scope: "row" }, "Errors ticked ", el("span", { class: "meta", text: `(of ${f.total}; shares and ceilings come from reviews)` })));
      active().forEach((c) => {
        const count = (f.categories[String(c.id)] || { count: 0 }).count;
        tr.append(el("td", { class: "share", "data-category": c.id, "data-color": c.color, title: `${count} of ${f.total} errors` },
          el("strong", { text: String(count) })));
      });
      tr.append(el("td", {}));
      foot.replaceChildren(tr);
    }
    paintDataStyles(foot);
  }

  // Rows whose ticks were made elsewhere (another review, the run's sheet) say so once.
  function renderOutsideNote() {
    const note = $("outside-note");
    if (!note) return;
    const rows = state.rows.filter((row) => (row.outside || []).length);
    if (!inReview || !rows.length) { note.classList.add("hidden"); return; }
    const where = new Set();
    rows.forEach((row) => row.outside.forEach((o) => where.add(o.review === null ? "the run's sheet" : `review “${cfg.reviewNames[String(o.review)] || "?"}”`)));
    note.classList.remove("hidden");
    note.textContent = `${rows.length} row${rows.length === 1 ? "" : "s"} on this page carry ticks made outside this review (in ${[...where].join(", ")}). They are shown dashed and count here only once their author reviews the row here.`;
  }

  function renderProgress() {
    const p = state.progress;
    $("progress-text").textContent = p.kind === "reviewed"
      ? `reviewed ${p.reviewed} of ${p.total} (rule: ${p.rule}${p.rule === "majority" && p.quorum > 1 ? `, ${p.quorum} people each` : ""})`
      : `tagged ${p.reviewed} of ${p.total} errors`;
    $("progress-bar").max = Math.max(p.total, 1);
    $("progress-bar").value = p.reviewed;
    $("progress-people").replaceChildren(...p.by_user.map((u) => el("span", {
      class: "person" + (u.user === me ? " me" : ""),
      text: u.assigned !== null && u.assigned !== undefined ? `${u.username} ${u.reviewed}/${u.assigned}` : `${u.username} ${u.reviewed}`,
    })));
  }

  function renderAgreement(data) {
    const panel = $("agreement-panel");
    if (state.view !== "agreement" || !data) { panel.classList.add("hidden"); return; }
    panel.classList.remove("hidden");
    const rows = data.categories.map((c) => el("tr", {},
      el("td", { text: c.name }),
      el("td", { class: "num", text: c.kappa === null ? "–" : c.kappa.toFixed(2) }),
      el("td", { class: "num", text: `${c.disagreements} of ${c.items}` })));
    panel.replaceChildren(
      el("h2", { text: "Agreement" }),
      el("p", { class: "meta", text: `${data.shared_examples} examples were reviewed by two or more people; the rows below are those where they disagree. Fleiss' kappa per category (1 = full agreement, 0 = chance).` }),
      el("table", { class: "table agreement-table" },
        el("thead", {}, el("tr", {}, el("th", { text: "Category" }), el("th", { class: "num", text: "kappa" }), el("th", { class: "num", text: "disagreements" }))),
        el("tbody", {}, rows)));
  }

  function renderAll() {
    renderHead(); renderBody(); renderFoot(); renderProgress(); renderOutsideNote();
    $("undo").disabled = state.undo.length === 0;
  }

  // ------------------------------------------------------------ feedback
  let toastTimer = null;
  function toast(message, kind) {
    const t = $("toast");
    t.textContent = message;
    t.className = "toast " + (kind || "error");
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => t.classList.add("hidden"), 5000);
  }

  // ------------------------------------------------------------ ticks
  function applyLocal(exampleId, catId, userId, ticked) {
    const index = rowIndex.get(exampleId);
    if (index === undefined) return;
    const row = state.rows[index];
    const list = (row.tags[String(catId)] || []).filter((u) => u !== userId);
    if (ticked) list.push(userId);
    row.tags[String(catId)] = list;
  }
  function applyMark(exampleId, userId, reviewed) {
    const index = rowIndex.get(exampleId);
    if (index === undefined) return false;
    const row = state.rows[index];
    const people = reviewers(row).filter((u) => u !== userId);
    if (reviewed) people.push(userId);
    row.reviewed_by = people;
    if (reviewed) row.outside = (row.outside || []).filter((o) => o.user !== userId);
    return true;
  }

  // 0: "I reviewed this row" (nothing applies unless I tick), or take my mark back.
  async function toggleReviewed(exampleIds) {
    if (!inReview) { toast("Reviewed marks belong to a review: open one from the reviews page.", "info"); return; }
    const ids = exampleIds || targets();
    if (!ids.length) return;
    const want = !reviewedByMe(state.rows[rowIndex.get(ids[0])]);
    ids.forEach((ex) => { state.pending.set(`reviewed:${ex}`, want); refreshRow(rowIndex.get(ex)); });
    const body = { action: want ? "set" : "clear" };
    if (ids.length === 1) body.example = ids[0]; else body.examples = ids;
    try {
      await apiFetch(cfg.api.marks, { method: "POST", body });
      ids.forEach((ex) => applyMark(ex, me, want));
      state.undo.push({ kind: "mark", examples: ids, reviewed: want });
      toast(want ? `Reviewed ${ids.length} row${ids.length === 1 ? "" : "s"}${ids.every((ex) => !allActive().some((c) => mine(state.rows[rowIndex.get(ex)], c.id))) ? ": nothing applies" : ""}` : "Reviewed mark taken back", "info");
    } catch (error) {
      toast(`Not saved: ${error.message}`);
    } finally {
      ids.forEach((ex) => { state.pending.delete(`reviewed:${ex}`); refreshRow(rowIndex.get(ex)); });
      $("undo").disabled = state.undo.length === 0;
      poll();
    }
  }

  // Send one idempotent set/clear for several examples; revert and show the error on failure.
  async function sendTicks(exampleIds, catId, ticked, options = {}) {
    const category = catById(catId);
    if (!category) return false;
    const keys = exampleIds.map((ex) => cellKey(ex, catId));
    const before = exampleIds.map((ex) => mine(state.rows[rowIndex.get(ex)], catId));
    keys.forEach((k) => { state.pending.set(k, ticked); state.failed.delete(k); });
    exampleIds.forEach((ex) => refreshRow(rowIndex.get(ex)));
    const body = { action: ticked ? "set" : "clear", category: catId };
    if (exampleIds.length === 1) body.example = exampleIds[0]; else body.examples = exampleIds;
    if (inReview) body.review = cfg.review;
    if (options.proposedLabel) body.proposed_label = options.proposedLabel;
    try {
      try {
        await apiFetch(cfg.api.tags, { method: "POST", body });
      } catch (error) {
        // A dropped connection (no HTTP status): send the same set/clear again once. It is
        // idempotent, so if the first one did arrive the retry changes nothing.
        if (error.status) throw error;
        await new Promise((resolve) => setTimeout(resolve, 800));
        await apiFetch(cfg.api.tags, { method: "POST", body });
      }
      exampleIds.forEach((ex) => { applyLocal(ex, catId, me, ticked); if (inReview) applyMark(ex, me, true); });
      keys.forEach((k) => state.pending.delete(k));
      if (state.openExample !== null && exampleIds.includes(state.openExample)) loadLargeView(state.openExample);
      if (!options.isUndo) {
        state.undo.push({ catId, examples: exampleIds.filter((_, i) => before[i] !== ticked), ticked });
      }
      return true;
    } catch (error) {
      keys.forEach((k) => { state.pending.delete(k); state.failed.add(k); });
      toast(`Not saved: ${error.message}`);
      setTimeout(() => { keys.forEach((k) => state.failed.delete(k)); exampleIds.forEach((ex) => refreshRow(rowIndex.get(ex))); }, 4000);
      return false;
    } finally {
      exampleIds.forEach((ex) => refreshRow(rowIndex.get(ex)));
      $("undo").disabled = state.undo.length === 0;
      poll();
    }
  }

  function targets() {
    if (state.selected.size) return [...state.selected].filter((ex) => rowIndex.has(ex));
    const row = state.rows[state.current];
    return row ? [row.example] : [];
  }

  function toggle(catId, exampleIds) {
    const ids = exampleIds || targets();
    if (!ids.length) return;
    const category = catById(catId);
    // Toggle relative to the first target: all selected rows end up in the same state.
    const want = !mine(state.rows[rowIndex.get(ids[0])], catId);
    if (want && category.builtin === "incorrect_label") { askLabel(ids, catId); return; }
    sendTicks(ids, catId, want);
  }

  async function undo() {
    const last = state.undo.pop();
    $("undo").disabled = state.undo.length === 0;
    if (!last || !last.examples.length) return;
    if (last.kind === "mark") {
      try {
        await apiFetch(cfg.api.marks, { method: "POST", body: { action: last.reviewed ? "clear" : "set", examples: last.examples } });
        last.examples.forEach((ex) => { applyMark(ex, me, !last.reviewed); refreshRow(rowIndex.get(ex)); });
        toast("Undone: reviewed mark", "info");
      } catch (error) {
        toast(`Not undone: ${error.message}`);
      }
      poll();
      return;
    }
    const category = catById(last.catId);
    if (!last.ticked && category && category.builtin === "incorrect_label") {
      toast("Re-ticking Incorrectly labeled needs a label: tick it again yourself.", "info");
      return;
    }
    const ok = await sendTicks(last.examples, last.catId, !last.ticked, { isUndo: true });
    if (ok) toast(`Undone: ${category ? category.name : "tick"} on ${last.examples.length} row(s)`, "info");
  }

  function acceptSuggestions() {
    const row = state.rows[state.current];
    if (!row) return;
    const todo = row.suggestions.filter((id) => catById(id) && !catById(id).archived && !mine(row, id));
    if (!todo.length) { toast("No suggestion from earlier runs on this row.", "info"); return; }
    todo.forEach((id) => {
      // An earlier run's "Incorrectly labeled" comes back with the label still pending review.
      if (catById(id).builtin === "incorrect_label") sendTicks([row.example], id, true, { proposedLabel: row.suggested_label });
      else sendTicks([row.example], id, true);
    });
  }

  // ------------------------------------------------------------ incorrect label dialog
  let labelTarget = null;
  function askLabel(ids, catId) {
    labelTarget = { ids, catId };
    const row = state.rows[rowIndex.get(ids[0])];
    $("label-context").textContent = ids.length === 1
      ? `${row.example_id}: given “${row.label}”, predicted “${row.prediction}”.`
      : `${ids.length} selected rows get the same proposed label.`;
    const select = $("label-select");
    select.replaceChildren(...classesOf(row).filter((c) => ids.length > 1 || c !== row.label)
      .map((c) => el("option", { value: c, text: c, selected: c === row.prediction })));
    $("label-error").textContent = "";
    $("label-dialog").showModal();
    select.focus();
  }
  $("label-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const label = $("label-select").value;
    const target = labelTarget;
    $("label-dialog").close();
    if (target) await sendTicks(target.ids, target.catId, true, { proposedLabel: label });
  });
  $("label-cancel").addEventListener("click", () => $("label-dialog").close());

  // ------------------------------------------------------------ comments
  let commentRow = null;
  function renderCommentList(row) {
    $("comment-list").replaceChildren(...row.comments.map((c) => el("li", {},
      el("strong", { text: userName(c.user) }), " ", el("span", { text: c.text }),
      c.user === me ? el("button", { type: "button", class: "link-button", "data-comment": c.id, text: "delete" }) : "")));
  }
  $("comment-list").addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-comment]");
    if (!button || !commentRow) return;
    const id = Number(button.dataset.comment);
    try {
      await apiFetch(`${cfg.api.comments}${id}/`, { method: "DELETE" });
      commentRow.comments = commentRow.comments.filter((c) => c.id !== id);
      renderCommentList(commentRow);
      refreshRow(rowIndex.get(commentRow.example));
    } catch (error) {
      $("comment-error").textContent = `Not deleted: ${error.message}`;
    }
  });
  function openComments() {
    const row = state.rows[state.current];
    if (!row) return;
    commentRow = row;
    $("comment-title").textContent = `Comments on ${row.example_id}`;
    renderCommentList(row);
    $("comment-text").value = draft(row.example);
    $("comment-error").textContent = "";
    $("comment-dialog").showModal();
    $("comment-text").focus();
  }
  $("comment-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = $("comment-text").value.trim();
    if (!text || !commentRow) return;
    try {
      const body = { example: commentRow.example, text };
      if (inReview) body.review = cfg.review;
      const saved = await apiFetch(cfg.api.comments, { method: "POST", body });
      if (inReview) applyMark(saved.example, me, true);
      addComment({ id: saved.id, example: saved.example, user: saved.user, text: saved.text, at: saved.created_at });
      $("comment-text").value = "";
      keepDraft(commentRow.example, "");
      $("comment-dialog").close();
      poll();
    } catch (error) {
      $("comment-error").textContent = `Not saved: ${error.message}`;
    }
  });
  $("comment-cancel").addEventListener("click", () => $("comment-dialog").close());
  // Enter sends, Shift+Enter starts a new line (not while an input method composes).
  $("comment-text").addEventListener("keydown", (event) => {
    if (event.key !== "Enter" || event.shiftKey || event.isComposing) return;
    event.preventDefault();
    $("comment-form").requestSubmit();
  });
  // An unsent comment survives closing the dialog (and a reload): one draft per example.
  const draftKey = (exampleId) => `mlstrat.comment-draft.${cfg.run}.${exampleId}`;
  function draft(exampleId) {
    try { return localStorage.getItem(draftKey(exampleId)) || ""; } catch (error) { return ""; }
  }
  function keepDraft(exampleId, text) {
    try {
      if (text.trim()) localStorage.setItem(draftKey(exampleId), text); else localStorage.removeItem(draftKey(exampleId));
    } catch (error) { /* private mode: the draft lives until the page closes */ }
  }
  $("comment-text").addEventListener("input", () => { if (commentRow) keepDraft(commentRow.example, $("comment-text").value); });

  function addComment(c) {
    const index = rowIndex.get(c.example);
    if (index === undefined) return;
    const row = state.rows[index];
    const existing = row.comments.find((x) => x.id === c.id);
    if (existing) existing.text = c.text; else row.comments.push(c);
    refreshRow(index);
    if (state.openExample === c.example) loadLargeView(c.example);
  }

  // ------------------------------------------------------------ movement and selection
  function move(delta) {
    if (!state.rows.length) return;
    const previous = state.current;
    state.current = Math.max(0, Math.min(state.rows.length - 1, state.current + delta));
    refreshRow(previous); refreshRow(state.current);
    const tr = $("sheet-body").children[state.current];
    if (tr) tr.scrollIntoView({ block: "nearest" });
    if (state.openExample !== null) openLargeView(state.rows[state.current].example, true);
  }
  function setCurrent(index) {
    const previous = state.current;
    state.current = index;
    refreshRow(previous); refreshRow(index);
  }
  function select(example, on) {
    if (on) state.selected.add(example); else state.selected.delete(example);
  }
  function renderBulk() {
    const n = state.selected.size;
    $("bulk-bar").classList.toggle("hidden", n === 0);
    $("bulk-count").textContent = `${n} selected`;
  }
  function toggleSelect(index, range) {
    const row = state.rows[index];
    if (range && state.anchor !== null) {
      const [a, b] = [Math.min(state.anchor, index), Math.max(state.anchor, index)];
      for (let i = a; i <= b; i++) select(state.rows[i].example, true);
    } else {
      select(row.example, !state.selected.has(row.example));
      state.anchor = index;
    }
    renderBody(); renderBulk();
  }

  $("sheet-body").addEventListener("click", (event) => {
    const tr = event.target.closest("tr[data-index]");
    if (!tr) return;
    const index = Number(tr.dataset.index);
    if (event.target.closest(".thumb")) { setCurrent(index); openLargeView(state.rows[index].example); return; }
    if (event.target.closest(".col-select") || event.shiftKey) {
      event.preventDefault();
      toggleSelect(index, event.shiftKey);
      return;
    }
    const cell = event.target.closest(".cat-cell");
    if (cell) {
      event.preventDefault();
      setCurrent(index);
      toggle(Number(cell.dataset.category), [state.rows[index].example]);
      return;
    }
    if (event.target.closest(".col-comments")) { setCurrent(index); openComments(); return; }
    setCurrent(index);
  });

  $("bulk-set").addEventListener("click", () => {
    const catId = Number($("bulk-category").value);
    const ids = targets();
    if (catById(catId).builtin === "incorrect_label") askLabel(ids, catId); else sendTicks(ids, catId, true);
  });
  $("bulk-clear").addEventListener("click", () => sendTicks(targets(), Number($("bulk-category").value), false));
  $("bulk-none").addEventListener("click", () => { state.selected.clear(); renderBody(); renderBulk(); });
  $("undo").addEventListener("click", undo);

  // ------------------------------------------------------------ large view
  const lv = $("large-view");
  async function loadLargeView(exampleId) {
    const info = $("lv-info");
    let data;
    try {
      data = await apiFetch(`${cfg.api.base}/runs/${cfg.run}/examples/${exampleId}/`);
    } catch (error) {
      info.replaceChildren(el("p", { class: "error", text: `Could not load: ${error.message}` }));
      return;
    }
    if (state.openExample !== exampleId) return;
    $("lv-title").textContent = data.example_id;
    $("lv-image").src = data.image;
    $("lv-image").alt = `${data.example_id}, labeled ${data.label}`;
    const dl = (pairs) => el("dl", { class: "lv-facts" }, pairs.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", {}, v)]));
    const facts = dl([
      ["Given label", el("span", { class: "pill label-pill", text: data.label })],
      ["Prediction", el("span", { class: "pill pred-pill", text: data.prediction ?? "–" })],
      ["Confidence", data.confidence === null ? "–" : data.confidence.toFixed(3)],
      ...(data.label_probability !== null ? [["P(given label)", data.label_probability.toFixed(3)]] : []),
      ...(data.label_score ? [["Label score", el("span", {
        class: "pill " + (data.label_score.likely_bad ? "pred-pill" : "ok-pill"),
        text: `margin ${data.label_score.margin.toFixed(3)}` + (data.label_score.likely_bad ? " · likely bad label" : "") +
          (data.label_score.rank ? ` · #${data.label_score.rank} of ${data.label_score.ranked}` : ""),
      })]] : []),
      ["Split · source", `${data.split} · ${data.source || "–"}`],
      ...(data.original_label !== data.label ? [["Imported label", data.original_label]] : []),
    ]);
    const top5 = el("table", { class: "lv-top5" }, data.top5.map((t) => el("tr", { class: t.label === data.label ? "is-label" : "" },
      el("td", { text: t.label }), el("td", {}, el("meter", { min: 0, max: 1, value: t.p })), el("td", { class: "num", text: t.p.toFixed(3) }))));
    const meta = dl(Object.entries(data.metadata || {}).map(([k, v]) => [k, typeof v === "object" ? JSON.stringify(v) : String(v)]));
    const byCat = {};
    data.tags.forEach((t) => { (byCat[t.category] = byCat[t.category] || []).push(t.username); });
    const tags = el("ul", { class: "lv-tags" }, Object.entries(byCat).map(([catId, users]) => {
      const c = catById(catId);
      return el("li", { "data-color": c ? c.color : "#999" }, el("span", { class: "swatch" }), el("strong", { text: c ? c.name : "?" }), ` ${users.join(", ")}`);
    }));
    const comments = el("ul", { class: "comment-list" }, data.comments.map((c) => el("li", {}, el("strong", { text: c.username }), " ", el("span", { text: c.text }))));
    const history = el("table", { class: "table lv-history" },
      el("thead", {}, el("tr", {}, el("th", { text: "Run" }), el("th", { text: "Prediction" }), el("th", { class: "num", text: "Conf." }), el("th", { text: "Tags there" }))),
      el("tbody", {}, data.history.map((h) => el("tr", { class: h.current ? "current-run" : "" },
        el("td", { text: h.run_name + (h.current ? " (this run)" : "") }),
        el("td", {}, el("span", { class: "pill " + (h.is_error ? "pred-pill" : "ok-pill"), text: h.prediction })),
        el("td", { class: "num", text: h.confidence === null ? "–" : h.confidence.toFixed(2) }),
        el("td", { class: "meta", text: h.tags.join(", ") })))));
    const corrections = data.corrections.length ? el("ul", { class: "lv-corrections" }, data.corrections.map((c) =>
      el("li", { text: `→ “${c.proposed_label}” proposed by ${c.by || "?"} (${c.status})` }))) : el("p", { class: "meta", text: "none" });
    info.replaceChildren(
      el("div", { id: "lv-ticks", class: "lv-ticks", "aria-label": "Your ticks" }),
      facts,
      el("h3", { text: "Top-5 probabilities" }), data.top5.length ? top5 : el("p", { class: "meta", text: "no probabilities in this run" }),
      el("h3", { text: "Ticks in this run" }), Object.keys(byCat).length ? tags : el("p", { class: "meta", text: "nobody ticked anything yet" }),
      el("h3", { text: "Comments" }), data.comments.length ? comments : el("p", { class: "meta", text: "none yet (c to comment)" }),
      el("h3", { text: "Label proposals" }), corrections,
      el("h3", { text: "In other runs" }), history,
      el("h3", { text: "Metadata" }), Object.keys(data.metadata || {}).length ? meta : el("p", { class: "meta", text: "none" }));
    paintDataStyles(info);
    renderLvTicks();
  }
  function openLargeView(exampleId, replace) {
    state.openExample = exampleId;
    pushUrl({ open: exampleId }, replace);
    if (!lv.open) lv.showModal();
    $("lv-info").replaceChildren(el("p", { class: "meta", text: "Loading…" }));
    loadLargeView(exampleId);
  }
  function closeLargeView(fromHistory) {
    state.openExample = null;
    if (lv.open) lv.close();
    if (!fromHistory) pushUrl({ open: null });
  }
  $("lv-close").addEventListener("click", () => closeLargeView());
  $("lv-info").addEventListener("click", (event) => {
    const button = event.target.closest(".lv-tick");
    if (button && state.openExample !== null) toggle(Number(button.dataset.category), [state.openExample]);
  });
  lv.addEventListener("cancel", (event) => { event.preventDefault(); closeLargeView(); });
  const zoom = $("lv-zoom");
  const applyZoom = () => $("lv-image-box").style.setProperty("--zoom", zoom.value);
  zoom.addEventListener("input", applyZoom);
  $("lv-image").addEventListener("click", () => { zoom.value = Number(zoom.value) >= 6 ? 1 : Number(zoom.value) + 2; applyZoom(); });
  applyZoom();

  // ------------------------------------------------------------ URL state
  function pushUrl(changes, replace) {
    const url = new URL(window.location.href);
    Object.entries(changes).forEach(([k, v]) => {
      if (v === null || v === "" || v === undefined) url.searchParams.delete(k); else url.searchParams.set(k, v);
    });
    if (url.href === window.location.href) return;
    if (replace) history.replaceState({}, "", url); else history.pushState({}, "", url);
  }
  window.addEventListener("popstate", () => {
    const open = new URL(window.location.href).searchParams.get("open");
    if (open) {
      if (rowIndex.has(Number(open))) setCurrent(rowIndex.get(Number(open)));
      state.openExample = Number(open);
      if (!lv.open) lv.showModal();
      loadLargeView(Number(open));
    } else if (!open && lv.open) {
      closeLargeView(true);
    }
  });
  // Filters navigate: the URL is the state, so links paste and the back button works.
  $("filters").addEventListener("change", () => {
    const form = new FormData($("filters"));
    const url = new URL(window.location.pathname, window.location.origin);
    for (const [k, v] of form.entries()) if (v) url.searchParams.set(k, v);
    if (state.cols) url.searchParams.set("cols", state.cols.join(","));
    window.location.assign(url);
  });
  function pagerLinks() {
    const url = new URL(window.location.href);
    url.searchParams.delete("open");
    const first = new URL(url); first.searchParams.delete("after");
    $("first-page").href = first.pathname + first.search;
    $("first-page").classList.toggle("hidden", !cfg.query.after);
    if (cfg.next) {
      const next = new URL(url); next.searchParams.set("after", cfg.next);
      $("next-page").href = next.pathname + next.search;
    } else {
      $("next-page").classList.add("hidden");
    }
    $("page-info").textContent = `${state.rows.length} row${state.rows.length === 1 ? "" : "s"} on this page` + (cfg.next ? " · more on the next page" : "");
  }

  // ------------------------------------------------------------ categories
  const catDialog = $("category-dialog");
  let editing = null;
  function openCategoryDialog(category) {
    editing = category || null;
    const form = $("category-form");
    form.reset();
    $("category-dialog-title").textContent = editing ? `Edit “${editing.name}”` : "New category";
    $("category-save").textContent = editing ? "Save" : "Add column";
    if (editing) {
      form.name.value = editing.name; form.key.value = editing.key; form.color.value = editing.color;
      form.description.value = editing.description;
    } else {
      const palette = ["#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#ff9da7", "#9c755f"];
      form.color.value = palette[state.categories.length % palette.length];
    }
    keyTouched = Boolean(editing);
    $("category-key-note").textContent = "";
    $("category-error").textContent = "";
    catDialog.showModal();
    form.name.focus();
    if (!editing) proposeKey();
  }
  // A new category gets a key nobody holds: the server proposes one from the name's letters.
  let keyTouched = false;
  let proposeTimer = null;
  async function proposeKey() {
    const form = $("category-form");
    if (keyTouched) return;
    const params = new URLSearchParams({ dataset: cfg.dataset, name: form.name.value });
    try {
      const { key } = await apiFetch(`${cfg.api.categories}free-key/?${params}`);
      if (keyTouched) return;
      form.key.value = key;
      $("category-key-note").textContent = key ? `Key “${key}” is free.` : "Every key is taken: the column will have none.";
    } catch (error) {
      $("category-key-note").textContent = "";
    }
  }
  $("category-form").name.addEventListener("input", () => {
    clearTimeout(proposeTimer);
    proposeTimer = setTimeout(proposeKey, 200);
  });
  $("category-form").key.addEventListener("input", () => { keyTouched = true; $("category-key-note").textContent = ""; });
  $("category-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.target;
    const body = { name: form.name.value, key: form.key.value.toLowerCase(), color: form.color.value, description: form.description.value };
    try {
      let saved;
      if (editing) saved = await apiFetch(`${cfg.api.categories}${editing.id}/`, { method: "PATCH", body });
      else saved = await apiFetch(cfg.api.categories, { method: "POST", body: Object.assign({ dataset: cfg.dataset }, body) });
      upsertCategory(saved);
      catDialog.close();
      renderColumnsDialog();
      toast(editing ? `Saved “${saved.name}”` : `Added column “${saved.name}”${saved.key ? ` (key ${saved.key})` : ""}`, "info");
    } catch (error) {
      $("category-error").textContent = error.data ? Object.values(error.data).flat().join(" ") : error.message;
    }
  });
  $("category-cancel").addEventListener("click", () => catDialog.close());
  function upsertCategory(saved) {
    const i = state.categories.findIndex((c) => c.id === saved.id);
    if (i >= 0) state.categories[i] = saved; else state.categories.push(saved);
    if (i < 0 && state.cols) { state.cols.push(saved.id); pushUrl({ cols: state.cols.join(",") }, true); }
    state.categories.sort((a, b) => a.order - b.order || a.id - b.id);
    renderHead(); renderBody(); renderFoot(); renderOutsideNote();
  }
  if ($("add-category")) $("add-category").addEventListener("click", () => openCategoryDialog());
  if ($("manage-categories")) $("manage-categories").addEventListener("click", () => { renderColumnsDialog(); $("columns-dialog").showModal(); });

  function renderColumnsDialog() {
    const body = $("columns-body");
    const cats = state.categories;
    body.replaceChildren(...cats.map((c, i) => el("tr", { class: c.archived ? "archived" : "", "data-color": c.color },
      el("td", {}, el("span", { class: "swatch" })),
      el("td", {}, el("strong", { text: c.name }), c.archived ? el("span", { class: "badge", text: "archived" }) : "", c.builtin ? el("span", { class: "badge", text: "built-in" }) : ""),
      el("td", {}, c.key ? el("kbd", { text: c.key }) : el("span", { class: "meta", text: "no key" })),
      el("td", { class: "actions" },
        el("button", { type: "button", "data-act": "up", "data-id": c.id, disabled: i === 0, title: "Move left", text: "←" }),
        el("button", { type: "button", "data-act": "down", "data-id": c.id, disabled: i === cats.length - 1, title: "Move right", text: "→" }),
        el("button", { type: "button", "data-act": "edit", "data-id": c.id, text: "Edit" }),
        c.builtin || c.merged_into ? "" : el("button", { type: "button", "data-act": c.archived ? "restore" : "archive", "data-id": c.id, text: c.archived ? "Restore" : "Archive" }),
        c.builtin || c.archived ? "" : el("button", { type: "button", "data-act": "merge", "data-id": c.id, text: "Merge…" }),
        c.merged_into ? el("span", { class: "meta", text: `merged into ${(catById(c.merged_into) || {}).name || "another"}` }) : ""))));
    paintDataStyles(body);
  }
  $("columns-body").addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-act]");
    if (!button) return;
    const id = Number(button.dataset.id);
    const act = button.dataset.act;
    $("columns-error").textContent = "";
    try {
      if (act === "edit") { $("columns-dialog").close(); openCategoryDialog(catById(id)); return; }
      if (act === "merge") { openMergeDialog(catById(id)); return; }
      if (act === "archive" || act === "restore") {
        upsertCategory(await apiFetch(`${cfg.api.categories}${id}/`, { method: "PATCH", body: { archived: act === "archive" } }));
      } else {
        const ids = state.categories.map((c) => c.id);
        const i = ids.indexOf(id);
        const j = act === "up" ? i - 1 : i + 1;
        [ids[i], ids[j]] = [ids[j], ids[i]];
        const saved = await apiFetch(cfg.api.reorder, { method: "POST", body: { dataset: cfg.dataset, order: ids } });
        state.categories = saved;
        renderHead(); renderBody(); renderFoot(); renderOutsideNote();
      }
      renderColumnsDialog();
    } catch (error) {
      $("columns-error").textContent = error.message;
    }
  });

  // Merge (leads): move every tick of one category to another; the live feed redraws.
  let merging = null;
  function openMergeDialog(category) {
    merging = category;
    $("merge-title").textContent = `Merge “${category.name}”`;
    const others = allActive().filter((c) => c.id !== category.id && !c.builtin);
    $("merge-into").replaceChildren(...others.map((c) => el("option", { value: c.id, text: c.name })));
    $("merge-error").textContent = others.length ? "" : "There is no other active category to merge into.";
    $("merge-save").disabled = !others.length;
    $("merge-dialog").showModal();
  }
  $("merge-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const into = Number($("merge-into").value);
    try {
      const result = await apiFetch(`${cfg.api.categories}${merging.id}/merge/`, { method: "POST", body: { into } });
      $("merge-dialog").close();
      $("columns-dialog").close();
      toast(`Merged “${result.from_name}” into “${result.into_name}”: ${result.moved} tick(s) moved`, "info");
      poll();
    } catch (error) {
      $("merge-error").textContent = error.data ? Object.values(error.data).flat().join(" ") : error.message;
    }
  });
  $("merge-cancel").addEventListener("click", () => $("merge-dialog").close());

  // ------------------------------------------------------------ columns shown, saved views
  function renderShowColumns() {
    const list = $("show-columns-list");
    list.replaceChildren(...allActive().map((c) => el("label", { class: "check", "data-color": c.color },
      el("input", { type: "checkbox", value: c.id, checked: active().some((a) => a.id === c.id) }),
      el("span", { class: "swatch" }), c.name)));
    paintDataStyles(list);
  }
  $("show-columns-list").addEventListener("change", () => {
    const checked = [...$("show-columns-list").querySelectorAll("input:checked")].map((box) => Number(box.value));
    const all = allActive().map((c) => c.id);
    const keep = (state.cols || all).filter((id) => checked.includes(id));
    const added = checked.filter((id) => !keep.includes(id));
    const cols = keep.concat(added);
    state.cols = cols.length === all.length ? null : cols;
    pushUrl({ cols: state.cols ? state.cols.join(",") : null }, true);
    renderHead(); renderBody(); renderFoot();
  });
  $("show-columns").addEventListener("toggle", renderShowColumns);

  function currentViewParams() {
    const url = new URL(window.location.href);
    const params = {};
    cfg.viewParams.forEach((key) => { const v = url.searchParams.get(key); if (v) params[key] = v; });
    if (cfg.layout === "gallery") params.layout = "gallery";
    return params;
  }
  function renderSavedViews() {
    const select = $("saved-views");
    select.replaceChildren(el("option", { value: "", text: `Saved views (${state.views.length})` }),
      ...state.views.map((v) => el("option", { value: v.url, text: v.name + (v.review_name ? ` · ${v.review_name}` : "") + (v.created_by ? ` — ${v.created_by}` : "") })));
  }
  $("saved-views").addEventListener("change", (event) => { if (event.target.value) window.location.assign(event.target.value); });
  $("save-view").addEventListener("click", () => {
    $("view-form").reset();
    $("view-error").textContent = "";
    $("view-summary").textContent = Object.entries(currentViewParams()).map(([k, v]) => `${k}=${v}`).join(" · ") || "no filter, default sort";
    $("view-dialog").showModal();
    $("view-form").name.focus();
  });
  $("view-cancel").addEventListener("click", () => $("view-dialog").close());
  $("view-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { run: cfg.run, review: cfg.review, name: event.target.name.value, params: currentViewParams(), columns: state.cols || [] };
    try {
      const saved = await apiFetch(cfg.api.views, { method: "POST", body });
      state.views.push(saved);
      state.views.sort((a, b) => a.name.localeCompare(b.name));
      renderSavedViews();
      $("view-dialog").close();
      toast(`Saved view “${saved.name}”: the whole project sees it on the run's page`, "info");
    } catch (error) {
      $("view-error").textContent = error.data ? Object.values(error.data).flat().join(" ") : error.message;
    }
  });

  // ------------------------------------------------------------ live updates
  let polling = false;
  let pollAgain = false;
  async function poll() {
    // A poll already in flight may have started before our write: poll once more after it.
    if (polling) { pollAgain = true; return; }
    polling = true;
    const params = new URLSearchParams({ since: state.since, comments_since: state.commentsSince, split: cfg.split });
    if (cfg.review) { params.set("review", cfg.review); params.set("marks_since", state.marksSince); }
    else if (cfg.query.task) params.set("task", cfg.query.task);
    try {
      const data = await apiFetch(`${cfg.api.changes}?${params}`);
      const touched = new Set();
      data.events.forEach((e) => {
        if (state.applied.has(e.id)) return;
        state.applied.add(e.id);
        if (state.pending.has(cellKey(e.example, e.category))) return;
        applyLocal(e.example, e.category, e.user, e.action === "set");
        touched.add(e.example);
      });
      data.comments.forEach((c) => addComment(c));
      (data.marks || []).forEach((m) => {
        if (m.user === me && state.pending.has(`reviewed:${m.example}`)) return;
        if (applyMark(m.example, m.user, m.reviewed)) touched.add(m.example);
      });
      state.since = data.since;
      state.commentsSince = data.comments_since;
      state.marksSince = data.marks_since;
      const signature = (cats) => JSON.stringify(cats.map((c) => [c.id, c.name, c.key, c.color, c.order, c.archived]));
      if (signature(data.categories) !== signature(state.categories)) {
        state.categories = data.categories;
        renderHead(); renderBody();
      } else {
        touched.forEach((ex) => refreshRow(rowIndex.get(ex)));
      }
      state.footer = data.footer;
      state.progress = data.progress;
      renderFoot(); renderProgress(); renderOutsideNote();
      document.body.classList.remove("offline");
    } catch (error) {
      document.body.classList.add("offline");
    } finally {
      polling = false;
      if (pollAgain) { pollAgain = false; poll(); }
    }
  }
  setInterval(() => { if (!document.hidden) poll(); }, 3000);

  // ------------------------------------------------------------ keyboard
  function anyDialogOpen() { return [...document.querySelectorAll("dialog")].some((d) => d.open && d !== lv); }
  document.addEventListener("keydown", (event) => {
    if (event.target.closest("input, textarea, select") && event.target.type !== "checkbox") return;
    if (anyDialogOpen()) return;
    if (event.metaKey || event.altKey) return;
    if (event.ctrlKey) {
      if (event.key === "z") { event.preventDefault(); undo(); }
      return;
    }
    const key = event.key;
    const handled = () => event.preventDefault();
    if (key === "j" || key === "ArrowDown") { handled(); move(1); }
    else if (key === "k" || key === "ArrowUp") { handled(); move(-1); }
    else if (key === "Enter") { handled(); if (lv.open) closeLargeView(); else if (state.rows[state.current]) openLargeView(state.rows[state.current].example); }
    else if (key === "Escape") { if (lv.open) { handled(); closeLargeView(); } else if (state.selected.size) { state.selected.clear(); renderBody(); renderBulk(); } }
    else if (key === "?") { handled(); $("help").showModal(); }
    else if (key === "x") { handled(); toggleSelect(state.current, event.shiftKey); }
    else if (key === "X") { handled(); toggleSelect(state.current, true); }
    else if (key === "c") { handled(); openComments(); }
    else if (key === "a") { handled(); acceptSuggestions(); }
    else if (key === "u") { handled(); undo(); }
    else if (key === "0") { handled(); toggleReviewed(); }
    else if (key.length === 1) {
      const category = catByKey(key.toLowerCase());
      if (category) { handled(); toggle(category.id); }
    }
  });
  $("show-help").addEventListener("click", () => $("help").showModal());
  function renderHelpKeys() {
    $("help-keys").replaceChildren(el("h3", { text: "Category keys" }), el("div", { class: "row" },
      active().filter((c) => c.key).map((c) => el("span", { class: "key-chip", "data-color": c.color }, el("kbd", { text: c.key }), ` ${c.name}`))));
    paintDataStyles($("help-keys"));
  }
  $("help").addEventListener("toggle", renderHelpKeys);
  $("show-help").addEventListener("click", renderHelpKeys);

  // ------------------------------------------------------------ extend the sample
  if ($("extend-form")) {
    $("extend-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      const by = Number(event.target.by.value);
      try {
        const result = await apiFetch(event.target.dataset.url, { method: "POST", body: { by } });
        toast(`Added ${result.added} examples to the review`, "info");
        setTimeout(() => window.location.reload(), 600);
      } catch (error) {
        toast(`Not extended: ${error.message}`);
      }
    });
  }

  // ------------------------------------------------------------ start
  state.views = cfg.savedViews;
  renderSavedViews();
  renderAll();
  renderBulk();
  renderAgreement(cfg.agreement);
  pagerLinks();
  if (cfg.query.open) {
    // A pasted link may open an example that is not on this page: show it all the same.
    if (rowIndex.has(cfg.query.open)) {
      state.current = rowIndex.get(cfg.query.open);
      refreshRow(state.current);
    }
    openLargeView(cfg.query.open, true);
  }
  window.mlstratSheet = { state };
})();
