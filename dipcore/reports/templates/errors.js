// Record script errors on <html> before anything else runs, so a check (or a reader's
// developer tools) sees what failed: "none" once this script has run without error.
(function () {
  var root = document.documentElement, errors = [];
  root.setAttribute("data-script-errors", "none");
  window.onerror = function (message) {
    errors.push(String(message));
    root.setAttribute("data-script-errors", errors.join(" | "));
  };
  window.addEventListener("unhandledrejection", function (event) {
    errors.push("unhandled rejection: " + String(event.reason));
    root.setAttribute("data-script-errors", errors.join(" | "));
  });
})();
