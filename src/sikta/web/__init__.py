"""The web adapter: the HTML pages (:mod:`sikta.web.pages`), the charts and the static report."""
