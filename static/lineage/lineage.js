// Lineage figures: a click on a node opens its page (the URL is the point's customdata).
(function () {
  "use strict";
  function wire(div) {
    if (!div || typeof div.on !== "function" || div.dataset.lineageWired) return;
    div.dataset.lineageWired = "1";
    div.on("plotly_click", function (event) {
      var point = event && event.points && event.points[0];
      var url = point && point.customdata;
      if (typeof url === "string" && url.charAt(0) === "/") window.location.assign(url);
    });
  }
  function wireAll() {
    document.querySelectorAll(".lineage-figure-panel .plotly-graph-div").forEach(wire);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", wireAll);
  else wireAll();
})();
