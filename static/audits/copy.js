// Copy buttons: <button data-copy-target="element-id">. One delegated listener, however often the script loads
// (pages and htmx fragments both include it). No inline script: the CSP forbids it.
(function () {
  if (window.aegisCopyReady) return;
  window.aegisCopyReady = true;

  function selectText(node) {
    var range = document.createRange();
    range.selectNodeContents(node);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  function done(button, text) {
    var label = button.dataset.label || button.textContent;
    button.dataset.label = label;
    button.textContent = text;
    setTimeout(function () { button.textContent = label; }, 2000);
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy-target]");
    if (!button) return;
    var node = document.getElementById(button.dataset.copyTarget);
    if (!node) return;
    var text = node.textContent.replace(/\s+$/, "") + "\n";
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(
        function () { done(button, "Copied"); },
        function () { selectText(node); done(button, "Press Ctrl+C"); }
      );
    } else {
      selectText(node);
      done(button, "Press Ctrl+C");
    }
  });
})();
