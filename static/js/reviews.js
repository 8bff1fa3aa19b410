/* Review screens: keyboard shortcuts, and keeping the reviewer's place across htmx refreshes. */
(function () {
  "use strict";
  var selectedId = null;
  var pendingG = false;

  function typing(el) {
    return el && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName));
  }
  function rows() { return Array.prototype.slice.call(document.querySelectorAll("#queue-table tbody tr[data-case-id]")); }
  function select(row) {
    rows().forEach(function (r) { r.classList.remove("selected"); r.removeAttribute("aria-selected"); });
    if (!row) { selectedId = null; return; }
    row.classList.add("selected");
    row.setAttribute("aria-selected", "true");
    selectedId = row.getAttribute("data-case-id");
    var link = row.querySelector("a");
    if (link) { link.focus({ preventScroll: true }); }
    row.scrollIntoView({ block: "nearest" });
  }
  function current() {
    return rows().filter(function (r) { return r.getAttribute("data-case-id") === selectedId; })[0] || null;
  }
  function move(step) {
    var all = rows(); if (!all.length) { return; }
    var i = all.indexOf(current());
    select(all[i < 0 ? 0 : Math.max(0, Math.min(all.length - 1, i + step))]);
  }
  function click(selector) { var el = document.querySelector(selector); if (el && !el.disabled) { el.click(); return true; } return false; }
  function focus(selector) { var el = document.querySelector(selector); if (el) { el.focus(); el.scrollIntoView({ block: "center" }); } }

  // After an htmx refresh of the queue, put the selection (and focus) back where it was.
  document.addEventListener("htmx:afterSwap", function () {
    var row = current();
    if (row) { row.classList.add("selected"); row.setAttribute("aria-selected", "true"); }
  });
  // Do not refresh under the reviewer's feet while they are choosing in the filter form.
  document.addEventListener("htmx:beforeRequest", function (e) {
    var active = document.activeElement;
    if (active && active.closest && active.closest("#queue-filters")) { e.preventDefault(); }
  });

  document.addEventListener("keydown", function (e) {
    var dialog = document.getElementById("shortcuts");
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey) && typing(e.target) && e.target.form) {
      e.preventDefault();
      var submit = e.target.form.querySelector("button[type=submit]:not([formaction]), button[type=submit]");
      if (submit) { submit.click(); }
      return;
    }
    if (e.ctrlKey || e.metaKey || e.altKey || typing(e.target)) { return; }
    if (pendingG) {
      pendingG = false;
      if (e.key === "q") { window.location.href = "/reviews/"; }
      if (e.key === "m") { window.location.href = "/reviews/metrics/"; }
      return;
    }
    switch (e.key) {
      case "?": if (dialog && dialog.showModal) { e.preventDefault(); dialog.showModal(); } break;
      case "g": pendingG = true; setTimeout(function () { pendingG = false; }, 1200); break;
      case "j": e.preventDefault(); move(1); break;
      case "k": e.preventDefault(); move(-1); break;
      case "o": case "Enter":
        var row = current();
        if (row && e.target.tagName !== "A" && e.target.tagName !== "BUTTON") { window.location.href = row.getAttribute("data-href"); }
        else if (row && e.key === "o") { window.location.href = row.getAttribute("data-href"); }
        break;
      case "/": e.preventDefault(); focus("#q"); break;
      case "[": click("a[rel=prev]"); break;
      case "]": click("a[rel=next]"); break;
      case "c":
        var sel = current();
        if (sel) { var b = sel.querySelector("[data-claim]"); if (b) { b.click(); } }
        else { click("#claim-button"); }
        break;
      case "a": if (click("#outcome-approve")) { focus("#outcome-approve"); } break;
      case "d": if (click("#outcome-decline")) { focus(".code-list input"); } break;
      case "r": e.preventDefault(); focus("#id_rationale, #id_second-rationale"); break;
      case "i": e.preventDefault(); focus("#id_info-rationale"); break;
      case "u": window.location.href = "/reviews/"; break;
      default: break;
    }
  });
  // Tests (and people's scripts) can wait for this before using the shortcuts.
  document.documentElement.setAttribute("data-shortcuts", "ready");
})();
