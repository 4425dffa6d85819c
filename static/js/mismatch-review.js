// The train-vs-dev review sheet: keyboard first like the error sheet (j/k, category keys,
// 0 = nothing applies, Enter = large view, ? = help). Every write goes to the API.
(function () {
  "use strict";
  const cfg = JSON.parse(document.getElementById("char-config").textContent);
  const { apiFetch, paintDataStyles, el } = window.mlstrat;
  const $ = (id) => document.getElementById(id);
  const state = { rows: cfg.rows, current: 0, progress: cfg.progress, busy: new Set() };
  const me = cfg.me;
  const catByKey = (key) => cfg.categories.find((c) => c.key && c.key === key);

  function toast(message) {
    const box = $("toast");
    box.textContent = message;
    box.classList.remove("hidden");
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => box.classList.add("hidden"), 4000);
  }

  function renderHead() {
    const tr = el("tr", {},
      el("th", { class: "col-num", scope: "col", text: "#" }),
      el("th", { class: "col-thumb", scope: "col", text: "Image" }),
      cfg.blind ? "" : el("th", { class: "col-split", scope: "col", text: "Split" }));
    cfg.categories.forEach((c) => tr.append(el("th", {
      class: "col-cat", scope: "col", "data-color": c.color, title: c.description || c.name,
    }, el("span", { class: "cat-name", text: c.name }), c.key ? el("kbd", { text: c.key }) : "")));
    tr.append(el("th", { class: "col-cat col-nothing", scope: "col", title: "Nothing applies" },
      el("span", { class: "cat-name", text: "Nothing" }), el("kbd", { text: "0" })));
    $("char-head").replaceChildren(tr);
    paintDataStyles($("char-head"));
  }

  const mineOn = (row, catId) => (row.ticks[String(catId)] || []).includes(me);
  const nothingMine = (row) => row.nothing.includes(me);

  function renderRow(row, index) {
    const tr = el("tr", { "data-item": row.item, "data-index": index });
    if (index === state.current) tr.classList.add("current");
    if (nothingMine(row) || cfg.categories.some((c) => mineOn(row, c.id))) tr.classList.add("reviewed");
    tr.append(
      el("td", { class: "col-num meta", text: row.position }),
      el("td", { class: "col-thumb" }, el("button", { type: "button", class: "thumb", title: "Large view (Enter)" },
        el("img", { src: row.thumbnail, alt: `example ${row.position}`, loading: "lazy", width: 64, height: 64, class: "pixelated" }))));
    if (!cfg.blind) tr.append(el("td", { class: "col-split" }, el("span", { class: `pill split-${row.split}`, text: row.split }), row.source ? el("div", { class: "meta", text: row.source }) : ""));
    cfg.categories.forEach((c) => {
      const on = mineOn(row, c.id);
      const others = (row.ticks[String(c.id)] || []).filter((u) => u !== me).length;
      const td = el("td", { class: "cat-cell" + (on ? " on" : ""), "data-category": c.id, "data-color": c.color },
        el("input", { type: "checkbox", class: "tick", checked: on, tabIndex: -1, "aria-label": `${c.name} on example ${row.position}` }),
        others ? el("span", { class: "others", text: `+${others}` }) : "");
      tr.append(td);
    });
    const nothing = nothingMine(row);
    tr.append(el("td", { class: "cat-cell nothing-cell" + (nothing ? " on" : ""), "data-nothing": "1" },
      el("input", { type: "checkbox", class: "tick", checked: nothing, tabIndex: -1, "aria-label": `Nothing applies to example ${row.position}` })));
    paintDataStyles(tr);
    return tr;
  }

  function renderBody() {
    $("char-body").replaceChildren(...state.rows.map(renderRow));
  }

  function refreshRow(index) {
    const body = $("char-body");
    body.replaceChild(renderRow(state.rows[index], index), body.children[index]);
  }

  function renderProgress() {
    const reviewed = state.rows.filter((r) => r.nothing.length || Object.values(r.ticks).some((u) => u.length)).length;
    const mine = state.rows.filter((r) => nothingMine(r) || cfg.categories.some((c) => mineOn(r, c.id))).length;
    $("progress-text").textContent = `reviewed ${reviewed} of ${state.rows.length}`;
    $("progress-mine").textContent = `· you: ${mine}`;
    $("progress-bar").max = Math.max(state.rows.length, 1);
    $("progress-bar").value = reviewed;
  }

  function move(to) {
    if (!state.rows.length) return;
    const old = state.current;
    state.current = Math.max(0, Math.min(state.rows.length - 1, to));
    const body = $("char-body");
    if (body.children[old]) body.children[old].classList.remove("current");
    const row = body.children[state.current];
    row.classList.add("current");
    row.scrollIntoView({ block: "nearest" });
    if ($("large-view").open) openLarge();
  }

  async function toggle(index, category) {
    const row = state.rows[index];
    const key = `${row.item}:${category ? category.id : 0}`;
    if (state.busy.has(key)) return;
    state.busy.add(key);
    try {
      if (category) {
        const on = !mineOn(row, category.id);
        await apiFetch(cfg.api.ticks, { method: "POST", body: { item: row.item, category: category.id, on } });
        const users = (row.ticks[String(category.id)] || []).filter((u) => u !== me);
        row.ticks[String(category.id)] = on ? users.concat([me]) : users;
        if (on) row.nothing = row.nothing.filter((u) => u !== me);
      } else {
        const on = !nothingMine(row);
        await apiFetch(cfg.api.nothing, { method: "POST", body: { item: row.item, on } });
        row.nothing = on ? row.nothing.filter((u) => u !== me).concat([me]) : row.nothing.filter((u) => u !== me);
        if (on) Object.keys(row.ticks).forEach((k) => { row.ticks[k] = row.ticks[k].filter((u) => u !== me); });
      }
      refreshRow(index);
      renderProgress();
    } catch (error) {
      toast(`Not saved: ${error.message}`);
    } finally {
      state.busy.delete(key);
    }
  }

  function openLarge() {
    const row = state.rows[state.current];
    $("lv-image").src = row.image;
    $("lv-title").textContent = cfg.blind ? `Example ${row.position}` : `Example ${row.position} · ${row.split}${row.source ? " · " + row.source : ""}`;
    if (!$("large-view").open) $("large-view").showModal();
  }

  function renderHelpKeys() {
    $("help-keys").replaceChildren(el("h3", { text: "Categories" }), el("table", { class: "shortcuts" },
      ...cfg.categories.filter((c) => c.key).map((c) => el("tr", {}, el("td", {}, el("kbd", { text: c.key })), el("td", { text: c.name })))));
  }

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.target.matches("input[type=text], input[type=number], textarea, select")) return;
    const key = event.key;
    if (key === "?") { event.preventDefault(); $("help").showModal(); return; }
    if (key === "j" || key === "ArrowDown") { event.preventDefault(); move(state.current + 1); return; }
    if (key === "k" || key === "ArrowUp") { event.preventDefault(); move(state.current - 1); return; }
    if (key === "Enter") {
      event.preventDefault();
      if ($("large-view").open) $("large-view").close(); else openLarge();
      return;
    }
    if (key === "0") { event.preventDefault(); toggle(state.current, null); return; }
    const category = catByKey(key);
    if (category) { event.preventDefault(); toggle(state.current, category); }
  });

  $("char-body").addEventListener("click", (event) => {
    const tr = event.target.closest("tr");
    if (!tr) return;
    const index = Number(tr.dataset.index);
    const cell = event.target.closest("td.cat-cell");
    if (event.target.closest(".thumb")) { move(index); openLarge(); return; }
    if (cell) {
      event.preventDefault();
      state.current = index;
      if (cell.dataset.nothing) toggle(index, null);
      else toggle(index, cfg.categories.find((c) => c.id === Number(cell.dataset.category)));
      return;
    }
    move(index);
  });
  $("show-help").addEventListener("click", () => $("help").showModal());
  $("lv-close").addEventListener("click", () => $("large-view").close());

  renderHead();
  renderBody();
  renderProgress();
  renderHelpKeys();
})();
