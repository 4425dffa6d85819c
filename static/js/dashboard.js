// Dashboards: charts (Chart.js), the confusion heatmap, and refreshing when a worker
// has recomputed the figures. Labels come from user data: they only ever reach the DOM
// through textContent, and Chart.js draws them on canvas.
(function () {
  "use strict";

  const INK = "#1d2330";
  const pct = (v, digits) => (v === null || v === undefined ? "n/a" : (v * 100).toFixed(digits === undefined ? 1 : digits) + "%");
  const charts = [];
  let pollSoon = () => {};

  // A fill that reads without colour: each series gets its own hatching.
  function pattern(color, kind) {
    const size = 10;
    const tile = document.createElement("canvas");
    tile.width = tile.height = size;
    const c = tile.getContext("2d");
    c.fillStyle = color;
    c.fillRect(0, 0, size, size);
    c.strokeStyle = "rgba(255,255,255,.75)";
    c.fillStyle = "rgba(255,255,255,.75)";
    c.lineWidth = 2;
    if (kind === "diagonal") { c.beginPath(); c.moveTo(0, size); c.lineTo(size, 0); c.stroke(); }
    if (kind === "cross") { c.beginPath(); c.moveTo(0, size / 2); c.lineTo(size, size / 2); c.moveTo(size / 2, 0); c.lineTo(size / 2, size); c.stroke(); }
    if (kind === "dots") { c.beginPath(); c.arc(size / 2, size / 2, 1.8, 0, Math.PI * 2); c.fill(); }
    if (kind === "vertical") { c.beginPath(); c.moveTo(size / 2, 0); c.lineTo(size / 2, size); c.stroke(); }
    return c.createPattern(tile, "repeat");
  }

  // Chart.js plugin: 95% interval whiskers and the value printed beside each bar.
  const whiskers = {
    id: "whiskers",
    afterDatasetsDraw(chart, args, options) {
      const ctx = chart.ctx;
      const x = chart.scales.x;
      chart.data.datasets.forEach((dataset, di) => {
        const intervals = dataset.intervals;
        if (!intervals) return;
        chart.getDatasetMeta(di).data.forEach((bar, i) => {
          const iv = intervals[i];
          if (!iv || iv.low === null) return;
          const lo = x.getPixelForValue(iv.low * 100);
          const hi = x.getPixelForValue(iv.high * 100);
          const y = bar.y;
          ctx.save();
          ctx.strokeStyle = INK;
          ctx.lineWidth = 1.5;
          ctx.beginPath();
          ctx.moveTo(lo, y); ctx.lineTo(hi, y);
          ctx.moveTo(lo, y - 5); ctx.lineTo(lo, y + 5);
          ctx.moveTo(hi, y - 5); ctx.lineTo(hi, y + 5);
          ctx.stroke();
          ctx.fillStyle = INK;
          ctx.font = "12px system-ui, sans-serif";
          ctx.textBaseline = "middle";
          ctx.fillText(pct(iv.share, 0) + "  [" + pct(iv.low, 0) + "–" + pct(iv.high, 0) + "]  " + iv.k + "/" + iv.n, Math.max(hi, bar.x) + 8, y);
          ctx.restore();
        });
      });
    },
  };

  // Chart.js plugin: each stacked segment says what it is and how much.
  const segmentLabels = {
    id: "segmentLabels",
    afterDatasetsDraw(chart) {
      const ctx = chart.ctx;
      chart.data.datasets.forEach((dataset, di) => {
        const meta = chart.getDatasetMeta(di);
        if (meta.hidden) return;
        meta.data.forEach((bar) => {
          const width = Math.abs(bar.x - bar.base);
          const text = dataset.label + " " + dataset.printed;
          ctx.save();
          ctx.font = "600 12px system-ui, sans-serif";
          ctx.textAlign = "center";
          ctx.textBaseline = "middle";
          const fits = ctx.measureText(text).width + 8 < width;
          const mid = (bar.x + bar.base) / 2;
          if (fits) {
            ctx.fillStyle = "#fff";
            ctx.strokeStyle = "rgba(0,0,0,.55)";
            ctx.lineWidth = 3;
            ctx.strokeText(text, mid, bar.y);
            ctx.fillText(text, mid, bar.y);
          } else if (width > 2) {
            ctx.fillStyle = INK;
            ctx.font = "11px system-ui, sans-serif";
            ctx.fillText(dataset.printed, mid, bar.y + (di % 2 ? 26 : -26));
          }
          ctx.restore();
        });
      });
    },
  };

  function decompositionChart(data) {
    const canvas = document.getElementById("decomposition-chart");
    if (!canvas || !data.decomposition) return;
    const d = data.decomposition;
    const styles = {
      human: ["#8c96a8", "dots"],
      avoidable_bias: ["#d1495b", "diagonal"],
      variance: ["#edae49", "cross"],
      data_mismatch: ["#00798c", "vertical"],
      overfitting_dev: ["#5c4d7d", "diagonal"],
    };
    const series = [{ key: "human", name: "Human level", value: d.levels.human }].concat(
      d.terms.map((t) => ({ key: t.key, name: t.name, value: t.value }))
    );
    const datasets = series
      .filter((s) => s.value !== null && s.value !== undefined)
      .map((s) => ({
        label: s.name,
        printed: (data.printed[s.key] || pct(s.value)) + (s.value < 0 ? " (negative)" : ""),
        data: [Math.max(0, s.value) * 100],
        backgroundColor: pattern(styles[s.key][0], styles[s.key][1]),
        borderColor: s.key === d.largest ? INK : "#fff",
        borderWidth: s.key === d.largest ? 3 : 1,
      }));
    charts.push(new Chart(canvas, {
      type: "bar",
      data: { labels: ["error"], datasets },
      options: {
        indexAxis: "y",
        maintainAspectRatio: false,
        animation: false,
        scales: {
          x: { stacked: true, beginAtZero: true, title: { display: true, text: "error, % (stacked up to the highest split measured)" }, ticks: { callback: (v) => v + "%" } },
          y: { stacked: true, display: false },
        },
        plugins: {
          legend: { position: "bottom", labels: { usePointStyle: false, color: INK } },
          tooltip: { callbacks: { label: (item) => item.dataset.label + ": " + item.dataset.printed } },
        },
      },
      plugins: [segmentLabels],
    }));
  }

  function sharesChart(data) {
    const canvas = document.getElementById("shares-chart");
    if (!canvas || !data.review) return;
    const categories = data.review.categories;
    const box = document.getElementById("shares-chart-box");
    box.style.setProperty("height", (categories.length * 30 + 60) + "px");
    charts.push(new Chart(canvas, {
      type: "bar",
      data: {
        labels: categories.map((c) => c.name),
        datasets: [{
          label: "share of reviewed errors",
          data: categories.map((c) => (c.share === null ? 0 : c.share * 100)),
          intervals: categories.map((c) => ({ share: c.share, low: c.share_low, high: c.share_high, k: c.k, n: c.n })),
          // Each category in its own colour, as on the sheet and in runs compared.
          backgroundColor: categories.map((c) => pattern(c.color || "#3557d6", "diagonal")),
          borderColor: categories.map((c) => c.color || "#2946b8"),
          borderWidth: 1,
          barPercentage: 0.7,
        }],
      },
      options: {
        indexAxis: "y",
        maintainAspectRatio: false,
        animation: false,
        layout: { padding: { right: 150 } },
        scales: {
          x: { min: 0, max: 100, title: { display: true, text: "share of reviewed errors, % (whiskers: 95% interval)" }, ticks: { callback: (v) => v + "%" } },
          y: { ticks: { color: INK } },
        },
        plugins: {
          legend: { display: false },
          tooltip: { callbacks: { label: (item) => { const iv = item.dataset.intervals[item.dataIndex]; return pct(iv.share) + " (95% " + pct(iv.low) + "–" + pct(iv.high) + "), " + iv.k + " of " + iv.n; } } },
        },
      },
      plugins: [whiskers],
    }));
  }

  // Reliability diagram: each confidence bin's accuracy at its mean confidence, against the
  // diagonal a perfectly calibrated model would follow; points sized by predictions.
  function reliabilityChart(data) {
    const canvas = document.getElementById("reliability-chart");
    if (!canvas || !data.calibration) return;
    const bins = data.calibration.bins.filter((b) => b.n);
    const largest = Math.max(...bins.map((b) => b.n));
    charts.push(new Chart(canvas, {
      type: "scatter",
      data: {
        datasets: [
          {
            label: "accuracy per confidence bin (" + data.split + ")",
            data: bins.map((b) => ({ x: b.confidence * 100, y: b.accuracy * 100, bin: b })),
            showLine: true,
            borderColor: "#3557d6",
            backgroundColor: "#3557d6",
            pointStyle: "rectRot",
            pointRadius: bins.map((b) => 4 + 8 * Math.sqrt(b.n / largest)),
          },
          {
            label: "perfect calibration",
            data: [{ x: 0, y: 0 }, { x: 100, y: 100 }],
            showLine: true,
            borderColor: "#8c96a8",
            borderDash: [6, 4],
            pointRadius: 0,
          },
        ],
      },
      options: {
        maintainAspectRatio: false,
        animation: false,
        scales: {
          x: { min: 0, max: 100, title: { display: true, text: "mean confidence in the bin, %" }, ticks: { callback: (v) => v + "%" } },
          y: { min: 0, max: 100, title: { display: true, text: "accuracy in the bin, %" }, ticks: { callback: (v) => v + "%" } },
        },
        plugins: {
          legend: { position: "bottom", labels: { color: INK } },
          tooltip: { callbacks: { label: (item) => {
            const b = item.raw.bin;
            if (!b) return item.dataset.label;
            return "confidence " + b.low.toFixed(1) + "–" + b.high.toFixed(1) + ": accuracy " + pct(b.accuracy) + " at mean confidence " + pct(b.confidence) + " (" + b.n + " predictions)";
          } } },
        },
      },
    }));
  }

  // Confidence of right and wrong predictions, side by side per bin.
  function confidenceChart(data) {
    const canvas = document.getElementById("confidence-chart");
    if (!canvas || !data.calibration) return;
    const bins = data.calibration.bins;
    charts.push(new Chart(canvas, {
      type: "bar",
      data: {
        labels: bins.map((b) => b.low.toFixed(1) + "–" + b.high.toFixed(1)),
        datasets: [
          { label: "right", data: bins.map((b) => b.correct), backgroundColor: pattern("#1f8a4c", "dots") },
          { label: "wrong", data: bins.map((b) => b.wrong), backgroundColor: pattern("#d1495b", "diagonal") },
        ],
      },
      options: {
        maintainAspectRatio: false,
        animation: false,
        scales: {
          x: { title: { display: true, text: "confidence (" + data.split + ")" } },
          y: { beginAtZero: true, title: { display: true, text: "predictions" } },
        },
        plugins: { legend: { position: "bottom", labels: { color: INK } } },
      },
    }));
  }

  // Heatmap: shade each cell by its share of the row; the numbers are printed too.
  function paintMatrix(root) {
    root.querySelectorAll("#confusion td.cell").forEach((td) => {
      const share = parseFloat(td.dataset.share) || 0;
      const hue = td.classList.contains("diag") ? "53, 87, 214" : "209, 73, 91";
      td.style.setProperty("background-color", "rgba(" + hue + "," + (0.08 + share * 0.85).toFixed(3) + ")");
      if (share > 0.55) td.classList.add("dark");
    });
  }

  function autosubmit(root) {
    root.querySelectorAll("select[data-autosubmit]").forEach((select) => {
      select.addEventListener("change", () => select.form.submit());
    });
  }

  function recomputeButton(root) {
    const button = root.querySelector("#recompute");
    if (!button) return;
    button.addEventListener("click", async () => {
      button.disabled = true;
      const badge = root.querySelector("#stale-badge");
      try {
        await window.mlstrat.apiFetch(button.dataset.url, { method: "POST" });
        root.dataset.stale = "1";
        if (badge) { badge.textContent = "recomputing…"; badge.className = "badge badge-warn"; }
        pollSoon();
      } catch (error) {
        if (badge) badge.textContent = "could not ask for a recompute: " + error.message;
        button.disabled = false;
      }
    });
  }

  function init(root) {
    charts.splice(0).forEach((chart) => chart.destroy());
    recomputeButton(root);
    paintMatrix(root);
    autosubmit(root);
    window.mlstrat.paintDataStyles(root);
    const node = document.getElementById("dashboard-data");
    if (node && window.Chart) {
      const data = JSON.parse(node.textContent);
      decompositionChart(data);
      sharesChart(data);
      reliabilityChart(data);
      confidenceChart(data);
    }
  }

  // Refresh: poll the figures; when a worker stored newer ones, re-render the page in place.
  function watch() {
    const root = document.getElementById("dashboard");
    if (!root || !root.dataset.statusUrl) return;
    const delay = () => (document.getElementById("dashboard").dataset.stale === "1" ? 3000 : 15000);
    async function tick() {
      try {
        const current = document.getElementById("dashboard");
        const figures = await window.mlstrat.apiFetch(current.dataset.statusUrl);
        const asOf = figures.as_of || "";
        const stale = figures.stale ? "1" : "0";
        if (asOf !== current.dataset.asOf || stale !== current.dataset.stale) {
          const response = await fetch(window.location.href, { credentials: "same-origin" });
          const doc = new DOMParser().parseFromString(await response.text(), "text/html");
          const fresh = doc.getElementById("dashboard");
          const next = fresh && document.importNode(fresh, true);
          if (next) {
            current.replaceWith(next);
            init(next);
          }
        }
      } catch (error) {
        const badge = document.getElementById("stale-badge");
        if (badge) badge.textContent = "could not refresh: " + error.message;
      }
      timer = window.setTimeout(tick, delay());
    }
    let timer = window.setTimeout(tick, delay());
    pollSoon = () => { window.clearTimeout(timer); timer = window.setTimeout(tick, 500); };
  }

  // Runs compared: one line per series over the runs, oldest to newest, printed with the
  // table's precision (0.1%).
  function runsLineChart(canvas, runs, datasets, yTitle) {
    charts.push(new Chart(canvas, {
      type: "line",
      data: { labels: runs, datasets },
      options: {
        maintainAspectRatio: false,
        animation: false,
        scales: { y: { beginAtZero: true, title: { display: true, text: yTitle }, ticks: { callback: (v) => v + "%" } } },
        plugins: {
          legend: { position: "bottom", labels: { usePointStyle: true, color: INK } },
          tooltip: { callbacks: { label: (item) => item.dataset.label + ": " + item.parsed.y.toFixed(1) + "%" } },
        },
      },
    }));
  }
  const asPercent = (values) => values.map((v) => (v === null ? null : v * 100));

  // The trend of each split's error.
  function trendChart() {
    const canvas = document.getElementById("trend-chart");
    const node = document.getElementById("compare-data");
    if (!canvas || !node || !window.Chart) return;
    const data = JSON.parse(node.textContent);
    const styles = {
      train: ["#d1495b", "circle", []],
      train_dev: ["#edae49", "triangle", [6, 4]],
      dev: ["#3557d6", "rect", []],
      test: ["#5c4d7d", "star", [2, 3]],
    };
    const names = { train: "train", train_dev: "train-dev", dev: "dev", test: "test" };
    const datasets = Object.keys(styles)
      .filter((split) => data.splits[split].some((v) => v !== null))
      .map((split) => ({
        label: names[split] + " error",
        data: asPercent(data.splits[split]),
        borderColor: styles[split][0],
        backgroundColor: styles[split][0],
        pointStyle: styles[split][1],
        pointRadius: 6,
        borderDash: styles[split][2],
        spanGaps: true,
      }));
    runsLineChart(canvas, data.runs, datasets, "error, %");
  }

  // Each category's share of reviewed errors in each run's reference review, in the
  // category's own colour.
  function categoryTrendChart() {
    const canvas = document.getElementById("category-trend-chart");
    const node = document.getElementById("compare-data");
    if (!canvas || !node || !window.Chart) return;
    const data = JSON.parse(node.textContent);
    const kinds = ["circle", "triangle", "rect", "rectRot", "star", "crossRot"];
    const datasets = data.categories.map((c, i) => ({
      label: c.name,
      data: asPercent(c.shares),
      borderColor: c.color,
      backgroundColor: c.color,
      pointStyle: kinds[i % kinds.length],
      pointRadius: 5,
      borderDash: i % 2 ? [6, 4] : [],
      spanGaps: true,
    }));
    runsLineChart(canvas, data.runs, datasets, "share of reviewed errors, %");
  }

  document.addEventListener("DOMContentLoaded", () => {
    const root = document.getElementById("dashboard");
    if (root) { init(root); watch(); } else { autosubmit(document); }
    trendChart();
    categoryTrendChart();
  });
})();
