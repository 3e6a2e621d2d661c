// Draws every chart of a page: each <div class="sikta-chart"> carries its plotly figure as JSON in
// data-figure. A file, not an inline script: the pages' Content-Security-Policy allows only this server's scripts.
document.querySelectorAll("div.sikta-chart[data-figure]").forEach(function (el) {
  var fig = JSON.parse(el.getAttribute("data-figure"));
  Plotly.newPlot(el, fig.data, fig.layout, fig.config).then(function () {
    // a chart whose layout says so opens the account of a clicked point (its id in customdata)
    var link = fig.layout && fig.layout.meta && fig.layout.meta.account_link;
    if (!link) return;
    el.on("plotly_click", function (ev) {
      var p = ev.points && ev.points[0];
      var id = p && p.customdata !== undefined ? (Array.isArray(p.customdata) ? p.customdata[link.index] : p.customdata) : null;
      if (id) window.location.href = "/accounts/" + encodeURIComponent(id);
    });
  });
});
