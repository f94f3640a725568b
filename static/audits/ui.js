// Small page behaviours, by delegation so htmx-swapped markup works too. No inline script: the CSP forbids it.
(function () {
  "use strict";

  var opener = null;
  document.addEventListener("click", function (event) {
    var target = event.target instanceof Element ? event.target : null;
    if (!target) return;

    // A link that opens a <dialog> (the confirmation before Cancel); without script it goes to a confirm page.
    var open = target.closest("[data-dialog]");
    if (open) {
      var dialog = document.getElementById(open.dataset.dialog);
      if (dialog && typeof dialog.showModal === "function") {
        event.preventDefault();
        opener = open;
        dialog.showModal();
      }
      return;
    }
    var close = target.closest("[data-close-dialog]");
    if (close) {
      var within = close.closest("dialog");
      if (within) within.close();
      if (opener) opener.focus();
      return;
    }
    // The inline finding panel's close button: empty the panel, back to the list.
    var panelClose = target.closest("[data-close-panel]");
    if (panelClose) closePanel(document.getElementById(panelClose.dataset.closePanel));
    var findingLink = target.closest("a.finding-link");
    if (findingLink) {
      Array.prototype.forEach.call(document.querySelectorAll("a.finding-link[data-opened]"), function (a) {
        a.removeAttribute("data-opened");
      });
      findingLink.setAttribute("data-opened", "1");
    }
  });

  function closePanel(panel) {
    if (panel) panel.replaceChildren();
    var link = document.querySelector("#findings a.finding-link[data-opened]");
    if (link) { link.removeAttribute("data-opened"); link.focus(); }
  }

  // Escape closes an open finding panel, as it closes the Cancel dialog (which the browser handles itself).
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape" || document.querySelector("dialog[open]")) return;
    var panel = document.getElementById("finding-panel");
    if (panel && panel.firstElementChild) {
      event.preventDefault();
      closePanel(panel);
    }
  });

  // The inline panel takes focus when it opens, so keyboard and screen reader users land on it.
  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.target && event.target.id === "finding-panel") {
      var article = event.target.querySelector("article");
      if (article) article.focus();
    }
  });

  // New audit: show only the chosen source's fields. The server still validates whatever is posted.
  function toggleSources(form) {
    var checked = form.querySelector("input[name=source]:checked");
    var source = checked ? checked.value : "";
    Array.prototype.forEach.call(form.querySelectorAll("[data-source-field]"), function (field) {
      field.hidden = field.dataset.sourceField !== source;
    });
  }
  function setUpNewAudit() {
    var form = document.getElementById("new-audit");
    if (!form) return;
    toggleSources(form);
    form.addEventListener("change", function (event) {
      if (event.target.name === "source") toggleSources(form);
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setUpNewAudit);
  else setUpNewAudit();
})();
