"""Self-contained HTML pages: inline CSS, figures as embedded PNG, sortable tables, no external assets.

Low level (beside :mod:`engagegen.files`), so that every package that writes a page (analysis,
report) uses the one style without depending on the report package.

>>> table_tag([{"model": "bcm", "engaged": 0.5}])
'<table class="sortable"><thead><tr><th>model</th><th>engaged</th></tr></thead><tbody><tr><td>bcm</td><td class="num" data-value="0.5">0.5</td></tr></tbody></table>'
>>> page("Cats", "<p>hi</p>").startswith('<!DOCTYPE html><html lang="en">')
True
"""

from __future__ import annotations

import base64
import html
import io
from typing import Any, Sequence

__all__ = ["figure_tag", "table_tag", "page"]

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1100px;color:#222;padding:0 1rem}
h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd;padding-bottom:.2rem}
table{border-collapse:collapse;width:100%;font-size:.88rem;margin:.5rem 0}
th,td{border:1px solid #ddd;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f4f4f4;cursor:pointer;user-select:none}th.sorted-asc::after{content:" \\25B2"}th.sorted-desc::after{content:" \\25BC"}
tr:nth-child(even) td{background:#fafafa}td.num{text-align:right;font-variant-numeric:tabular-nums}
figure{margin:1rem 0}figure img{max-width:100%;border:1px solid #eee}figcaption{font-size:.85rem;color:#555}
.kpi{display:inline-block;margin:.3rem 1rem .3rem 0;padding:.5rem .8rem;background:#f4f7fb;border-radius:6px}
.kpi b{display:block;font-size:1.3rem}.muted{color:#777;font-size:.85rem}
"""

_SORT_JS = """
document.querySelectorAll('table.sortable').forEach(function(table){
  table.querySelectorAll('th').forEach(function(th, col){
    th.addEventListener('click', function(){
      var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
      var asc = !th.classList.contains('sorted-asc');
      table.querySelectorAll('th').forEach(function(h){h.classList.remove('sorted-asc','sorted-desc');});
      th.classList.add(asc ? 'sorted-asc' : 'sorted-desc');
      rows.sort(function(a, b){
        var x = a.cells[col].getAttribute('data-value') || a.cells[col].textContent;
        var y = b.cells[col].getAttribute('data-value') || b.cells[col].textContent;
        var nx = parseFloat(x), ny = parseFloat(y);
        var cmp = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
        return asc ? cmp : -cmp;
      });
      rows.forEach(function(r){ body.appendChild(r); });
    });
  });
});
"""


def figure_tag(fig: Any, caption: str = "", alt: str = "") -> str:
    """A matplotlib figure as an embedded PNG (the figure is closed afterwards)."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
    return f'<figure><img alt="{html.escape(alt or caption)}" src="data:image/png;base64,{data}">{cap}</figure>'


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return f"<td>{'yes' if value else 'no'}</td>"
    if isinstance(value, (int, float)):
        shown = f"{value:.4g}" if isinstance(value, float) else str(value)
        return f'<td class="num" data-value="{value}">{shown}</td>'
    return f"<td>{html.escape('' if value is None else str(value))}</td>"


def table_tag(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None, sortable: bool = True) -> str:
    """An HTML table of dict rows; numeric cells sort numerically when a header is clicked."""
    if not rows:
        return '<p class="muted">(no rows)</p>'
    columns = list(columns or rows[0].keys())
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(_cell(r.get(c)) for c in columns) + "</tr>" for r in rows)
    cls = ' class="sortable"' if sortable else ""
    return f"<table{cls}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def page(title: str, body: str) -> str:
    """A complete HTML document with the shared style and the table sorter."""
    return (
        f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
        f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><style>{_CSS}</style></head>"
        f"<body><h1>{html.escape(title)}</h1>{body}<script>{_SORT_JS}</script></body></html>"
    )
