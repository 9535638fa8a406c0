// The pay page's hold countdown ("9:41 left"); the deadline itself is in the page for everyone.
(function () {
  var nodes = document.querySelectorAll("[data-countdown]");
  if (!nodes.length) {
    return;
  }
  function tick() {
    nodes.forEach(function (node) {
      var left = Math.max(0, Math.floor((Date.parse(node.dataset.countdown) - Date.now()) / 1000));
      node.textContent = left > 0
        ? " (" + Math.floor(left / 60) + ":" + String(left % 60).padStart(2, "0") + " left)"
        : " (the hold has run out: pick the time again)";
    });
  }
  tick();
  setInterval(tick, 1000);
})();
