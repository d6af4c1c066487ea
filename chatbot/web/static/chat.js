// Small repairs to Gradio's chat markup, re-applied whenever Gradio re-renders, and the scroll
// that brings each new answer's start into view.
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
    // The conversation is a Tab stop: a keyboard user scrolls a long answer with the arrow
    // keys instead of hopping through its [n] links.
    var log = document.querySelector('#conversation [role="log"]');
    if (log && log.getAttribute("tabindex") !== "0") {
      log.setAttribute("tabindex", "0");
      log.setAttribute("aria-label", "Conversation");
    }
  }

  // Each new question starts a "follow": until its answer is complete, the conversation is
  // scrolled so that the question and the start of the answer are at its top (Gradio's own
  // autoscroll would jump to the end of the last source). A patient who scrolls stops it.
  var asked = 0, following = false, moved = false;
  function target(log) {
    var users = log.querySelectorAll(".user-row");
    var user = users[users.length - 1];
    var last = lastRow(log);
    if (!user || !last || last === user) return null;
    var base = log.getBoundingClientRect().top - log.scrollTop;
    var start = last.getBoundingClientRect().top - base;
    var question = user.getBoundingClientRect().top - base;
    // The question too, unless it is so long that it would take over a quarter of the view.
    return Math.max(question, start - log.clientHeight / 4) - 8;
  }
  function lastRow(log) {
    var rows = log.querySelectorAll(".message-row");
    return rows[rows.length - 1] || null;
  }
  function follow() {
    var log = document.querySelector('#conversation [role="log"]');
    if (!log) return;
    var count = log.querySelectorAll(".user-row").length;
    if (count !== asked) {
      asked = count;
      following = count > 0;
      moved = false;
    }
    if (!following || moved) return;
    var top = target(log);
    if (top === null) return;
    log.scrollTop = top;
    if (lastRow(log).querySelector(".answer-done, .answer-error")) {
      following = false;
    }
  }
  function stop(e) {
    if (e.type !== "keydown" || /^(Arrow|Page|Home|End| )/.test(e.key)) moved = true;
  }
  ["wheel", "touchmove", "keydown"].forEach(function (type) {
    document.addEventListener(type, function (e) {
      if (following && e.target.closest && e.target.closest('#conversation [role="log"]')) stop(e);
    }, { passive: true, capture: true });
  });
  function onChange() { repair(); follow(); }
  new MutationObserver(onChange).observe(document.documentElement, { childList: true, subtree: true });
  document.addEventListener("DOMContentLoaded", repair);
})();
