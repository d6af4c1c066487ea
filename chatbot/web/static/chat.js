// Small accessibility repairs to Gradio's chat markup, re-applied whenever Gradio re-renders.
(function () {
  "use strict";
  function repair() {
    // Gradio gives the example-question box role="list" but fills it with buttons (axe:
    // aria-required-children); a labelled group is what it is.
    document.querySelectorAll('.examples[role="list"]').forEach(function (el) {
      el.setAttribute("role", "group");
      el.setAttribute("aria-label", "Example questions");
    });
    // Short notices (feedback saved, empty question) are announced by screen readers.
    var notice = document.getElementById("chat-notice");
    if (notice && notice.getAttribute("role") !== "status") {
      notice.setAttribute("role", "status");
      notice.setAttribute("aria-live", "polite");
    }
  }
  // Keep the start of a new answer in view: Gradio's own autoscroll would jump to the end of
  // the last source, past the answer a patient wants to read first.
  var lastKey = null;
  function follow() {
    var log = document.querySelector('#conversation [role="log"]');
    if (!log) return;
    var items = log.querySelectorAll(".answer-pending, .answer, .answer-error");
    var last = items[items.length - 1];
    var key = last ? (last.id || last.className + ":" + items.length) : null;
    if (key === lastKey) return;
    lastKey = key;
    if (!last) return;
    var offset = last.getBoundingClientRect().top - log.getBoundingClientRect().top;
    log.scrollTop += offset - 56;
  }
  function onChange() { repair(); follow(); }
  new MutationObserver(onChange).observe(document.documentElement, { childList: true, subtree: true });
  document.addEventListener("DOMContentLoaded", repair);
})();
