// leadworker dashboard: live job status over the event stream (EventSource), no reloads. Everything written
// into the page here is text (textContent), never markup, except the leads section, which is fetched as HTML
// rendered (and escaped) by the server.
"use strict";

(function () {
  var STATUSES = ["queued", "running", "retrying", "completed", "failed", "cancelled"];
  var ACTIVE = ["queued", "running", "retrying"];

  function all(selector, root) {
    return Array.prototype.slice.call((root || document).querySelectorAll(selector));
  }

  function setText(selector, value) {
    all(selector).forEach(function (el) { el.textContent = value === null || value === undefined ? "" : String(value); });
  }

  function setStatus(jobId, status) {
    all('[data-job-status="' + jobId + '"]').forEach(function (el) {
      el.textContent = status;
      STATUSES.forEach(function (s) { el.classList.remove("s-" + s); });
      el.classList.add("s-" + status);
    });
  }

  function when(iso) {
    var d = new Date(iso);
    return isNaN(d) ? String(iso || "") : d.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
  }

  function cell(row, text, className) {
    var td = document.createElement("td");
    if (className) { td.className = className; }
    td.textContent = text === null || text === undefined ? "" : String(text);
    row.appendChild(td);
    return td;
  }

  function appendTimeline(data, id) {
    var body = document.querySelector("#timeline tbody");
    if (!body || (id && body.querySelector('[data-event-id="' + id + '"]'))) { return; }
    var row = document.createElement("tr");
    if (id) { row.setAttribute("data-event-id", id); }
    cell(row, when(data.at), "t");
    cell(row, data.from_status);
    var to = cell(row, "");
    var badge = document.createElement("span");
    badge.className = "status s-" + data.to_status;
    badge.textContent = data.to_status;
    to.appendChild(badge);
    cell(row, data.attempts, "num");
    cell(row, data.worker);
    cell(row, data.error, "reason");
    body.appendChild(row);
  }

  function refreshLeads(page) {
    var url = page.getAttribute("data-leads-part");
    var section = document.getElementById("job-leads");
    if (!url || !section) { return; }
    fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) { if (html !== null) { section.innerHTML = html; } })
      .catch(function () { /* the next event tries again */ });
  }

  function setButtons(status) {
    all('form[action$="/cancel"] button').forEach(function (b) { b.disabled = ACTIVE.indexOf(status) < 0; });
    all('form[action$="/retry"] button').forEach(function (b) { b.disabled = ["failed", "cancelled"].indexOf(status) < 0; });
  }

  function onJobPage(page, name, data, id) {
    setStatus(data.job_id, name);
    setText("#job-attempts", data.attempts);
    ["pages", "found", "new", "duplicates"].forEach(function (k) { if (k in data) { setText('[data-count="' + k + '"]', data[k]); } });
    var error = document.getElementById("job-error");
    if (error) { error.textContent = data.error || ""; error.hidden = !data.error; }
    setButtons(name);
    appendTimeline(data, id);
    if (name === "completed") { refreshLeads(page); }
  }

  function onProgress(page, data) {
    setText('[data-progress="normalized"]', data.normalized);
    setText('[data-progress="scored"]', data.scored);
    setText('[data-progress="enriched_at"]', data.enriched_at ? "yes" : "not yet");
    var bar = document.getElementById("enrich-progress");
    if (bar && typeof data.scored === "number") { bar.value = data.scored; }
    refreshLeads(page);
  }

  var arriving = {};  // job id -> its latest event while its row is being fetched
  var liveRowsLeft = 50;  // the jobs list's page size

  function addRow(table, name, data) {
    // A new job (its first event) on the unfiltered first page: its row, rendered (and escaped) by the
    // server, goes on top; events that come while it is fetched are applied once it is there.
    var id = data.job_id;
    if (id in arriving) { arriving[id] = [name, data]; return; }
    // A page's worth at most: a publish of thousands of jobs must not cost each open list thousands of
    // requests and rows; past that, the note offers the fresh list.
    if (liveRowsLeft <= 0) { showNote(); return; }
    liveRowsLeft -= 1;
    arriving[id] = null;
    fetch("/jobs/" + encodeURIComponent(id) + "/row", { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        var body = table.querySelector("tbody");
        if (html !== null && body && !document.querySelector('[data-job-row="' + id + '"]')) {
          all("tr.no-rows", body).forEach(function (tr) { tr.remove(); });
          body.insertAdjacentHTML("afterbegin", html);
        }
      })
      .catch(function () { /* the note below still offers a reload */ })
      .then(function () {
        var latest = arriving[id];
        delete arriving[id];
        if (!document.querySelector('[data-job-row="' + id + '"]')) { showNote(); return; }
        if (latest) { onJobsList(table, latest[0], latest[1]); }
      });
  }

  function showNote() {
    var note = document.getElementById("live-note");
    if (note) { note.hidden = false; }
  }

  function onJobsList(table, name, data) {
    var row = document.querySelector('[data-job-row="' + data.job_id + '"]');
    if (!row) {
      if (table.hasAttribute("data-live-rows") && (!data.from_status || data.job_id in arriving)) {
        addRow(table, name, data);
      } else if (name === "queued") {
        showNote();
      }
      return;
    }
    setStatus(data.job_id, name);
    setText('[data-job-found="' + data.job_id + '"]', data.found);
    setText('[data-job-new="' + data.job_id + '"]', data.new);
    setText('[data-job-error="' + data.job_id + '"]', data.error || "");
    all('form[action$="/cancel"] button', row).forEach(function (b) { b.disabled = ACTIVE.indexOf(name) < 0; });
  }

  function listen(element, handle) {
    var source = new EventSource(element.getAttribute("data-live-events"));
    STATUSES.forEach(function (status) {
      source.addEventListener("job." + status, function (event) {
        var data;
        try { data = JSON.parse(event.data); } catch (e) { return; }
        handle(status, data, event.lastEventId);
      });
    });
    source.addEventListener("job.progress", function (event) {
      var data;
      try { data = JSON.parse(event.data); } catch (e) { return; }
      handle("progress", data, null);
    });
    document.documentElement.setAttribute("data-live", "connecting");
    source.onopen = function () { document.documentElement.setAttribute("data-live", "open"); };
    source.onerror = function () { document.documentElement.setAttribute("data-live", "reconnecting"); };
    window.addEventListener("pagehide", function () { source.close(); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var page = document.getElementById("job");
    if (page && page.hasAttribute("data-live-events")) {
      listen(page, function (name, data, id) {
        if (data.job_id !== page.getAttribute("data-job-id")) { return; }
        if (name === "progress") { onProgress(page, data); } else { onJobPage(page, name, data, id); }
      });
    }
    var table = document.getElementById("jobs-table");
    if (table && table.hasAttribute("data-live-events")) {
      listen(table, function (name, data) { if (name !== "progress") { onJobsList(table, name, data); } });
    }
  });
})();
