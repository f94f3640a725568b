// Follows a run: the server rendered the stored events; this continues after the last seq.
(function () {
  "use strict";
  var root = document.getElementById("run");
  if (!root) return;
  var timeline = document.getElementById("timeline");
  var bar = root.querySelector(".progress .bar");
  var progressEl = document.getElementById("progress");
  var progressValue = document.getElementById("progress-value");
  var conn = document.getElementById("conn");
  var lastSeq = parseInt(root.dataset.lastSeq || "0", 10);
  var TERMINAL = { complete: true, error: true, cancelled: true };

  if (["completed", "failed", "cancelled"].indexOf(root.dataset.status) >= 0) return;

  function addEvent(data) {
    if (data.seq <= lastSeq) return; // already rendered or delivered
    lastSeq = data.seq;
    var li = document.createElement("li");
    li.className = "event event-" + data.type + (data.finding ? " sev-" + data.finding.severity : "");
    li.dataset.seq = String(data.seq);
    var icon = document.createElement("span");
    icon.className = "icon";
    icon.setAttribute("aria-hidden", "true");
    var msg = document.createElement("span");
    msg.className = "message";
    msg.textContent = data.message; // text, never HTML: messages carry names from AWS data
    var time = document.createElement("time");
    time.dateTime = data.ts;
    time.textContent = new Date(data.ts).toLocaleTimeString();
    li.append(icon, msg, time);
    timeline.appendChild(li);
    li.scrollIntoView({ block: "nearest" });
    bar.style.width = data.progress + "%";
    progressEl.setAttribute("aria-valuenow", String(data.progress));
    progressValue.textContent = String(data.progress);
  }

  var url = root.dataset.eventsUrl + "?after=" + lastSeq;
  var source = new EventSource(url);
  source.onopen = function () { conn.textContent = "live"; };
  source.onerror = function () {
    conn.textContent = source.readyState === EventSource.CLOSED ? "finished" : "reconnecting";
  };
  source.onmessage = function (event) {
    var data = JSON.parse(event.data);
    addEvent(data);
    if (TERMINAL[data.type]) {
      source.close();
      conn.textContent = "finished";
      root.dataset.status = data.type;
    }
  };
})();
