// Tell the server the browser's time zone once, while it does not know one (later pages show
// times in it). A zone chosen on /timezone is never replaced by this.
(function () {
  var body = document.body;
  if (!body || body.dataset.visitorTz || !body.dataset.tzUrl || !window.fetch) {
    return;
  }
  var zone;
  try {
    zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  } catch (e) {
    return;
  }
  if (!zone) {
    return;
  }
  var headers = JSON.parse(body.getAttribute("hx-headers") || "{}");
  headers["Content-Type"] = "application/x-www-form-urlencoded";
  fetch(body.dataset.tzUrl, {
    method: "POST",
    credentials: "same-origin",
    headers: headers,
    body: "detected=1&zone=" + encodeURIComponent(zone),
  });
})();
