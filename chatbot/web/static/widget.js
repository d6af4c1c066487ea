/* Clinic chat widget. One tag on any page:
 *   <script src="https://CHAT-HOST/widget.js" defer></script>
 * Options (data-attributes on that tag): data-title, data-label, data-greeting,
 * data-color, data-text-color, data-position="right|left", data-open="true".
 * A small native chat in a shadow root (the page's CSS and ours cannot touch each other). It has
 * no dependencies and requests nothing until a question is asked, then only CHAT-HOST's
 * /api/ask (and /api/feedback). The visit's conversation is kept in sessionStorage (this tab,
 * this site) for 30 minutes after the last question; "New conversation" forgets it.
 * Everything from the server or the page is shown as text, never parsed as HTML.
 */
(function () {
  "use strict";
  var s = document.currentScript;
  if (!s || window.__clinicChatWidget) return;
  window.__clinicChatWidget = true;
  // Filled in by the chat server (embed.py): the disclaimer, numbers to call, limits.
  var C = /*CONFIG*/{"disclaimer": "This is an automated assistant, not a clinician.", "privacy": "", "examples": [], "maxChars": 2000, "emergency": [], "suicide": [], "suicideReason": "", "cautionMark": ""}/*CONFIG*/;
  var d = s.dataset;
  var app = new URL("./", s.src).href;
  var KEY = "clinic-chat:" + app, TTL = 30 * 60 * 1000, KEEP = 40, TURNS = 10;
  var title = d.title || "Questions about restless legs";
  var label = d.label || "Ask about restless legs";

  var st = load();
  function fresh() { return { t: Date.now(), id: rid(), open: false, msgs: [], fb: {} }; }
  function rid() {
    var a = new Uint8Array(12);
    crypto.getRandomValues(a);
    return Array.prototype.map.call(a, function (b) { return (b + 256).toString(16).slice(1); }).join("");
  }
  function load() {
    try {
      var v = JSON.parse(sessionStorage.getItem(KEY));
      if (v && Date.now() - v.t < TTL && Array.isArray(v.msgs) && typeof v.id === "string") {
        v.msgs = v.msgs.filter(function (m) {
          return m && (typeof m.q === "string" || typeof m.e === "string" || (m.a && typeof m.a.answer === "string"));
        });
        v.fb = v.fb || {};
        return v;
      }
    } catch (e) { /* no storage here: the conversation lasts as long as the page */ }
    return fresh();
  }
  function save() {
    st.msgs = st.msgs.slice(-KEEP);
    try { sessionStorage.setItem(KEY, JSON.stringify(st)); } catch (e) { /* full or blocked */ }
  }

  function el(tag, attrs, kids) {
    var e = document.createElement(tag);
    for (var k in attrs || {}) {
      if (k === "text") e.textContent = attrs[k];
      else if (attrs[k] !== null && attrs[k] !== undefined) e.setAttribute(k, attrs[k]);
    }
    (kids || []).forEach(function (c) { if (c) e.appendChild(c); });
    return e;
  }

  var side = d.position === "left" ? "left" : "right";
  var css =
    ":host{all:initial}" +
    "*{box-sizing:border-box;font-family:system-ui,-apple-system,'Segoe UI',Roboto,Arial,sans-serif}" +
    ".b,.p{position:fixed;" + side + ":20px;z-index:2147483000}" +
    ".b{bottom:20px;border:0;border-radius:26px;min-height:48px;min-width:48px;padding:12px 18px;" +
    "background:var(--bg);color:var(--fg);font-size:15px;font-weight:600;cursor:pointer;" +
    "box-shadow:0 2px 10px #0004}" +
    ".b.o{padding:12px;font-size:24px;line-height:1}" +
    "button:focus-visible,a:focus-visible,textarea:focus-visible,.log:focus-visible{outline:3px solid #f5b700;outline-offset:2px}" +
    ".p{bottom:80px;width:min(400px,calc(100vw - 24px));height:min(640px,calc(100vh - 100px));" +
    "display:flex;flex-direction:column;background:#fff;color:#1f2937;border-radius:12px;" +
    "overflow:hidden;box-shadow:0 4px 24px #0005;font-size:15px;line-height:1.45}" +
    ".p[hidden]{display:none}" +
    ".h{display:flex;align-items:center;gap:6px;padding:8px 10px 8px 14px;background:var(--bg);color:var(--fg)}" +
    "h2{flex:1;margin:0;font-size:15px;font-weight:600;color:inherit;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}" +
    ".h button{border:1px solid currentColor;background:none;color:inherit;border-radius:6px;" +
    "font-size:13px;padding:4px 8px;cursor:pointer;white-space:nowrap}" +
    ".h .x{display:none;border:0;font-size:24px;line-height:1;padding:2px 8px}" +
    ".log{flex:1;overflow-y:auto;padding:10px 12px;position:relative;overscroll-behavior:contain}" +
    ".log p{margin:0 0 6px}.log ul{margin:4px 0 6px;padding-left:20px}.log li{margin:2px 0}" +
    ".u{margin:10px 0 10px auto;max-width:85%;width:fit-content;background:#e8f0fe;color:#1f2937;" +
    "border-radius:12px 12px 2px 12px;padding:6px 10px;white-space:pre-wrap;overflow-wrap:anywhere}" +
    ".a{margin:4px 0 12px;padding:8px 10px;border:1px solid #dde1e6;border-radius:2px 12px 12px 12px;overflow-wrap:anywhere}" +
    ".wait{color:#475569;font-style:italic}.err{color:#991b1b}" +
    ".c{font-weight:600;color:#1e40af}" +
    ".rev{color:#166534;font-weight:600}" +
    ".disc{background:#fffbeb;border:1px solid #b45309;border-left:5px solid #b45309;border-radius:6px;padding:6px 9px;font-size:14px}" +
    ".greet{margin:0 0 8px}.ex{display:flex;flex-wrap:wrap;gap:6px;margin-top:8px}" +
    ".ex button,.chip,.fb button{border:1px solid #94a3b8;background:#f8fafc;color:#1f2937;border-radius:14px;" +
    "padding:4px 10px;font-size:13px;cursor:pointer;text-align:left}" +
    ".chips{display:flex;flex-wrap:wrap;gap:6px;margin-top:6px}" +
    ".chip{max-width:100%;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}" +
    ".chip[aria-expanded=true]{background:#1e40af;border-color:#1e40af;color:#fff}" +
    ".qs{margin-top:6px;border-left:3px solid #94a3b8;background:#f8fafc;padding:6px 9px;font-size:14px}" +
    ".qs[hidden]{display:none}.qs blockquote{margin:0 0 6px}" +
    ".qs mark{background:#fde68a;color:#111827}.qs a{color:#1e40af}" +
    ".qs .caution{margin:-2px 0 6px;border-left:3px solid #b45309;background:#fffbeb;color:#78350f;padding:3px 7px}.flag{color:#78350f;font-size:13px}" +
    ".fb{display:flex;gap:6px;align-items:center;margin-top:8px;font-size:13px;color:#475569}" +
    ".fb button[aria-pressed=true]{background:#1e40af;border-color:#1e40af;color:#fff}" +
    ".emg{border:2px solid #b91c1c;border-left-width:7px;background:#fef2f2;color:#7f1d1d;border-radius:8px}" +
    ".emg .t{font-weight:700;text-transform:uppercase;font-size:12px;letter-spacing:.04em}" +
    ".net{border-left:5px solid #b45309;background:#fffbeb;padding:5px 8px;margin-bottom:6px;border-radius:4px}" +
    ".calls{list-style:none;padding:0!important}.calls li{margin:6px 0}" +
    "a.call{display:inline-block;background:#b91c1c;color:#fff;font-weight:700;text-decoration:none;" +
    "border-radius:6px;padding:7px 14px;margin-right:6px}" +
    ".net a.call{background:#92400e}" +
    ".foot{margin:0;padding:3px 12px;font-size:13px;color:#334155;border-top:1px solid #e2e8f0}" +
    ".foot[hidden]{display:none}.foot button{border:0;background:none;color:#1e40af;text-decoration:underline;padding:0;font-size:13px;cursor:pointer}" +
    ".full{margin:3px 0 0}" +
    "form{display:flex;gap:6px;align-items:flex-end;padding:8px 10px;border-top:1px solid #e2e8f0;background:#fff}" +
    "textarea{flex:1;resize:none;border:1px solid #64748b;border-radius:8px;padding:8px;font-size:16px;" +
    "line-height:1.3;max-height:6.5em;min-height:40px;color:#1f2937;background:#fff}" +
    "form button{border:0;border-radius:8px;background:var(--bg);color:var(--fg);font-weight:600;" +
    "font-size:15px;padding:0 14px;min-height:40px;cursor:pointer}" +
    "form button:disabled{opacity:.6;cursor:progress}" +
    ".sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}" +
    "@media (max-width:480px){.p{left:0;right:0;top:0;bottom:0;width:auto;height:100%;border-radius:0}" +
    ".h .x{display:block}.b.o{display:none}.long{display:none}}";

  var host = document.createElement("clinic-chat");
  host.setAttribute("data-clinic-chat", "");
  host.style.setProperty("--bg", d.color || "#1d5c87");
  host.style.setProperty("--fg", d.textColor || "#fff");
  var root = host.attachShadow({ mode: "open" });
  root.appendChild(el("style", { text: css }));

  var h2 = el("h2", { id: "t", text: title });
  var newBtn = el("button", { type: "button", "aria-label": "New conversation" }, [
    el("span", { text: "New" }), el("span", { class: "long", text: " conversation" })]);
  var x = el("button", { type: "button", class: "x", "aria-label": "Close chat", text: "\u00d7" });
  var log = el("div", { class: "log", role: "log", "aria-live": "polite", tabindex: "0", "aria-label": "Conversation" });
  var more = el("button", { type: "button", "aria-expanded": "false", "aria-controls": "full", text: "More" });
  var full = el("p", { class: "full", id: "full", hidden: "" });
  full.textContent = C.disclaimer + (C.privacy ? " " + C.privacy : "");
  var foot = el("div", { class: "foot", role: "note", "aria-label": "Medical disclaimer" }, [
    el("span", { text: "Not medical advice. " }), more, full]);
  var box = el("textarea", { id: "q", rows: "1", maxlength: String(C.maxChars), placeholder: "Type your question", autocomplete: "off" });
  var ask = el("button", { type: "submit", text: "Ask" });
  var form = el("form", {}, [el("label", { for: "q", class: "sr", text: "Your question about restless legs" }), box, ask]);
  var status = el("div", { class: "sr", role: "status" });
  var panel = el("div", { class: "p", id: "p", role: "dialog", "aria-labelledby": "t", hidden: "" }, [
    el("div", { class: "h" }, [h2, newBtn, x]), log, foot, form, status]);
  var button = el("button", { class: "b", type: "button", "aria-expanded": "false", "aria-controls": "p" });
  root.appendChild(panel);
  root.appendChild(button);

  function setLauncher(open) {
    button.setAttribute("aria-expanded", String(open));
    button.className = open ? "b o" : "b";
    button.textContent = open ? "\u00d7" : label;
    if (open) button.setAttribute("aria-label", "Close chat");
    else button.removeAttribute("aria-label");
  }
  setLauncher(false);

  // The bot's own Markdown: paragraphs, "- " items (nested once by indent), **bold**, [n].
  // After the marker of a quote that carries staff's caution (flagged: its ids), a flag.
  function inline(parent, text, flagged) {
    var re = /\*\*(.+?)\*\*|\[(\d+)\]/g, pos = 0, m;
    while ((m = re.exec(text))) {
      parent.appendChild(document.createTextNode(text.slice(pos, m.index)));
      parent.appendChild(m[1] !== undefined ? el("strong", { text: m[1] }) : el("span", { class: "c", text: m[0] }));
      if (m[2] !== undefined && flagged && flagged[m[2]]) parent.appendChild(el("span", { class: "flag", text: " \u26a0 " + C.cautionMark }));
      pos = re.lastIndex;
    }
    parent.appendChild(document.createTextNode(text.slice(pos)));
  }
  function blocks(text, flagged) {
    var out = el("div", { class: "txt" }), ul = null, li = null, p = null;
    String(text || "").split("\n").forEach(function (line) {
      var t = line.trim();
      if (!t) { ul = p = null; return; }
      if (t.slice(0, 2) === "- ") {
        p = null;
        if (/^\s/.test(line) && li) {
          var sub = li.querySelector("ul") || li.appendChild(el("ul"));
          inline(sub.appendChild(el("li")), t.slice(2), flagged);
          return;
        }
        ul = ul || out.appendChild(el("ul"));
        li = ul.appendChild(el("li"));
        inline(li, t.slice(2), flagged);
        return;
      }
      ul = null;
      if (p) p.appendChild(document.createTextNode(" "));
      else p = out.appendChild(el("p"));
      inline(p, t, flagged);
    });
    return out;
  }

  function contacts(a) {
    var safety = a.safety || {}, out = [];
    (safety.contacts || []).forEach(function (c) {
      var tel = String(c.tel || c.number || "").replace(/[^\d+]/g, "");
      if (/^\+?\d{2,15}$/.test(tel)) out.push({ label: c.label || "", number: c.number || tel, tel: tel });
    });
    if (out.length || a.status !== "emergency") return out;
    return safety.kind === "suicide" || a.reason === C.suicideReason ? C.suicide : C.emergency;
  }
  function calls(list) {
    if (!list.length) return el("p", {}, [el("strong", { text: "Call your local emergency number now." })]);
    return el("ul", { class: "calls", "aria-label": "Numbers to call" }, list.map(function (c) {
      return el("li", {}, [el("a", { class: "call", href: "tel:" + c.tel, text: "Call " + c.number }),
        c.label ? el("span", { text: c.label }) : null]);
    }));
  }
  function href(article, cited) {
    return app + "articles/" + encodeURIComponent(article) + "?" +
      cited.map(function (c) { return "q=" + c.start + "-" + c.end; }).join("&") + "#quote-1";
  }
  // One chip per article ("[1] [3] Its title"); it opens the quotes, each a click from the
  // article page on the chat server with the quotes highlighted.
  function chips(a, n) {
    var groups = {}, order = [];
    (a.citations || []).forEach(function (c) {
      if (!groups[c.article]) { groups[c.article] = []; order.push(c.article); }
      groups[c.article].push(c);
    });
    if (!order.length) return null;
    var wrap = el("div", { class: "srcs" }), row = wrap.appendChild(el("div", { class: "chips", role: "group", "aria-label": "Sources" }));
    order.forEach(function (art, i) {
      var cited = groups[art], id = "s" + n + "-" + i;
      var nums = cited.map(function (c) { return "[" + c.id + "]"; }).join(" ");
      var chip = el("button", { type: "button", class: "chip", "aria-expanded": "false", "aria-controls": id, text: nums + " " + cited[0].title });
      var qs = el("div", { class: "qs", id: id, hidden: "" }, cited.map(function (c) {
        var quote = el("blockquote", {}, [el("span", { class: "c", text: "[" + c.id + "] " }), el("mark", { text: c.quote })]);
        return c.caution ? el("div", {}, [quote, el("p", { class: "caution", role: "note", text: "\u26a0 " + c.caution })]) : quote;
      }).concat([el("p", {}, [el("strong", { text: cited[0].title }), document.createTextNode(cited[0].date ? " \u00b7 " + cited[0].date + " \u00b7 " : " \u00b7 "),
        el("a", { href: href(art, cited), target: "_blank", rel: "noopener", text: "Read the article" })])]));
      chip.addEventListener("click", function () {
        var open = chip.getAttribute("aria-expanded") !== "true";
        wrap.querySelectorAll(".chip").forEach(function (b) { b.setAttribute("aria-expanded", "false"); });
        wrap.querySelectorAll(".qs").forEach(function (q) { q.hidden = true; });
        chip.setAttribute("aria-expanded", String(open));
        qs.hidden = !open;
        if (open) qs.scrollIntoView({ block: "nearest" });
      });
      row.appendChild(chip);
      wrap.appendChild(qs);
    });
    return wrap;
  }
  function feedback(a) {
    var fb = el("div", { class: "fb" }, [el("span", { text: "Was this helpful?" })]);
    [["up", "Yes"], ["down", "No"]].forEach(function (r) {
      var b = fb.appendChild(el("button", { type: "button", "aria-pressed": String(st.fb[a.id] === r[0]), text: r[1] }));
      b.addEventListener("click", function () {
        post("api/feedback", { id: a.id, rating: r[0] }).then(function () {
          st.fb[a.id] = r[0];
          save();
          fb.querySelectorAll("button").forEach(function (x) { x.setAttribute("aria-pressed", String(x === b)); });
          say("Thank you: the clinic's staff will see your rating.");
        }, function () { say("Sorry, your rating could not be saved."); });
      });
    });
    return fb;
  }
  function answerEl(a, n) {
    var list = contacts(a);
    if (a.status === "emergency") {
      return el("div", { class: "a emg" }, [el("p", { class: "t", text: "Emergency" }), blocks(a.answer), calls(list)]);
    }
    var text = String(a.answer || ""), net = null, flagged = {};
    (a.citations || []).forEach(function (c) { if (c.caution) flagged[c.id] = true; });
    if (a.safety && a.safety.tier === "safety_net") {
      var cut = text.indexOf("\n");
      net = el("div", { class: "net" }, [blocks(cut < 0 ? text : text.slice(0, cut)), list.length ? calls(list) : null]);
      text = cut < 0 ? "" : text.slice(cut + 1);
    }
    return el("div", { class: "a" }, [a.reviewed ? el("p", { class: "rev", text: "\u2714 Reviewed by clinic staff" }) : null,
      net, blocks(text, flagged), chips(a, n), a.id ? feedback(a) : null]);
  }
  function msgEl(m, n) {
    if (m.q !== undefined) return el("div", { class: "u", text: m.q });
    if (m.a) return answerEl(m.a, n);
    return el("div", { class: "a " + (m.wait ? "wait" : "err"), text: m.e });
  }
  function intro() {
    var ex = el("div", { class: "ex", role: "group", "aria-label": "Example questions" });
    (C.examples || []).forEach(function (q) {
      ex.appendChild(el("button", { type: "button", text: q })).addEventListener("click", function () { send(q); });
    });
    return el("div", { class: "intro" }, [d.greeting ? el("p", { class: "greet", text: d.greeting }) : null,
      el("div", { class: "disc", role: "note", "aria-label": "Medical disclaimer" }, [
        el("strong", { text: "Please read: " }), document.createTextNode(C.disclaimer)]),
      C.privacy ? el("p", { class: "greet", text: C.privacy, style: "margin-top:6px" }) : null, ex]);
  }
  function render() {
    log.textContent = "";
    if (!st.msgs.length) log.appendChild(intro());
    st.msgs.forEach(function (m, i) { log.appendChild(msgEl(m, i)); });
    foot.hidden = !st.msgs.length;
  }
  // The new answer's start at the top of the view (with its question when that fits).
  function reveal() {
    var items = log.children, last = items[items.length - 1], q = items[items.length - 2];
    if (!last) return;
    var top = last.offsetTop - log.clientHeight / 4;
    log.scrollTop = Math.max(q ? q.offsetTop : 0, top) - 8;
  }
  function say(text) { status.textContent = ""; setTimeout(function () { status.textContent = text; }, 50); }

  function post(path, body) {
    return fetch(app + path, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
      credentials: "omit", referrerPolicy: "origin", mode: "cors"
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (j) {
        if (r.ok) return j;
        throw { msg: r.status === 429 ? "You have asked many questions in a short time. Please wait a minute and try again."
          : j.error ? "Sorry: " + j.error + "." : "Sorry, something went wrong on our side. Please try again." };
      });
    });
  }
  var busy = false;
  function send(text) {
    text = String(text || "").trim();
    if (busy) return;
    if (!text) { say("Please type a question first."); return; }
    busy = true;
    ask.disabled = true;
    var history = [];
    st.msgs.forEach(function (m, i) {
      var next = st.msgs[i + 1];
      if (m.q !== undefined && next && next.a) history.push({ role: "user", content: m.q.slice(0, 20000) }, { role: "assistant", content: String(next.a.answer).slice(0, 20000) });
    });
    st.msgs.push({ q: text });
    st.t = Date.now();
    box.value = "";
    grow();
    var wait = { e: "Looking in the clinic's articles\u2026", wait: true }, mine = st;
    render();
    log.appendChild(msgEl(wait));
    reveal();
    post("api/ask", { question: text, history: history.slice(-TURNS * 2), conversation: st.id, channel: "widget" }).then(function (a) {
      mine.msgs.push({ a: { status: a.status, answer: a.answer, citations: a.citations || [], id: a.id, safety: a.safety || null, reason: a.reason || "", reviewed: !!a.reviewed } });
    }, function (err) {
      mine.msgs.push({ e: (err && err.msg) || "Sorry, the chat could not be reached. Please try again in a moment." });
    }).then(function () {
      busy = false;
      ask.disabled = false;
      if (mine !== st) return; // "New conversation" was pressed meanwhile: this reply is dropped
      save();
      render();
      reveal();
    });
  }
  function grow() { box.style.height = "auto"; box.style.height = Math.min(box.scrollHeight + 2, 120) + "px"; }

  function open(auto) {
    panel.hidden = false;
    setLauncher(true);
    st.open = true;
    save();
    fit();
    reveal();
    if (!auto) box.focus();
  }
  function shut() {
    panel.hidden = true;
    setLauncher(false);
    st.open = false;
    save();
    button.focus();
  }
  // On a phone the panel fills the screen; with the keyboard up it fits what is left of it.
  function fit() {
    var v = window.visualViewport, phone = innerWidth <= 480;
    panel.style.height = phone && v ? v.height + "px" : "";
    panel.style.top = phone && v ? v.offsetTop + "px" : "";
  }
  if (window.visualViewport) visualViewport.addEventListener("resize", fit);

  button.addEventListener("click", function () { if (panel.hidden) open(); else shut(); });
  x.addEventListener("click", shut);
  root.addEventListener("keydown", function (e) { if (e.key === "Escape" && !panel.hidden) shut(); });
  newBtn.addEventListener("click", function () {
    st = fresh();
    st.open = true;
    save();
    render();
    box.focus();
    say("New conversation started.");
  });
  more.addEventListener("click", function () {
    var opened = more.getAttribute("aria-expanded") !== "true";
    more.setAttribute("aria-expanded", String(opened));
    full.hidden = !opened;
  });
  form.addEventListener("submit", function (e) { e.preventDefault(); send(box.value); });
  box.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); send(box.value); }
  });
  box.addEventListener("input", grow);

  function mount() {
    render();
    document.body.appendChild(host);
    if (st.open || d.open === "true") open(true);
  }
  if (document.body) mount(); else document.addEventListener("DOMContentLoaded", mount);
})();
