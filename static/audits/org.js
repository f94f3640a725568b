// Follows an organization audit: the parent run's stream carries one event per account start and end,
// each with the organization's counts. Everything is written as text (textContent): names come from AWS.
(function () {
  "use strict";
  var root = document.getElementById("org");
  if (!root || !root.dataset.eventsUrl) return;
  var FINISHED = { completed: true, failed: true, cancelled: true };
  var LABELS = { queued: "Queued", running: "Running", paused: "Paused", completed: "Completed",
                 failed: "Failed", cancelled: "Cancelled", interrupted: "Interrupted" };
  // The events that end a run and the status each ends it with, from the engine's list (audits/iam/events.py).
  var TERMINAL = JSON.parse(root.dataset.ending);
  var log = document.getElementById("org-log");
  var tbody = document.querySelector("#org-accounts tbody");
  var template = root.dataset.runUrlTemplate;

  function text(id, value) {
    var el = document.getElementById(id);
    if (el) el.textContent = String(value);
  }
  function setStatus(el, status) {
    el.className = "status status-" + status;
    el.textContent = LABELS[status] || status;
  }
  function counts(org) {
    if (!org) return;
    text("org-done", org.done); text("org-total", org.total); text("org-running", org.running);
    text("org-queued", org.queued); text("org-failed", org.failed);
    var bar = document.getElementById("org-progress");
    bar.max = Math.max(org.total, 1); bar.value = org.done;
    Object.keys(org.by_severity || {}).forEach(function (sev) { text("org-sev-" + sev, org.by_severity[sev]); });
  }
  function row(account) {
    var tr = tbody.querySelector('tr[data-run="' + account.run + '"]');
    if (!tr) {
      var empty = tbody.querySelector("tr.empty");
      if (empty) empty.remove();
      tr = document.createElement("tr");
      tr.dataset.run = account.run;
      var link = document.createElement("a");
      link.className = "mono";
      link.href = template.replace("/0/", "/" + account.run + "/");
      link.textContent = account.account_id;
      var cells = ["Account", "Name", "Status", "Risk", "Critical", "High", "Medium", "Low", "Note"];
      cells.forEach(function (label) {
        var td = document.createElement("td");
        td.dataset.label = label;
        tr.appendChild(td);
      });
      tr.children[0].appendChild(link);
      tr.children[1].textContent = account.name || "";
      var chip = document.createElement("span");
      chip.dataset.field = "status";
      tr.children[2].appendChild(chip);
      tr.children[3].dataset.field = "risk";
      ["critical", "high", "medium", "low"].forEach(function (sev, i) { tr.children[4 + i].dataset.field = "sev-" + sev; });
      tr.children[8].dataset.field = "error";
      tbody.appendChild(tr);
    }
    setStatus(tr.querySelector('[data-field="status"]'), account.status);
    if (account.risk_score !== null && account.risk_score !== undefined) {
      tr.querySelector('[data-field="risk"]').textContent = String(account.risk_score);
    }
    Object.keys(account.by_severity || {}).forEach(function (sev) {
      var cell = tr.querySelector('[data-field="sev-' + sev + '"]');
      if (cell) cell.textContent = String(account.by_severity[sev]);
    });
    if (account.error) tr.querySelector('[data-field="error"]').textContent = account.error;
  }
  function append(data) {
    var li = document.createElement("li");
    li.className = "ev ev-" + data.type;
    li.dataset.seq = data.seq;
    li.textContent = data.message;
    log.appendChild(li);
  }
  var lastSeq = parseInt(root.dataset.lastSeq || "0", 10);
  if (FINISHED[root.dataset.status]) return;
  var source = new EventSource(root.dataset.eventsUrl + "?after=" + lastSeq);
  source.onmessage = function (message) {
    var data = JSON.parse(message.data);
    if (data.seq <= lastSeq) return;
    lastSeq = data.seq;
    append(data);
    counts(data.org);
    if (data.account) row(data.account);
    if (TERMINAL[data.type]) {
      setStatus(document.getElementById("org-status"), TERMINAL[data.type]);
      source.close();
    }
  };
})();
