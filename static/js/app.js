// Shared helpers for every page: CSRF for fetch and htmx, small DOM utilities.
(function () {
  "use strict";
  const csrf = () => document.querySelector('meta[name="csrf-token"]').content;

  // Send JSON to our own API with the session's CSRF token; reject with the server's reason.
  async function apiFetch(url, options = {}) {
    const headers = Object.assign(
      { "X-CSRFToken": csrf(), Accept: "application/json" },
      options.body && !(options.body instanceof FormData) ? { "Content-Type": "application/json" } : {},
      options.headers || {}
    );
    const body = options.body && !(options.body instanceof FormData) && typeof options.body !== "string"
      ? JSON.stringify(options.body) : options.body;
    const response = await fetch(url, Object.assign({}, options, { headers, body, credentials: "same-origin" }));
    const text = await response.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (e) { data = { detail: text.slice(0, 200) }; }
    if (!response.ok) {
      const reason = data && (data.detail || JSON.stringify(data)) || response.statusText;
      const error = new Error(reason);
      error.status = response.status; error.data = data;
      throw error;
    }
    return data;
  }

  // Colours and widths come from data-* attributes (the CSP forbids inline styles).
  function paintDataStyles(root) {
    (root || document).querySelectorAll("[data-color]").forEach((el) => {
      el.style.setProperty("--cat-color", el.dataset.color);
    });
    (root || document).querySelectorAll("[data-width]").forEach((el) => {
      el.style.width = el.dataset.width;
    });
  }

  document.addEventListener("htmx:configRequest", (event) => {
    event.detail.headers["X-CSRFToken"] = csrf();
  });
  document.addEventListener("htmx:afterSwap", (event) => paintDataStyles(event.target));
  document.addEventListener("DOMContentLoaded", () => paintDataStyles(document));
  // A form that destroys something asks first (its data-confirm says what goes).
  document.addEventListener("submit", (event) => {
    const form = event.target.closest("form[data-confirm]");
    if (form && !window.confirm(form.dataset.confirm)) event.preventDefault();
  });

  // Builds an element: attrs "class" and "text" are the obvious, data-* and aria-* are
  // attributes, a known property (onclick, href, value...) is set as such, the rest are
  // attributes; children are nodes or text (never parsed as HTML).
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => {
      if (v === null || v === undefined || v === false) return;
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else if (k.startsWith("data-") || k.startsWith("aria-")) node.setAttribute(k, v);
      else if (k in node) node[k] = v;
      else node.setAttribute(k, v);
    });
    children.flat().forEach((c) => node.append(c instanceof Node ? c : document.createTextNode(String(c))));
    return node;
  }

  window.mlstrat = { apiFetch, paintDataStyles, csrf, el };
})();
