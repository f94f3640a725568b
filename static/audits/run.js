// Follows a run. The server rendered the stored events; this continues after the last one.
// Everything from the stream is shown as text (textContent), never parsed as HTML: messages
// and names come from AWS data.
(function () {
  "use strict";
  var root = document.getElementById("run");
  if (!root || !root.dataset.eventsUrl) return;

  var mode = root.dataset.mode || "live";
  var timeline = document.getElementById("timeline");
  var wrap = timeline.parentNode;
  var jump = document.getElementById("jump");
  var jumpCount = document.getElementById("jump-count");
  var progress = document.getElementById("progress");
  var progressValue = document.getElementById("progress-value");
  var eventCount = document.getElementById("event-count");
  var conn = document.getElementById("conn");
  var statusEl = document.getElementById("run-status");
  var feed = document.getElementById("live-findings");
  var lastSeq = parseInt(root.dataset.lastSeq || "0", 10);
  var TERMINAL = { complete: "completed", error: "failed", cancelled: "cancelled" };
  var FINISHED = { completed: true, failed: true, cancelled: true };
  var LABELS = {
    queued: "Queued", running: "Running", paused: "Paused", completed: "Completed",
    failed: "Failed", cancelled: "Cancelled", interrupted: "Interrupted"
  };
  var FEED_LIMIT = 50;

  // --- auto-scroll: follow the newest row until the reader scrolls up -------------------------
  var follow = true;
  var unseen = 0;
  var scrollQueued = false;

  function atBottom() {
    return timeline.scrollHeight - timeline.scrollTop - timeline.clientHeight < 32;
  }
  function scrollToEnd() {
    timeline.scrollTop = timeline.scrollHeight;
  }
  function updateJump() {
    jump.hidden = follow || unseen === 0;
    jumpCount.textContent = unseen ? String(unseen) + " new ·" : "";
  }
  // Only the reader scrolling up stops following: a scroll event we caused can arrive after
  // more rows were appended, when the list is briefly not at the bottom any more.
  var lastTop = 0;
  timeline.addEventListener("scroll", function () {
    var top = timeline.scrollTop;
    if (atBottom()) {
      follow = true;
      unseen = 0;
    } else if (top < lastTop - 2) {
      follow = false;
    }
    lastTop = top;
    updateJump();
  });
  jump.addEventListener("click", function () {
    follow = true;
    unseen = 0;
    scrollToEnd();
    updateJump();
    timeline.focus({ preventScroll: true });
  });
  function afterAppend() {
    if (!follow) {
      unseen += 1;
      updateJump();
      return;
    }
    if (scrollQueued) return;
    scrollQueued = true;
    window.requestAnimationFrame(function () {
      scrollQueued = false;
      scrollToEnd();
    });
  }
  scrollToEnd();

  // --- state shown around the timeline --------------------------------------------------------
  function setConn(state, text) {
    conn.dataset.state = state;
    conn.querySelector(".conn-text").textContent = text;
  }
  function setStatus(status) {
    root.dataset.status = status;
    if (mode !== "live") return;
    statusEl.className = "status status-" + status;
    statusEl.textContent = LABELS[status] || status;
    var show = {
      pause: status === "running",
      resume: status === "paused" || status === "interrupted",
      cancel: !FINISHED[status]
    };
    Array.prototype.forEach.call(root.querySelectorAll("[data-control]"), function (form) {
      form.hidden = !show[form.dataset.control];
    });
    var note = document.getElementById("control-note");
    if (note && status !== "running") note.hidden = true;
  }
  function setProgress(value) {
    if (typeof value !== "number") return;
    progress.value = value;
    progress.textContent = value + "%";
    progressValue.textContent = String(value);
  }
  function setStat(severity, n) {
    var el = document.getElementById("stat-" + severity);
    if (el) el.textContent = String(n);
  }
  function bumpStat(severity) {
    var el = document.getElementById("stat-" + severity);
    if (el) el.textContent = String(parseInt(el.textContent || "0", 10) + 1);
  }
  function addFinding(finding) {
    var empty = feed.querySelector(".feed-empty");
    if (empty) empty.remove();
    var li = document.createElement("li");
    li.className = "sev-" + finding.severity;
    var badge = document.createElement("span");
    badge.className = "badge sev-" + finding.severity;
    badge.textContent = finding.severity;
    var title = document.createElement("span");
    title.className = "feed-title";
    title.textContent = finding.title || finding.check_id || "";
    var who = document.createElement("span");
    who.className = "feed-principal mono";
    who.textContent = finding.principal_name || finding.principal_arn || "";
    li.append(badge, title, who);
    feed.insertBefore(li, feed.firstChild);
    while (feed.children.length > FEED_LIMIT) feed.lastElementChild.remove();
  }

  function row(data) {
    var li = document.createElement("li");
    var severity = data.type === "finding" && data.finding ? data.finding.severity : "";
    li.className = "event ev-" + data.type + (severity ? " sev-" + severity : "");
    li.dataset.seq = String(data.seq);
    var icon = document.createElement("span");
    icon.className = "icon";
    icon.setAttribute("aria-hidden", "true");
    var msg = document.createElement("span");
    msg.className = "message";
    msg.textContent = data.message;
    var time = document.createElement("time");
    time.dateTime = data.ts;
    time.title = data.ts;
    time.textContent = (data.ts || "").slice(11, 19); // server time, UTC, as the stored rows show it
    li.append(icon, msg, time);
    return li;
  }

  function handle(data) {
    if (typeof data.seq !== "number" || data.seq <= lastSeq) return; // already shown
    lastSeq = data.seq;
    root.dataset.lastSeq = String(lastSeq);
    timeline.appendChild(row(data));
    eventCount.textContent = String(timeline.children.length);
    afterAppend();
    setProgress(data.progress);

    if (data.type === "finding" && data.finding) {
      bumpStat(data.finding.severity);
      addFinding(data.finding);
    } else if (data.type === "stats" && data.stats) {
      Object.keys(data.stats).forEach(function (sev) { setStat(sev, data.stats[sev]); });
    }
    if (data.type === "paused") setStatus("paused");
    else if (TERMINAL[data.type]) setStatus(TERMINAL[data.type]);
    else if (data.type === "resumed" || root.dataset.status !== "running") {
      if (!FINISHED[root.dataset.status]) setStatus("running");
    }
  }

  // --- the stream -----------------------------------------------------------------------------
  var source = null;
  var retries = 0;
  var done = FINISHED[root.dataset.status] && mode === "live";

  function finish() {
    done = true;
    if (source) source.close();
    setConn("finished", "finished");
    // Results (or what a failed or cancelled run found) replace the placeholder.
    if (mode === "live" && window.htmx && document.querySelector("#results[hx-get]")) {
      window.htmx.trigger(document.body, "aegis:complete");
    }
  }

  function connect() {
    var base = root.dataset.eventsUrl;
    var url = base + (base.indexOf("?") >= 0 ? "&" : "?") + "after=" + lastSeq;
    source = new EventSource(url);
    source.onopen = function () {
      retries = 0;
      setConn("live", mode === "replay" ? "replaying" : "live");
    };
    source.onmessage = function (event) {
      var data;
      try { data = JSON.parse(event.data); } catch (e) { return; }
      if (data.type === "closed") {
        // The server ended the stream because access ended (signed out, token revoked, ...): a
        // reconnect would be refused, so stop and say why.
        done = true;
        source.close();
        setConn("offline", data.message || "stream closed");
        return;
      }
      handle(data);
      if (TERMINAL[data.type]) finish();
    };
    source.onerror = function () {
      if (done) return;
      if (source.readyState === EventSource.CLOSED) {
        // The browser gave up (an HTTP error or 204): try again ourselves, from the last seq.
        retries += 1;
        setConn("reconnecting", "reconnecting…");
        if (retries > 30) { setConn("offline", "offline — reload to retry"); return; }
        window.setTimeout(connect, Math.min(1000 * retries, 10000));
      } else {
        setConn("reconnecting", "reconnecting…");
      }
    };
  }

  if (done) return;
  connect();
})();
