// Small conveniences of every page (a file, not inline script: the CSP allows only this server's scripts).
// 1. A table row with data-href opens that page when clicked (links and buttons inside keep their own).
document.addEventListener("click", function (ev) {
  var row = ev.target.closest("tr[data-href]");
  if (!row || ev.target.closest("a, button, input, select, label")) return;
  window.location.href = row.getAttribute("data-href");
});
// 2. The model editor previews the edited model as you type (what-if: nothing is stored).
(function () {
  var form = document.getElementById("model-form");
  var text = document.getElementById("model-text");
  if (!form || !text || !form.getAttribute("data-preview")) return;
  var timer = null, seq = 0;
  function refresh() {
    var mine = ++seq;
    var data = new FormData();
    data.append("text", text.value);
    data.append("csrf", form.querySelector("input[name=csrf]").value);
    data.append("fragment", "1");
    fetch(form.getAttribute("data-preview"), {method: "POST", body: data, credentials: "same-origin"})
      .then(function (r) { return r.text(); })
      .then(function (html) {
        if (mine !== seq) return;  // a newer edit is on its way
        var box = document.getElementById("preview");
        if (box) box.outerHTML = html;
      });
  }
  text.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(refresh, 600);
  });
})();
