// Draw every figure from its JSON; count those drawn on <html> (data-charts-drawn).
(function () {
  var root = document.documentElement, drawn = 0;
  var config = {displaylogo: false, responsive: true, showLink: false, showSendToCloud: false,
                modeBarButtonsToRemove: ["sendDataToCloud", "select2d", "lasso2d"]};
  var plots = [];
  document.querySelectorAll("script.figure").forEach(function (node) {
    var target = document.getElementById(node.getAttribute("data-target"));
    var figure = JSON.parse(node.textContent);
    plots.push(target);
    Plotly.newPlot(target, figure.data, figure.layout, config).then(function () {
      drawn += 1;
      root.setAttribute("data-charts-drawn", String(drawn));
    });
  });
  // Paper is narrower than most screens: fit the charts to the page while printing.
  function fit(width) {
    plots.forEach(function (p) {
      if (p.data) { Plotly.relayout(p, {width: width, autosize: width === null}); }
    });
  }
  window.addEventListener("beforeprint", function () { fit(680); });
  window.addEventListener("afterprint", function () { fit(null); });
})();
