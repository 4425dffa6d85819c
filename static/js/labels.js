// Label corrections pages: auto-submitting filters, and the review queue's keyboard
// (j/k move between pending proposals, a accept, r reject, e edit the label to accept).
(function () {
  "use strict";

  document.querySelectorAll("select[data-autosubmit]").forEach((select) => {
    select.addEventListener("change", () => select.form.submit());
  });

  const rows = Array.from(document.querySelectorAll(".proposal[data-pending]"));
  if (!rows.length) return;
  let current = -1;

  function select(index) {
    if (!rows.length) return;
    index = Math.max(0, Math.min(rows.length - 1, index));
    if (rows[current]) rows[current].classList.remove("current");
    current = index;
    rows[current].classList.add("current");
    rows[current].focus({ preventScroll: true });
    rows[current].scrollIntoView({ block: "nearest", behavior: "smooth" });
  }

  // After a decision the page comes back to the same position (#at-N).
  const at = /^#at-(\d+)$/.exec(window.location.hash);
  select(at ? parseInt(at[1], 10) : 0);

  rows.forEach((row, index) => {
    row.addEventListener("click", () => { if (index !== current) select(index); });
    const form = row.querySelector("form.decide");
    if (!form) return;
    // After picking another label, keys act again: press a to accept it.
    const edit = form.querySelector("select[data-edit]");
    if (edit) edit.addEventListener("change", () => row.focus({ preventScroll: true }));
    form.addEventListener("submit", () => {
      const back = form.querySelector("input[name=back]");
      if (back) back.value = back.value.split("#")[0] + "#at-" + index;
    });
  });

  function press(key) {
    const row = rows[current];
    if (!row) return false;
    if (key === "e") {
      const edit = row.querySelector("select[data-edit]");
      if (edit) { edit.focus(); if (edit.showPicker) { try { edit.showPicker(); } catch (e) { /* not allowed */ } } }
      return true;
    }
    const button = row.querySelector(`button[data-key="${key}"]`);
    if (button) { button.click(); return true; }
    return false;
  }

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const typing = event.target.closest("input, textarea, select");
    if (typing) {
      if (event.key === "Escape") { event.target.blur(); rows[current] && rows[current].focus(); }
      return;
    }
    let handled = false;
    if (event.key === "j") { select(current + 1); handled = true; }
    else if (event.key === "k") { select(current - 1); handled = true; }
    else if (["a", "r", "e"].includes(event.key)) { handled = press(event.key); }
    if (handled) event.preventDefault();
  });

  document.querySelectorAll(".proposal button[data-key=e]").forEach((button) => {
    button.addEventListener("click", () => {
      const row = button.closest(".proposal");
      select(rows.indexOf(row));
      press("e");
    });
  });
})();
