// Import page: show the new-dataset field only when asked. Job page: follow the job's
// progress every second through the API, then reload once to show the final result.
(function () {
  "use strict";

  function toggleNewDataset() {
    const choice = document.getElementById("dataset-choice");
    const field = document.getElementById("new-dataset-field");
    if (!choice || !field) return;
    const update = () => field.classList.toggle("hidden", choice.value !== "__new__");
    choice.addEventListener("change", update);
    update();
  }

  function setBar(root, name, value, max) {
    const bar = root.querySelector(`[data-bar="${name}"]`);
    if (bar) { bar.max = Math.max(max, 1); bar.value = value; }
  }

  function setText(root, selector, text) {
    const el = root.querySelector(selector);
    if (el) el.textContent = text;
  }

  function followJob() {
    const root = document.getElementById("import-job");
    if (!root || root.dataset.finished === "true") return;
    const status = document.querySelector("[data-job-status]");
    let timer = null;
    async function poll() {
      let job;
      try {
        job = await window.mlstrat.apiFetch(root.dataset.jobUrl);
      } catch (error) {
        setText(root, "[data-job-message]", `Could not read the job's state: ${error.message}`);
        timer = setTimeout(poll, 3000);
        return;
      }
      const total = job.rows_total || 0;
      setBar(root, "validated", job.rows_validated, total);
      setBar(root, "written", job.rows_written, total);
      setBar(root, "thumbnails", job.thumbnails_done, job.thumbnails_total);
      setText(root, '[data-count="validated"]', total ? `${job.rows_validated} / ${total}` : `${job.rows_validated}`);
      setText(root, '[data-count="written"]', `${job.rows_written}`);
      const failed = job.thumbnails_failed ? ` · ${job.thumbnails_failed} failed` : "";
      setText(root, '[data-count="thumbnails"]', `${job.thumbnails_done} / ${job.thumbnails_total}${failed}`);
      if (status) status.textContent = job.status === "thumbnails" ? "making thumbnails" : job.status;
      if (job.message) setText(root, "[data-job-message]", job.message);
      if (job.is_finished) {
        window.location.reload();
        return;
      }
      timer = setTimeout(poll, 1000);
    }
    timer = setTimeout(poll, 300);
    window.addEventListener("beforeunload", () => clearTimeout(timer));
  }

  document.addEventListener("DOMContentLoaded", () => {
    toggleNewDataset();
    followJob();
  });
})();
