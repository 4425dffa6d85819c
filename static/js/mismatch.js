// Data-mismatch pages: histograms per split (Chart.js), the review figures chart, a
// recipe's preview grid and job start, a job's progress bar. User text only reaches the
// DOM through textContent.
(function () {
  "use strict";
  const { apiFetch, paintDataStyles, el } = window.mlstrat;
  const $ = (id) => document.getElementById(id);
  const json = (id) => { const node = $(id); return node ? JSON.parse(node.textContent) : null; };
  const fmt = (v) => (v === null || v === undefined ? "—" : Math.abs(v) >= 100 ? Math.round(v).toLocaleString("en") : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2));
  const COLORS = { train: "#4e79a7", train_dev: "#76b7b2", dev: "#e15759", test: "#b07aa1" };

  document.querySelectorAll("select[data-autosubmit]").forEach((select) => {
    select.addEventListener("change", () => select.form.submit());
  });

  // ------------------------------------------------------------ comparison histograms
  const data = json("mismatch-data");
  if (data && window.Chart) {
    data.characteristics.forEach((c) => {
      const canvas = document.querySelector(`canvas.hist[data-characteristic="${c.name}"]`);
      if (!canvas) return;
      const centres = c.edges.slice(0, -1).map((e, i) => (e + c.edges[i + 1]) / 2);
      const datasets = Object.entries(c.splits).map(([split, counts]) => {
        const total = counts.reduce((a, b) => a + b, 0) || 1;
        return {
          label: data.splitNames[split], data: counts.map((n) => n / total), borderColor: COLORS[split],
          backgroundColor: "transparent", borderWidth: split === "dev" || split === "train" ? 2 : 1,
          pointRadius: 0, tension: 0.2, stepped: false,
        };
      });
      new window.Chart(canvas, {
        type: "line",
        data: { labels: centres.map(fmt), datasets },
        options: {
          responsive: false, animation: false,
          plugins: { legend: { display: false }, tooltip: { enabled: true, callbacks: { label: (ctx) => `${ctx.dataset.label}: ${(ctx.parsed.y * 100).toFixed(1)}%` } } },
          scales: { x: { display: false }, y: { display: false, beginAtZero: true } },
        },
      });
    });
  }

  // ------------------------------------------------------------ review figures
  const figures = json("figures-data");
  if (figures && window.Chart && $("figures-chart")) {
    const names = figures.categories.map((c) => c.name);
    const series = (side, color) => ({
      label: side, backgroundColor: color, data: figures.categories.map((c) => c[side][0]),
      intervals: figures.categories.map((c) => [c[side][1], c[side][2]]),
    });
    const whiskers = {
      id: "whiskers",
      afterDatasetsDraw(chart) {
        const ctx = chart.ctx;
        chart.data.datasets.forEach((dataset, di) => {
          chart.getDatasetMeta(di).data.forEach((bar, i) => {
            const iv = dataset.intervals[i];
            if (!iv || iv[0] === null) return;
            const y1 = chart.scales.y.getPixelForValue(iv[0]);
            const y2 = chart.scales.y.getPixelForValue(iv[1]);
            ctx.save(); ctx.strokeStyle = "#1d2330"; ctx.beginPath();
            ctx.moveTo(bar.x, y1); ctx.lineTo(bar.x, y2);
            ctx.moveTo(bar.x - 4, y1); ctx.lineTo(bar.x + 4, y1);
            ctx.moveTo(bar.x - 4, y2); ctx.lineTo(bar.x + 4, y2);
            ctx.stroke(); ctx.restore();
          });
        });
      },
    };
    new window.Chart($("figures-chart"), {
      type: "bar",
      data: { labels: names, datasets: [series("train", "#4e79a7"), series("dev", "#e15759")] },
      options: {
        maintainAspectRatio: false, animation: false,
        scales: { y: { beginAtZero: true, max: 1, ticks: { callback: (v) => `${Math.round(v * 100)}%` } } },
      },
      plugins: [whiskers],
    });
  }

  // ------------------------------------------------------------ recipe: preview and run
  const recipe = json("recipe-config");
  if (recipe) {
    const status = $("preview-status");
    const preview = $("preview");
    if (preview) {
      preview.addEventListener("click", async () => {
        preview.disabled = true;
        status.textContent = "Synthesizing a preview…";
        try {
          const result = await apiFetch(recipe.preview, { method: "POST", body: { count: 12, check: 100 } });
          $("preview-grid").replaceChildren(...result.entries.map((entry) => el("figure", { class: "preview-cell", "data-index": entry.index },
            el("div", { class: "pair" },
              el("img", { src: entry.source_thumbnail, alt: `source ${entry.source_example_id}`, title: "source" }),
              el("img", { src: entry.image, alt: `output ${entry.index}`, class: "output", title: "synthesized" })),
            el("figcaption", {}, el("strong", { text: `#${entry.index} ← ${entry.source_example_id} (${entry.label})` }),
              ...entry.transforms.map((step) => el("code", {
                text: `${step.applied ? "" : "skipped "}${step.name}(${Object.entries(step.params).map(([k, v]) => `${k}=${v}`).join(", ")})`,
              }))))));
          const body = $("preview-checks").querySelector("tbody");
          body.replaceChildren(...result.checks.map((c) => el("tr", { "data-characteristic": c.characteristic },
            el("td", { text: c.label }), el("td", { class: "num", text: c.ks_before.toFixed(2) }),
            el("td", { class: "num ks-after", text: c.ks_after.toFixed(2) }), el("td", { class: "num", text: fmt(c.median_before) }),
            el("td", { class: "num", text: fmt(c.median_after) }), el("td", { class: "num", text: fmt(c.median_dev) }))));
          $("preview-checks").classList.toggle("hidden", result.checks.length === 0);
          status.textContent = `${result.entries.length} outputs of ${result.pool_size} source examples; distances over ${result.checks.length ? result.checks[0].outputs : 0} outputs.`;
        } catch (error) {
          status.textContent = `No preview: ${error.message}`;
        } finally {
          preview.disabled = false;
        }
      });
    }
    const run = $("run-job");
    if (run) {
      run.addEventListener("click", async () => {
        run.disabled = true;
        try {
          const job = await apiFetch(recipe.jobs, { method: "POST" });
          window.location.href = recipe.jobPage.replace(/\/0\/$/, `/${job.id}/`);
        } catch (error) {
          status.textContent = `Not started: ${error.message}`;
          run.disabled = false;
        }
      });
    }
  }

  // ------------------------------------------------------------ job progress
  const job = json("job-config");
  if (job) {
    let finished = job.finished;
    const show = (data) => {
      $("job-status").textContent = data.status;
      $("job-done").textContent = String(data.done);
      $("job-bar").max = Math.max(data.total, 1);
      $("job-bar").value = data.done;
      $("job-message").textContent = data.message || "";
      if (data.is_finished && !finished) window.location.reload();
    };
    const poll = async () => {
      try { show(await apiFetch(job.job)); } catch (error) { $("job-message").textContent = error.message; }
      if (!finished) setTimeout(poll, 1000);
    };
    if (!finished) setTimeout(poll, 500);
    const act = (id, url) => {
      const button = $(id);
      if (!button) return;
      button.addEventListener("click", async () => {
        button.disabled = true;
        try { show(await apiFetch(url, { method: "POST" })); } catch (error) { $("job-message").textContent = error.message; }
        button.disabled = false;
      });
    };
    act("job-cancel", job.cancel);
    act("job-resume", job.resume);
  }
  paintDataStyles(document);
})();
