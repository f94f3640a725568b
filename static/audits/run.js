// Follows a run (live) or plays it back (replay). The server rendered the tail of the stored events; this
// continues after the last one. Everything from the stream is shown as text (textContent), never parsed as
// HTML: messages and names come from AWS data. Rows from the server (load earlier, seek) are escaped there.
(function () {
  "use strict";
  var root = document.getElementById("run");
  if (!root || !root.dataset.eventsUrl) return;

  var mode = root.dataset.mode || "live";
  var timeline = document.getElementById("timeline");
  var jump = document.getElementById("jump");
  var jumpCount = document.getElementById("jump-count");
  var progress = document.getElementById("progress");
  var progressValue = document.getElementById("progress-value");
  var eventCount = document.getElementById("event-count");
  var conn = document.getElementById("conn");
  var statusEl = document.getElementById("run-status");
  var feed = document.getElementById("live-findings");
  var announcer = document.getElementById("announcer");
  var lastSeq = parseInt(root.dataset.lastSeq || "0", 10);
  // The events that end a run and the status each ends it with, from the engine's list (audits/iam/events.py).
  var TERMINAL = JSON.parse(root.dataset.ending);
  var FINISHED = { completed: true, failed: true, cancelled: true };
  var RETRYABLE = { failed: true, cancelled: true, interrupted: true };
  var SEVERITIES = ["critical", "high", "medium", "low", "info"];
  var LABELS = {
    queued: "Queued", running: "Running", paused: "Paused", completed: "Completed",
    failed: "Failed", cancelled: "Cancelled", interrupted: "Interrupted"
  };
  var BANNERS = {
    failed: "This audit failed.",
    cancelled: "This audit was cancelled. The findings recorded before it stopped are kept."
  };
  var FEED_LIMIT = 50;
  // Bidi overrides, isolates and marks in IAM names would reorder what the reader sees: show them as
  // visible escapes, as the server's `iam` filter does.
  var BIDI = /[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]/g;
  function clean(text) {
    return String(text == null ? "" : text).replace(BIDI, function (c) {
      return "\\u" + ("0000" + c.charCodeAt(0).toString(16)).slice(-4);
    });
  }
  var ANNOUNCE_EVERY_MS = parseInt(root.dataset.announceMs || "5000", 10) || 5000;

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

  // --- filters and search: the server answers over the whole run, newest first, a page at a time ----------
  // While a filter is on, the timeline shows the server's matches; the followed rows are kept aside (new ones
  // still go there) and come back when the filter is cleared. Rows that arrive meanwhile and match are added.
  var filterForm = document.getElementById("timeline-filters");
  var shownEl = document.getElementById("tl-shown");
  var filter = { type: "", sev: "", q: "" };
  var liveRows = null; // the followed rows, set aside while the timeline shows matches
  var matchTotal = 0;
  var asked = 0; // the newest search; answers to older ones are dropped
  var searchTimer = null;
  function readFilter() {
    if (!filterForm) return;
    filter.type = filterForm.elements.type.value;
    filter.sev = filterForm.elements.sev.value;
    filter.q = filterForm.elements.search.value.trim().toLowerCase();
  }
  function active() { return !!(filter.type || filter.sev || filter.q); }
  function liveList() { return liveRows || timeline; }
  function matches(li) {
    if (!li.classList.contains("event") || !li.dataset.seq) return false;
    if (filter.type && !li.classList.contains("ev-" + filter.type)) return false;
    if (filter.sev && !li.classList.contains("sev-" + filter.sev)) return false;
    if (filter.q) {
      var text = li.querySelector(".message");
      if (!text || text.textContent.toLowerCase().indexOf(filter.q) < 0) return false;
    }
    return true;
  }
  function showCount() {
    if (!shownEl) return;
    if (!liveRows) { shownEl.textContent = ""; return; }
    var shown = timeline.querySelectorAll("li.event[data-seq]").length;
    shownEl.textContent = shown + " shown of " + matchTotal;
  }
  function fragmentOf(html) {
    return document.createRange().createContextualFragment(html);
  }
  function activate(container) {
    // Rows from the server carry "load earlier" links for htmx.
    if (window.htmx) window.htmx.process(container);
  }
  function endSearch() {
    if (liveRows) {
      timeline.replaceChildren(liveRows);
      liveRows = null;
      activate(timeline);
    }
    showCount();
    follow = true;
    scrollToEnd();
  }
  function search() {
    readFilter();
    var mine = ++asked;
    if (!active()) { endSearch(); return; }
    var upto = lastSeq;
    var params = new URLSearchParams();
    params.set("type", filter.type);
    params.set("sev", filter.sev);
    params.set("search", filterForm.elements.search.value.trim());
    params.set("upto", String(upto));
    if (shownEl) shownEl.textContent = "searching…";
    fetch(filterForm.getAttribute("action") + "?" + params.toString(), {
      headers: { "HX-Request": "true" }, credentials: "same-origin"
    }).then(function (response) {
      if (!response.ok) throw new Error("search failed");
      var total = parseInt(response.headers.get("X-Aegis-Matches") || "0", 10);
      return response.text().then(function (html) { return { html: html, total: total }; });
    }).then(function (answer) {
      if (mine !== asked) return;
      if (!liveRows) {
        liveRows = document.createDocumentFragment();
        liveRows.append.apply(liveRows, Array.prototype.slice.call(timeline.childNodes));
      }
      timeline.replaceChildren(fragmentOf(answer.html));
      activate(timeline);
      matchTotal = answer.total;
      // The server counted up to `upto`; rows that came by the stream since are added here.
      Array.prototype.forEach.call(liveRows.querySelectorAll("li.event[data-seq]"), function (li) {
        if (parseInt(li.dataset.seq, 10) > upto && matches(li)) {
          timeline.appendChild(li.cloneNode(true));
          matchTotal += 1;
        }
      });
      showCount();
      follow = true;
      scrollToEnd();
    }).catch(function () {
      if (mine === asked && shownEl) shownEl.textContent = "search failed — try again";
    });
  }
  function searchSoon() {
    window.clearTimeout(searchTimer);
    searchTimer = window.setTimeout(search, 250);
  }
  function shownIfMatching(li) {
    // A new row while the timeline shows matches: shown when it matches, kept with the followed rows anyway.
    if (!liveRows || !matches(li)) return false;
    timeline.appendChild(li.cloneNode(true));
    matchTotal += 1;
    showCount();
    return true;
  }
  if (filterForm) {
    readFilter();
    filterForm.addEventListener("input", function (event) {
      if (event.target === filterForm.elements.search) searchSoon();
    });
    filterForm.addEventListener("change", function () { window.clearTimeout(searchTimer); search(); });
    filterForm.addEventListener("submit", function (event) {
      event.preventDefault();
      window.clearTimeout(searchTimer);
      search();
    });
    if (active()) search(); // a filter the browser restored on reload
  }
  document.body.addEventListener("htmx:afterSettle", function () { showCount(); });

  // --- state shown around the timeline --------------------------------------------------------
  function setConn(state, text) {
    conn.dataset.state = state;
    conn.querySelector(".conn-text").textContent = text;
  }
  function setStatus(status, message) {
    var before = root.dataset.status;
    root.dataset.status = status;
    if (mode !== "live") return;
    statusEl.className = "status status-" + status;
    statusEl.textContent = LABELS[status] || status;
    var show = {
      pause: status === "running",
      resume: status === "paused" || status === "interrupted",
      cancel: !FINISHED[status],
      retry: !!RETRYABLE[status],
      replay: !!FINISHED[status]
    };
    Array.prototype.forEach.call(root.querySelectorAll("[data-control]"), function (el) {
      el.hidden = !show[el.dataset.control];
    });
    var note = document.getElementById("control-note");
    if (note && status !== "running") note.hidden = true;
    var banner = document.getElementById("state-banner");
    if (banner && BANNERS[status] && before !== status) {
      banner.dataset.state = status;
      var text = document.getElementById("state-text");
      var strong = document.createElement("strong");
      strong.textContent = BANNERS[status];
      text.replaceChildren(strong);
      if (status === "failed" && message) text.append(" " + clean(message));
      banner.hidden = false;
    }
    if (FINISHED[status]) {
      var title = document.getElementById("stats-title");
      if (title) title.textContent = title.dataset.finishedLabel || "Findings";
    }
  }
  function setProgress(value) {
    if (typeof value !== "number") return;
    progress.value = value;
    progress.textContent = value + "%";
    progressValue.textContent = String(value);
  }
  function stat(severity) {
    var el = document.getElementById("stat-" + severity);
    return el ? parseInt(el.textContent || "0", 10) : 0;
  }
  function setStat(severity, n) {
    var el = document.getElementById("stat-" + severity);
    if (el) el.textContent = String(n);
  }
  function addFinding(finding) {
    if (!feed) return;
    var empty = feed.querySelector(".feed-empty");
    if (empty) empty.remove();
    var li = document.createElement("li");
    li.className = "sev-" + finding.severity;
    var badge = document.createElement("span");
    badge.className = "badge sev-" + finding.severity;
    badge.textContent = clean(finding.severity);
    var title = document.createElement("span");
    title.className = "feed-title";
    title.textContent = clean(finding.title || finding.check_id);
    var who = document.createElement("span");
    who.className = "feed-principal mono";
    who.textContent = clean(finding.principal_name || finding.principal_arn);
    li.append(badge, title, who);
    feed.insertBefore(li, feed.firstChild);
    while (feed.children.length > FEED_LIMIT) feed.lastElementChild.remove();
  }

  // --- announcements: a summary every few seconds and at the end, never one per row --------------
  var lastAnnounced = 0;
  var principalsDone = "";
  function summary() {
    return SEVERITIES.map(function (sev) { return stat(sev) + " " + sev; }).join(", ");
  }
  // Throttled on the trailing edge: an update inside the quiet window is kept and said when the window ends, so
  // the region never stays on an older count than the page shows.
  var pendingAnnouncement = null;
  var announceTimer = 0;
  function announce(text, force) {
    var now = Date.now();
    var wait = ANNOUNCE_EVERY_MS - (now - lastAnnounced);
    if (!force && wait > 0) {
      pendingAnnouncement = text;
      if (!announceTimer) {
        announceTimer = window.setTimeout(function () {
          announceTimer = 0;
          if (pendingAnnouncement !== null) announce(pendingAnnouncement, true);
        }, wait);
      }
      return;
    }
    if (announceTimer) { window.clearTimeout(announceTimer); announceTimer = 0; }
    pendingAnnouncement = null;
    lastAnnounced = now;
    announcer.textContent = text;
  }

  // --- rows, grouped: a principal's findings sit after its "Analyzing X" line ------------------
  // The engine sends the findings first; they go under a placeholder head that the principal's
  // own line fills in when it arrives.
  var pendingHead = null;
  (function findPending() {
    var heads = timeline.querySelectorAll("li.pending");
    pendingHead = heads.length ? heads[heads.length - 1] : null;
  })();

  function fill(li, data) {
    li.replaceChildren();
    var icon = document.createElement("span");
    icon.className = "icon";
    icon.setAttribute("aria-hidden", "true");
    var msg = document.createElement("span");
    msg.className = "message";
    msg.textContent = clean(data.message);
    var time = document.createElement("time");
    if (data.ts) {
      time.dateTime = data.ts;
      time.title = data.ts;
      time.textContent = data.ts.slice(11, 19); // server time, UTC, as the stored rows show it
    }
    li.append(icon, msg, time);
  }
  function principalOf(data) {
    if (data.type === "finding" && data.finding) return clean(data.finding.principal_arn);
    if (data.type === "principal" && data.principal) return clean(data.principal.arn);
    return "";
  }
  function row(data) {
    var li = document.createElement("li");
    var severity = data.type === "finding" && data.finding ? data.finding.severity : "";
    li.className = "event ev-" + data.type + (severity ? " sev-" + severity : "");
    li.dataset.seq = String(data.seq);
    var principal = principalOf(data);
    if (principal) li.dataset.principal = principal;
    if (typeof data.progress === "number") li.dataset.progress = String(data.progress);
    fill(li, data);
    return li;
  }
  function place(data) {
    var principal = principalOf(data);
    if (data.type === "principal" && pendingHead && pendingHead.dataset.principal === principal) {
      var filled = pendingHead;
      filled.classList.remove("pending");
      filled.dataset.seq = String(data.seq);
      fill(filled, data);
      pendingHead = null;
      return filled;
    }
    if (data.type === "finding" && !(pendingHead && pendingHead.dataset.principal === principal)) {
      var head = document.createElement("li");
      head.className = "event ev-principal pending";
      head.dataset.principal = principal;
      var name = clean(data.finding.principal_name) || principal.split("/").pop() || "principal";
      fill(head, { message: "Analyzing " + (data.finding.principal_type || "") + " '" + name + "'…" });
      liveList().appendChild(head);
      pendingHead = head;
    } else if (data.type !== "finding") {
      pendingHead = null;
    }
    var li = row(data);
    liveList().appendChild(li);
    return li;
  }

  var started = !!root.dataset.started;
  function handle(data) {
    if (typeof data.seq !== "number" || data.seq <= lastSeq) return; // already shown
    lastSeq = data.seq;
    root.dataset.lastSeq = String(lastSeq);
    var li = place(data);
    eventCount.textContent = String(Math.max(lastSeq, parseInt(eventCount.textContent || "0", 10)));
    if (!liveRows || shownIfMatching(li)) afterAppend();
    setProgress(data.progress);
    if (mode === "live" && (!started || data.type === "start")) {
      // The header fills in the account id and start time: on the first event seen, and again on the engine's
      // start event, written once the account is known (a live collection reports progress before that).
      started = true;
      if (window.htmx) window.htmx.trigger(document.body, "aegis:started");
    }

    if (data.type === "finding" && data.finding) {
      // An accepted risk is shown but not counted, as the engine's stats, the score and a reload count.
      if (!data.finding.suppressed) setStat(data.finding.severity, stat(data.finding.severity) + 1);
      addFinding(data.finding);
    } else if (data.type === "stats" && data.stats) {
      Object.keys(data.stats).forEach(function (sev) { setStat(sev, data.stats[sev]); });
    } else if (data.type === "principal" && data.index && data.total) {
      principalsDone = "Analyzed " + data.index + " of " + data.total + " principals. ";
      announce(principalsDone + "Findings so far: " + summary() + ".", false);
    }
    if (data.type === "paused") setStatus("paused");
    else if (TERMINAL[data.type]) {
      setStatus(TERMINAL[data.type], data.message);
      announce(clean(data.message) + ". Findings: " + summary() + ".", true);
    } else if (data.type === "resumed" || root.dataset.status !== "running") {
      if (!FINISHED[root.dataset.status]) setStatus("running");
    }
    if (seek && !dragging) { seek.value = String(lastSeq); seekValue.textContent = String(lastSeq); }
  }

  // --- the stream -----------------------------------------------------------------------------
  var source = null;
  var retries = 0;
  var done = FINISHED[root.dataset.status] && mode === "live";

  function finish() {
    done = true;
    if (source) source.close();
    setConn("finished", "finished");
    if (mode === "replay") { endReplay(); return; }
    if (window.htmx) window.htmx.trigger(document.body, "aegis:finished");
    // Results (or what a failed or cancelled run found) replace the placeholder.
    if (window.htmx && document.querySelector("#results[hx-get]")) {
      window.htmx.trigger(document.body, "aegis:complete");
    }
  }

  function connect() {
    var base = root.dataset.eventsUrl;
    var url = base + (base.indexOf("?") >= 0 ? "&" : "?") + "after=" + lastSeq;
    var mine = new EventSource(url);
    source = mine;
    mine.onopen = function () {
      retries = 0;
      setConn("live", mode === "replay" ? "replaying" : "live");
    };
    mine.onmessage = function (event) {
      if (source !== mine) return; // a replay that was paused, restarted or seeked
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
    mine.onerror = function () {
      if (done || source !== mine) return;
      if (mine.readyState === EventSource.CLOSED) {
        // The browser gave up (an HTTP error or 204): try again ourselves, from the last seq.
        retries += 1;
        setConn("reconnecting", "reconnecting…");
        if (retries > 30) { setConn("offline", "offline — reload to retry"); return; }
        window.setTimeout(function () { if (source === mine && !done) connect(); }, Math.min(1000 * retries, 10000));
      } else {
        setConn("reconnecting", "reconnecting…");
      }
    };
  }
  function disconnect() {
    if (source) source.close();
    source = null;
  }

  // --- replay controls: pause, restart, seek ------------------------------------------------------
  var pauseBtn = document.getElementById("replay-pause");
  var restartBtn = document.getElementById("replay-restart");
  var seek = document.getElementById("replay-seek");
  var seekValue = document.getElementById("seek-value");
  var dragging = false;
  var paused = false;

  function setPaused(value) {
    paused = value;
    pauseBtn.textContent = value ? "Play" : "Pause";
    pauseBtn.setAttribute("aria-pressed", value ? "true" : "false");
    statusEl.textContent = value ? "Paused" : "Replaying";
  }
  function clearTimeline() {
    liveList().replaceChildren();
    if (liveRows) {
      timeline.replaceChildren();
      matchTotal = 0;
      showCount();
    }
    pendingHead = null;
    SEVERITIES.forEach(function (sev) { setStat(sev, 0); });
    if (feed) {
      var empty = document.createElement("li");
      empty.className = "feed-empty muted";
      empty.textContent = "None yet.";
      feed.replaceChildren(empty);
    }
  }
  function replayFrom(seq) {
    done = false;
    lastSeq = seq;
    restartBtn.textContent = "Restart";
    pauseBtn.hidden = false;
    setPaused(false);
    connect();
  }
  function endReplay() {
    statusEl.textContent = "Replay finished";
    statusEl.className = "status status-completed";
    pauseBtn.hidden = true;
    restartBtn.textContent = "Replay again";
    announce("Replay finished. Findings: " + summary() + ".", true);
  }
  function setPosition(seq) {
    lastSeq = seq;
    root.dataset.lastSeq = String(seq);
    seek.value = String(seq);
    seekValue.textContent = String(seq);
  }
  function seekTo(seq) {
    // Seeking while paused shows the rows up to the seek point and stays paused; Play continues from there.
    var stayPaused = paused;
    disconnect();
    clearTimeline();
    setProgress(0);
    if (seq <= 0) {
      if (stayPaused) { setPosition(0); return; }
      replayFrom(0);
      return;
    }
    // The stored rows up to the seek point come from the server, then the replay continues after them.
    var url = root.dataset.timelineUrl + "?before=" + (seq + 1);
    fetch(url, { headers: { "HX-Request": "true" }, credentials: "same-origin" }).then(function (response) {
      var counts = {};
      try { counts = JSON.parse(response.headers.get("X-Aegis-Counts") || "{}"); } catch (e) { counts = {}; }
      return response.text().then(function (html) { return { html: html, counts: counts, ok: response.ok }; });
    }).then(function (answer) {
      if (!answer.ok) throw new Error("seek failed");
      var list = liveList();
      list.replaceChildren(fragmentOf(answer.html));
      if (list === timeline) activate(timeline);
      Object.keys(answer.counts).forEach(function (sev) { setStat(sev, answer.counts[sev]); });
      var rows = list.querySelectorAll("li.event[data-progress]");
      if (rows.length) setProgress(parseInt(rows[rows.length - 1].dataset.progress, 10));
      var heads = list.querySelectorAll("li.pending");
      pendingHead = heads.length ? heads[heads.length - 1] : null;
      follow = true;
      scrollToEnd();
      setPosition(seq);
      if (active()) search();
      if (stayPaused) { setConn("paused", "paused"); return; }
      replayFrom(seq);
    }).catch(function () { setConn("offline", "could not seek — try again"); });
  }

  // --- replay speed: changed in place, the replay goes on from the event it reached -------------------
  var speedNow = document.getElementById("speed-now");
  var speedForm = document.getElementById("speed-form");
  function setSpeed(raw) {
    var value = parseFloat(raw);
    if (!(value >= parseFloat(root.dataset.minSpeed) && value <= parseFloat(root.dataset.maxSpeed))) return false;
    var label = String(value);
    root.dataset.speed = label;
    root.dataset.eventsUrl = root.dataset.replayUrl + "?speed=" + encodeURIComponent(label);
    Array.prototype.forEach.call(document.querySelectorAll(".speeds a[data-speed]"), function (link) {
      var on = parseFloat(link.dataset.speed) === value;
      link.classList.toggle("primary", on);
      link.classList.toggle("secondary", !on);
      if (on) link.setAttribute("aria-current", "true"); else link.removeAttribute("aria-current");
    });
    if (speedNow) speedNow.textContent = label;
    if (speedForm) speedForm.elements.speed.value = label;
    var address = new URL(window.location.href);
    address.searchParams.set("speed", label);
    window.history.replaceState(window.history.state, "", address.toString());
    if (!paused && !done) {
      // Reconnect from the last event shown: the stream paces what follows at the new speed.
      disconnect();
      connect();
    }
    return true;
  }
  if (mode === "replay" && pauseBtn) {
    pauseBtn.addEventListener("click", function () {
      if (paused) { replayFrom(lastSeq); return; }
      disconnect();
      setConn("paused", "paused");
      setPaused(true);
    });
    restartBtn.addEventListener("click", function () {
      disconnect();
      clearTimeline();
      setProgress(0);
      replayFrom(0);
    });
    Array.prototype.forEach.call(document.querySelectorAll(".speeds a[data-speed]"), function (link) {
      link.addEventListener("click", function (event) {
        if (setSpeed(link.dataset.speed)) event.preventDefault();
      });
    });
    if (speedForm) {
      speedForm.addEventListener("submit", function (event) {
        // A speed out of range goes to the server, which says what it accepts.
        if (setSpeed(speedForm.elements.speed.value)) event.preventDefault();
      });
    }
    seek.addEventListener("input", function () { dragging = true; seekValue.textContent = seek.value; });
    seek.addEventListener("change", function () { dragging = false; seekTo(parseInt(seek.value, 10) || 0); });
  }

  if (done) return;
  connect();
})();
