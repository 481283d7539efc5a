"""Streamlit's own browser texts in the user's language.

Streamlit's web frontend has English built in: the "Page not found" dialog (a deep link to a page the app
does not have), the "Running..." / "Stop" status, "Press Enter to apply" under a text field, file sizes
("0.7KB") in the uploader, the date picker's month and weekday names and its "DD.MM.YYYY" placeholder, the
table toolbar's tooltips. It has no language setting, so :func:`install` puts a small script into the page
(``st.html(..., unsafe_allow_javascript=True)``; its only input is the catalogue texts, JSON-encoded) that
watches the page (``MutationObserver``) and rewrites exactly these texts — whole text nodes, placeholders,
titles and aria-labels — from ``gis_planner/i18n/app-ui.yaml``. Nothing else on the page is touched.

The app avoids the "Page not found" case itself where it can (``/overview`` is routed to the overview page,
``gis_planner.ui.app.main``); the dialog's texts are translated for any other unknown address.
"""
from __future__ import annotations

import json

from ..i18n import t
from ..report.fmt import fmt_number

# Streamlit's English (whole text of an element, after trimming) -> message key
TEXTS = {
    "Page not found": "appui.st.page_not_found",
    "The page that you have requested does not seem to exist. Running the app's main page.":
        "appui.st.page_not_found_text",
    "Running...": "appui.st.running",
    "Stop": "appui.st.stop",
    "Connection error": "appui.st.connection_error",
    "Press Enter to apply": "appui.st.press_enter",
    "Press Enter to submit form": "appui.st.press_enter_form",
    "Press ⌘+Enter to apply": "appui.st.press_ctrl_enter",
    "Press Ctrl+Enter to apply": "appui.st.press_ctrl_enter",
    "Press Enter to add": "appui.st.press_enter",
    "Choose an option": "appui.st.choose",
    "Choose options": "appui.st.choose",
    "No results": "appui.st.no_results",
}
# titles / aria-labels / placeholders Streamlit sets in English
ATTRS = {
    "Download as CSV": "appui.st.download_csv",
    "Search": "appui.st.search",
    "Fullscreen": "appui.st.fullscreen",
    "Close fullscreen": "appui.st.close_fullscreen",
    "Clear all": "appui.st.clear",
    "Clear value": "appui.st.clear",
    "Open": "appui.st.open",
    "Close": "appui.leaflet.close_popup",
    "Previous month.": "appui.st.prev_month",
    "Next month.": "appui.st.next_month",
    "DD.MM.YYYY": "appui.st.date_placeholder",
    "YYYY/MM/DD": "appui.st.date_placeholder_iso",
}
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]
WEEKDAYS = ["Mo", "Tu", "We", "Th", "Fr", "Sa", "Su"]
SIZE_UNITS = {"B": "appui.unit.b", "KB": "appui.unit.kb", "MB": "appui.unit.mb", "GB": "appui.unit.gb"}


def texts(lang: str) -> dict:
    """Everything the script needs, in ``lang``: whole texts, attribute texts, calendar names, size units,
    the decimal comma."""
    months = t("appui.st.months", lang).split(",")
    days = t("appui.st.weekdays", lang).split(",")
    return {
        "text": {en: t(key, lang) for en, key in TEXTS.items()},
        "attr": {en: t(key, lang) for en, key in ATTRS.items()},
        "months": dict(zip(MONTHS, [m.strip() for m in months])),
        "days": dict(zip(WEEKDAYS, [d.strip() for d in days])),
        "units": {u: t(key, lang) for u, key in SIZE_UNITS.items()},
        "decimal": fmt_number(0.5, lang, 1)[1],
        "lang": lang,
    }


SCRIPT = """
<script>
(function () {
  window.__gpI18n = %(texts)s;
  document.documentElement.lang = window.__gpI18n.lang;
  if (window.__gpI18nObserver) { window.__gpI18nFix(document.body); return; }
  var SIZE = /^(\\d+(?:\\.\\d+)?)\\s?(B|KB|MB|GB)$/;
  var MONTH_YEAR = /^([A-Z][a-z]+) (\\d{4})$/;
  function fixText(node) {
    var T = window.__gpI18n, raw = node.nodeValue, s = raw.trim(), out = null, m;
    if (!s) { return; }
    if (T.text[s] !== undefined) { out = T.text[s]; }
    else if ((m = SIZE.exec(s))) { out = m[1].replace('.', T.decimal) + '\\u00a0' + T.units[m[2]]; }
    else {
      var cal = node.parentElement && node.parentElement.closest('[data-baseweb="calendar"]');
      if (cal) {
        if (T.months[s] !== undefined) { out = T.months[s]; }
        else if (T.days[s] !== undefined) { out = T.days[s]; }
        else if ((m = MONTH_YEAR.exec(s)) && T.months[m[1]] !== undefined) { out = T.months[m[1]] + ' ' + m[2]; }
      }
    }
    if (out !== null && out !== s) { node.nodeValue = raw.replace(s, out); }
  }
  function fixAttrs(el) {
    var T = window.__gpI18n;
    ['title', 'aria-label', 'placeholder'].forEach(function (a) {
      var v = el.getAttribute && el.getAttribute(a);
      if (v && T.attr[v] !== undefined) { el.setAttribute(a, T.attr[v]); }
      else if (v && T.text[v] !== undefined) { el.setAttribute(a, T.text[v]); }
    });
  }
  function fix(root) {
    if (!root) { return; }
    if (root.nodeType === 3) { fixText(root); return; }
    if (root.nodeType !== 1) { return; }
    fixAttrs(root);
    var w = document.createTreeWalker(root, NodeFilter.SHOW_TEXT), n;
    while ((n = w.nextNode())) { fixText(n); }
    var els = root.querySelectorAll('[title],[aria-label],[placeholder]');
    for (var i = 0; i < els.length; i++) { fixAttrs(els[i]); }
  }
  window.__gpI18nFix = fix;
  window.__gpI18nObserver = new MutationObserver(function (records) {
    records.forEach(function (r) {
      if (r.type === 'characterData') { fixText(r.target); }
      else if (r.type === 'attributes') { fixAttrs(r.target); }
      else { r.addedNodes.forEach(fix); }
    });
  });
  window.__gpI18nObserver.observe(document.body, {subtree: true, childList: true, characterData: true,
                                                   attributes: true,
                                                   attributeFilter: ['title', 'aria-label', 'placeholder']});
  fix(document.body);
})();
</script>
"""


def script(lang: str) -> str:
    """The ``<script>`` for ``lang`` (texts JSON-encoded, ``</`` escaped)."""
    return SCRIPT % {"texts": json.dumps(texts(lang), ensure_ascii=False).replace("</", "<\\/")}


def install(lang: str) -> None:
    """Put the translating script into the page (once per language; a rerun keeps the same element)."""
    import streamlit as st

    with st.sidebar:   # (English too: after a switch back the page must stop translating into the old language)
        st.html(script(lang), unsafe_allow_javascript=True)
