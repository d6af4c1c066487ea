/* Clinic chat widget. One tag on any page:
 *   <script src="https://CHAT-HOST/widget.js" defer></script>
 * Options (data-attributes on that tag): data-title, data-label, data-greeting,
 * data-color, data-text-color, data-position="right|left", data-open="true".
 * No dependencies; it loads nothing until the chat is opened, then only /embed/ from CHAT-HOST.
 */
(function () {
  "use strict";
  var s = document.currentScript;
  if (!s || window.__clinicChatWidget) return;
  window.__clinicChatWidget = true;
  var d = s.dataset;
  var src = new URL(s.src, location.href);
  var origin = src.origin;
  var embed = src.href.replace(/widget\.js([?#].*)?$/, "embed/");
  var left = d.position === "left";

  var host = document.createElement("div");
  host.setAttribute("data-clinic-chat", "");
  host.style.setProperty("--bg", d.color || "#1d5c87");
  host.style.setProperty("--fg", d.textColor || "#fff");
  var root = host.attachShadow({ mode: "open" });
  var side = left ? "left" : "right";
  var css =
    ":host{all:initial}" +
    "*{box-sizing:border-box;font:15px/1.4 system-ui,sans-serif}" +
    ".b,.p{position:fixed;" + side + ":20px;z-index:2147483000}" +
    ".b{bottom:20px;border:0;border-radius:24px;padding:12px 18px;background:var(--bg);" +
    "color:var(--fg);font-weight:600;cursor:pointer;box-shadow:0 2px 10px #0004}" +
    ".b:focus-visible,.x:focus-visible{outline:3px solid #f5b700;outline-offset:2px}" +
    ".p{bottom:80px;width:390px;height:min(640px,calc(100vh - 100px));display:flex;" +
    "flex-direction:column;background:#fff;border-radius:10px;overflow:hidden;" +
    "box-shadow:0 4px 24px #0005}" +
    ".p[hidden]{display:none}" +
    ".h{display:flex;align-items:center;gap:8px;padding:10px 12px;background:var(--bg);color:var(--fg)}" +
    "h2{flex:1;margin:0;font-weight:600;color:inherit}" +
    ".x{border:0;background:none;color:inherit;font-size:22px;line-height:1;cursor:pointer;" +
    "padding:2px 8px;border-radius:4px}" +
    ".g{margin:0;padding:8px 12px;background:#f3f6f9;color:#222;border-bottom:1px solid #dde}" +
    ".g:empty{display:none}" +
    "iframe{flex:1;width:100%;border:0}" +
    "@media (max-width:480px){.p{left:0;right:0;bottom:0;width:auto;height:100%;border-radius:0}}";
  var title = d.title || "Questions about restless legs";
  root.innerHTML =
    "<style>" + css + "</style>" +
    '<button class="b" type="button" aria-haspopup="dialog" aria-expanded="false" aria-controls="p"></button>' +
    '<div class="p" id="p" role="dialog" aria-labelledby="t" hidden>' +
    '<div class="h"><h2 id="t"></h2><button class="x" type="button" aria-label="Close chat">\u00d7</button></div>' +
    '<p class="g"></p></div>';
  var q = function (sel) { return root.querySelector(sel); };
  var button = q(".b"), panel = q(".p"), close = q(".x"), frame = null;
  button.textContent = d.label || "Ask about restless legs";
  q("h2").textContent = title;
  q(".g").textContent = d.greeting || "";

  function focusChat() {
    // The chat page is another origin: ask it to put the cursor in its question box.
    if (frame && frame.contentWindow) frame.contentWindow.postMessage({ type: "clinic-chat:focus" }, origin);
  }
  function open(auto) {
    if (!frame) {
      frame = document.createElement("iframe");
      frame.title = title;
      frame.referrerPolicy = "origin"; // the chat server needs no page paths of the clinic's site
      frame.src = embed;
      panel.appendChild(frame);
    }
    panel.hidden = false;
    button.setAttribute("aria-expanded", "true");
    if (auto) return; // opened by the page, not the patient: don't take the focus
    frame.focus();
    focusChat();
  }
  function shut() {
    panel.hidden = true;
    button.setAttribute("aria-expanded", "false");
    button.focus();
  }
  button.addEventListener("click", function () { if (panel.hidden) open(); else shut(); });
  close.addEventListener("click", shut);
  panel.addEventListener("keydown", function (e) { if (e.key === "Escape") shut(); });
  // The chat page says when it is ready (then it takes the focus if the patient opened the
  // panel) and when Escape was pressed inside it.
  window.addEventListener("message", function (e) {
    if (!frame || e.source !== frame.contentWindow || e.origin !== origin || !e.data || panel.hidden) return;
    if (e.data.type === "clinic-chat:close") shut();
    if (e.data.type === "clinic-chat:ready" && document.activeElement === host) focusChat();
  });
  function mount() {
    document.body.appendChild(host);
    if (d.open === "true") open(true);
  }
  if (document.body) mount(); else document.addEventListener("DOMContentLoaded", mount);
})();
