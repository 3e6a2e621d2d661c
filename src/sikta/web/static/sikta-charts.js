// Draws every chart of a page: each <div class="sikta-chart"> carries its plotly figure as JSON in
// data-figure. A file, not an inline script: the pages' Content-Security-Policy allows only this server's scripts.
document.querySelectorAll("div.sikta-chart[data-figure]").forEach(function (el) {
  var fig = JSON.parse(el.getAttribute("data-figure"));
  Plotly.newPlot(el, fig.data, fig.layout, fig.config);
});
