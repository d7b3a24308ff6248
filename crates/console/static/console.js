// Recaudo console: live updates from the desk stream (GET /api/stream, Server-Sent Events). Every element that
// carries `data-refresh-on` reloads itself (htmx) when an event of the caller's scope arrives; the browser's
// EventSource reconnects by itself with Last-Event-ID, and the server replays what was missed.
(function () {
  "use strict";
  var KINDS = ["case.opened", "case.updated", "case.claimed", "case.escalated", "case.warned", "case.closed",
               "case.transferred", "advisor.away"];
  function announce(text) {
    var region = document.getElementById("live-status");
    if (region && text) { region.textContent = text; }
  }
  function refresh(kind, data) {
    document.querySelectorAll("[data-refresh-on]").forEach(function (el) {
      var caseId = el.getAttribute("data-case-id");
      if (caseId && data && data.case_id && caseId !== data.case_id) { return; }
      if (window.htmx) { window.htmx.trigger(el, "desk-changed"); }
    });
    var label = document.body.getAttribute("data-label-" + kind.replace(".", "-"));
    if (label) { announce(label + (data && data.debtor_id ? " · " + data.debtor_id : "")); }
  }
  function localTimes(root) {
    (root || document).querySelectorAll("time[datetime]").forEach(function (t) {
      var d = new Date(t.getAttribute("datetime"));
      if (!isNaN(d)) { t.textContent = d.toLocaleString(document.documentElement.lang, { dateStyle: "short", timeStyle: "short" }); }
    });
  }
  // The outcome form shows only the fields of the chosen kind (`data-kinds` on each field's label).
  function outcomeFields(root) {
    (root || document).querySelectorAll("select[name='kind']").forEach(function (select) {
      var form = select.form;
      function show() {
        form.querySelectorAll("[data-kinds]").forEach(function (label) {
          label.hidden = label.getAttribute("data-kinds").split(" ").indexOf(select.value) < 0;
        });
      }
      select.addEventListener("change", show);
      show();
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    localTimes(document);
    outcomeFields(document);
    document.body.addEventListener("htmx:afterSwap", function (e) { localTimes(e.target); outcomeFields(e.target); });
    // A successful action clears the refusal of an earlier one.
    document.body.addEventListener("action-done", function () {
      document.querySelectorAll("#case-errors, #team-errors").forEach(function (el) { el.textContent = ""; });
    });
    if (document.body.getAttribute("data-live") !== "true" || !window.EventSource) { return; }
    var source = new EventSource("/api/stream");
    KINDS.forEach(function (kind) {
      source.addEventListener(kind, function (e) {
        var data = null;
        try { data = JSON.parse(e.data); } catch (_) { /* not ours */ }
        refresh(kind, data);
      });
    });
    document.body.setAttribute("data-stream", "connecting");
    source.onopen = function () { document.body.setAttribute("data-stream", "open"); };
    source.onerror = function () { document.body.setAttribute("data-stream", "reconnecting"); };
  });
})();
