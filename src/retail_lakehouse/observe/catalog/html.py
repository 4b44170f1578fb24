"""The catalog as a static HTML site: one page, no JavaScript, no CDN (users may be offline).

The lineage graph is an SVG drawn here: tables placed in columns by their depth from the
source files (a longest-path layering), edges as curves between them."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, PackageLoader

from retail_lakehouse.observe.catalog.build import SOURCE_FILES, CatalogEntry

_NODE_W, _NODE_H, _COL_W, _ROW_H, _PAD = 180, 30, 215, 44, 20


def layout(entries: list[CatalogEntry]) -> dict[str, tuple[int, int]]:
    """Top-left position of each drawn node (tables with lineage, plus the source files)."""
    upstream = {e.table: [u for u in e.upstream] for e in entries if e.upstream or e.downstream}
    if not upstream:
        return {}
    upstream.setdefault(SOURCE_FILES, [])
    depth: dict[str, int] = {}

    def level(node: str, path: frozenset[str] = frozenset()) -> int:
        if node not in depth:
            parents = [p for p in upstream.get(node, []) if p not in path]
            depth[node] = 1 + max((level(p, path | {node}) for p in parents), default=-1)
        return depth[node]

    for node in upstream:
        level(node)
    rows: dict[int, int] = {}
    positions = {}
    for node in sorted(upstream, key=lambda n: (depth[n], n)):
        column = depth[node]
        positions[node] = (_PAD + column * _COL_W, _PAD + rows.get(column, 0) * _ROW_H)
        rows[column] = rows.get(column, 0) + 1
    return positions


def lineage_svg(entries: list[CatalogEntry]) -> str:
    positions = layout(entries)
    if not positions:
        return ""
    width = max(x for x, _ in positions.values()) + _NODE_W + _PAD
    height = max(y for _, y in positions.values()) + _NODE_H + _PAD
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="table lineage">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" '
        'markerHeight="6" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" '
        'fill="#7a8796"/></marker></defs>',
    ]
    for entry in entries:
        if entry.table not in positions:
            continue
        tx, ty = positions[entry.table]
        for source in entry.upstream:
            if source not in positions:
                continue
            sx, sy = positions[source]
            x1, y1, x2, y2 = sx + _NODE_W, sy + _NODE_H / 2, tx, ty + _NODE_H / 2
            mid = (x1 + x2) / 2
            parts.append(
                f'<path class="edge" d="M {x1} {y1} C {mid} {y1}, {mid} {y2}, {x2} {y2}" '
                'fill="none" stroke="#7a8796" stroke-width="1.2" marker-end="url(#arrow)"/>'
            )
    for node, (x, y) in positions.items():
        layer = node.partition(".")[0] if node != SOURCE_FILES else "source"
        link = f"#{node}" if node != SOURCE_FILES else "#"
        parts.append(
            f'<a href="{link}"><g class="node {layer}"><rect x="{x}" y="{y}" width="{_NODE_W}" '
            f'height="{_NODE_H}" rx="6"/><text x="{x + 10}" y="{y + 20}">{node}</text></g></a>'
        )
    parts.append("</svg>")
    return "\n".join(parts)


def write_site(entries: list[CatalogEntry], folder: Path, generated_at: str) -> Path:
    """Write ``index.html`` into ``folder`` and return its path."""
    env = Environment(
        loader=PackageLoader("retail_lakehouse.observe.catalog", "templates"),
        # every value escaped: example values come from source files. select_autoescape(["html"])
        # left this template (``catalog.html.j2``) unescaped, and a description reading
        # ``<script>...`` ran in the page
        autoescape=True,
    )
    page = env.get_template("catalog.html.j2").render(
        entries=entries, svg=lineage_svg(entries), generated_at=generated_at
    )
    folder.mkdir(parents=True, exist_ok=True)
    index = folder / "index.html"
    index.write_text(page, encoding="utf-8")
    return index
