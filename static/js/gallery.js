// The gallery: the sheet's rows (same "sheet-config", same filters and URL) as large
// thumbnails. Keyboard: j/k or arrows move, category keys tick, Enter opens the sheet's
// large view. Thumbnail size S/M/L is remembered per user in this browser.
(function () {
  "use strict";
  const cfg = JSON.parse(document.getElementById("sheet-config").textContent);
  const { apiFetch, paintDataStyles, el } = window.mlstrat;
  const $ = (id) => document.getElementById(id);

  const me = cfg.me;
  const state = { rows: cfg.rows, current: 0, pending: new Set() };
  const cols = cfg.query.cols && cfg.query.cols.length ? cfg.query.cols : null;
  const active = () => {
    const all = cfg.categories.filter((c) => !c.archived);
    return cols ? cols.map((id) => all.find((c) => c.id === id)).filter(Boolean) : all;
  };
  const catByKey = (key) => active().find((c) => c.key && c.key === key);
  const ticks = (row, id) => row.tags[String(id)] || [];

  // ------------------------------------------------------------ size, remembered per user
  const sizeKey = `mlstrat.gallery-size.${cfg.username}`;
  function setSize(size) {
    ["s", "m", "l"].forEach((s) => $("gallery").classList.toggle(`size-${s}`, s === size));
    document.querySelectorAll(".size-switch button").forEach((b) => b.setAttribute("aria-pressed", b.dataset.size === size ? "true" : "false"));
    try { localStorage.setItem(sizeKey, size); } catch (error) { /* private mode */ }
    document.querySelectorAll(".g-image img").forEach(pixelate);
  }
  document.querySelectorAll(".size-switch button").forEach((b) => b.addEventListener("click", () => setSize(b.dataset.size)));

  // An image smaller than its box is drawn with hard pixels, never smoothed.
  function pixelate(img) {
    if (!img.naturalWidth) return;
    const box = img.parentElement.getBoundingClientRect();
    const scale = Math.min(box.width / img.naturalWidth, box.height / img.naturalHeight);
    img.classList.toggle("pixelated", scale > 1);
  }

  // ------------------------------------------------------------ cards
  function renderTicks(row) {
    const box = el("div", { class: "g-ticks" });
    active().forEach((c) => {
      const all = ticks(row, c.id);
      const key = `${row.example}:${c.id}`;
      if (!all.length && !state.pending.has(key)) return;
      const on = all.includes(me);
      const others = all.filter((u) => u !== me).length;
      box.append(el("span", {
        class: "g-tick" + (on ? " on" : "") + (state.pending.has(key) ? " saving" : ""),
        "data-color": c.color, "data-category": c.id,
        title: `${c.name}: ${all.length} tick(s)` + (on ? ", yours included" : ""),
      }, c.name + (others ? ` +${others}` : "")));
    });
    return box;
  }

  function renderCard(row, index) {
    const conf = row.confidence === null ? "–" : row.confidence.toFixed(3);
    const img = el("img", { src: row.thumbnail, alt: `${row.example_id}, labeled ${row.label}`, loading: "lazy" });
    img.addEventListener("load", () => pixelate(img));
    const card = el("div", {
      class: "g-card" + (index === state.current ? " current" : ""), role: "gridcell",
      "data-index": index, "data-example": row.example, tabIndex: -1,
    },
    el("div", { class: "g-image" }, img),
    el("div", { class: "g-head" }, el("code", { text: row.example_id }),
      cfg.review !== null && reviewers(row).includes(me) ? el("span", { class: "badge badge-ok g-reviewed", text: "reviewed", title: "You marked it reviewed (0 takes it back)" }) : "",
      el("span", { class: "meta", text: conf })),
    el("div", { class: "g-labels" }, row.task ? el("span", { class: "badge task-badge", text: row.task }) : "", el("span", { class: "pill label-pill", text: row.label }), "→", el("span", { class: "pill pred-pill", text: row.prediction })),
    renderTicks(row));
    paintDataStyles(card);
    return card;
  }

  function render() {
    $("gallery").replaceChildren(...state.rows.map(renderCard));
    $("gallery-empty").classList.toggle("hidden", state.rows.length > 0);
  }
  function refresh(index) {
    const old = $("gallery").children[index];
    if (old) $("gallery").replaceChild(renderCard(state.rows[index], index), old);
  }

  // ------------------------------------------------------------ moving
  function perRow() {
    const cards = $("gallery").children;
    if (cards.length < 2) return 1;
    const top = cards[0].offsetTop;
    let n = 0;
    while (n < cards.length && cards[n].offsetTop === top) n += 1;
    return Math.max(1, n);
  }
  function move(delta) {
    if (!state.rows.length) return;
    const previous = state.current;
    state.current = Math.max(0, Math.min(state.rows.length - 1, state.current + delta));
    refresh(previous); refresh(state.current);
    const card = $("gallery").children[state.current];
    if (card) card.scrollIntoView({ block: "nearest" });
  }
  $("gallery").addEventListener("click", (event) => {
    const card = event.target.closest(".g-card");
    if (!card) return;
    const previous = state.current;
    state.current = Number(card.dataset.index);
    refresh(previous); refresh(state.current);
  });
  $("gallery").addEventListener("dblclick", (event) => { if (event.target.closest(".g-card")) openInSheet(); });

  function openInSheet() {
    const row = state.rows[state.current];
    if (!row) return;
    const url = new URL($("sheet-link").href, window.location.origin);
    url.searchParams.set("open", row.example);
    window.location.assign(url);
  }

  // ------------------------------------------------------------ ticks
  let toastTimer = null;
  function toast(message) {
    const t = $("toast");
    t.textContent = message;
    t.className = "toast error";
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => t.classList.add("hidden"), 5000);
  }
  async function send(index, category, on, proposedLabel) {
    const row = state.rows[index];
    const key = `${row.example}:${category.id}`;
    state.pending.add(key);
    refresh(index);
    const body = { action: on ? "set" : "clear", category: category.id, example: row.example };
    if (proposedLabel) body.proposed_label = proposedLabel;
    if (cfg.review !== null) body.review = cfg.review;  // a tick in a review marks it reviewed
    try {
      await apiFetch(cfg.api.tags, { method: "POST", body });
      const list = ticks(row, category.id).filter((u) => u !== me);
      if (on) list.push(me);
      row.tags[String(category.id)] = list;
      if (cfg.review !== null) markLocally(row, true);
    } catch (error) {
      toast(`Not saved: ${error.message}`);
    } finally {
      state.pending.delete(key);
      refresh(index);
    }
  }
  // Reviewed marks (in a review): 0 says "I looked, nothing applies" or takes it back.
  const reviewers = (row) => row.reviewed_by || [];
  function markLocally(row, reviewed) {
    const people = reviewers(row).filter((u) => u !== me);
    if (reviewed) people.push(me);
    row.reviewed_by = people;
  }
  async function toggleReviewed() {
    const row = state.rows[state.current];
    if (!row) return;
    if (cfg.review === null) { toast("Reviewed marks belong to a review: open one from the reviews page."); return; }
    const want = !reviewers(row).includes(me);
    try {
      await apiFetch(cfg.api.marks, { method: "POST", body: { action: want ? "set" : "clear", example: row.example } });
      markLocally(row, want);
    } catch (error) {
      toast(`Not saved: ${error.message}`);
    } finally {
      refresh(state.current);
    }
  }

  let labelTarget = null;
  function toggle(category) {
    const row = state.rows[state.current];
    if (!row) return;
    const on = !ticks(row, category.id).includes(me);
    if (on && category.builtin === "incorrect_label") {
      labelTarget = { index: state.current, category };
      $("label-context").textContent = `${row.example_id}: given “${row.label}”, predicted “${row.prediction}”.`;
      $("label-select").replaceChildren(...((cfg.taskClasses || {})[row.task] || cfg.classNames).filter((c) => c !== row.label)
        .map((c) => el("option", { value: c, text: c, selected: c === row.prediction })));
      $("label-dialog").showModal();
      return;
    }
    send(state.current, category, on);
  }
  $("label-form").addEventListener("submit", (event) => {
    event.preventDefault();
    $("label-dialog").close();
    if (labelTarget) send(labelTarget.index, labelTarget.category, true, $("label-select").value);
  });
  $("label-cancel").addEventListener("click", () => $("label-dialog").close());

  // ------------------------------------------------------------ keyboard
  document.addEventListener("keydown", (event) => {
    if (event.target.closest("input, textarea, select")) return;
    if ([...document.querySelectorAll("dialog")].some((d) => d.open)) return;
    if (event.metaKey || event.altKey || event.ctrlKey) return;
    const key = event.key;
    const handled = () => event.preventDefault();
    if (key === "j" || key === "ArrowRight") { handled(); move(1); }
    else if (key === "k" || key === "ArrowLeft") { handled(); move(-1); }
    else if (key === "ArrowDown") { handled(); move(perRow()); }
    else if (key === "ArrowUp") { handled(); move(-perRow()); }
    else if (key === "Enter") { handled(); openInSheet(); }
    else if (key === "0") { handled(); toggleReviewed(); }
    else if (key === "?") { handled(); renderHelpKeys(); $("help").showModal(); }
    else if (key.length === 1) {
      const category = catByKey(key.toLowerCase());
      if (category) { handled(); toggle(category); }
    }
  });
  function renderHelpKeys() {
    $("help-keys").replaceChildren(el("h3", { text: "Category keys" }), el("div", { class: "row" },
      active().filter((c) => c.key).map((c) => el("span", { class: "key-chip", "data-color": c.color }, el("kbd", { text: c.key }), ` ${c.name}`))));
    paintDataStyles($("help-keys"));
  }

  // ------------------------------------------------------------ filters and pages
  $("filters").addEventListener("change", () => {
    const form = new FormData($("filters"));
    const url = new URL(window.location.pathname, window.location.origin);
    for (const [k, v] of form.entries()) if (v) url.searchParams.set(k, v);
    if (cols) url.searchParams.set("cols", cols.join(","));
    window.location.assign(url);
  });
  function pagerLinks() {
    const url = new URL(window.location.href);
    const first = new URL(url); first.searchParams.delete("after");
    $("first-page").href = first.pathname + first.search;
    $("first-page").classList.toggle("hidden", !cfg.query.after);
    if (cfg.next) {
      const next = new URL(url); next.searchParams.set("after", cfg.next);
      $("next-page").href = next.pathname + next.search;
    } else {
      $("next-page").classList.add("hidden");
    }
    $("page-info").textContent = `${state.rows.length} example${state.rows.length === 1 ? "" : "s"} on this page` + (cfg.next ? " · more on the next page" : "");
  }

  // ------------------------------------------------------------ start
  let saved = "m";
  try { saved = localStorage.getItem(sizeKey) || "m"; } catch (error) { /* private mode */ }
  render();
  setSize(["s", "m", "l"].includes(saved) ? saved : "m");
  pagerLinks();
  window.mlstratGallery = { state };
})();
