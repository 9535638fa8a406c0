// The dashboard's side panel: HTMX fills #side-panel (Messages in the navigation, a block on
// the day grid); this shows it, moves focus into it, and closes it with its Close button or
// Escape, giving focus back to what opened it. Without JavaScript those links open full pages.
(function () {
  "use strict";
  var panel = document.getElementById("side-panel");
  if (!panel) return;
  var opener = null;

  function close() {
    if (panel.hidden) return;
    panel.hidden = true;
    panel.innerHTML = "";
    if (opener && document.body.contains(opener)) opener.focus();
    opener = null;
  }

  document.body.addEventListener("htmx:beforeRequest", function (event) {
    var source = event.detail.elt;
    if (source && source.hasAttribute && source.hasAttribute("data-opens-panel")) opener = source;
  });
  document.body.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target !== panel) return;
    panel.hidden = false;
    panel.focus();
  });
  panel.addEventListener("click", function (event) {
    if (event.target.closest("[data-panel-close]")) close();
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") close();
  });
})();
