"""``index.html``: one self-contained page with every table and figure of a report.

The page opens offline: no script, no web font, no CDN; the style sheet is inline and figures are
``<img>`` tags with paths relative to the page (the PNGs sit beside it). Every text that comes from
the results (method names, notes, environment values) is HTML-escaped.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd

from .figures import FigureFile

__all__ = ["Page", "Section", "render_page", "table_html"]

CSS = """
*, *::before, *::after { box-sizing: border-box; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
       margin: 0 auto; max-width: 1320px; padding: 1.2em 2em 3em; color: #1d2430;
       background: #fbfbfd; line-height: 1.45; }
h1 { font-size: 1.7em; margin-bottom: 0.1em; }
h2 { font-size: 1.3em; margin-top: 2em; border-bottom: 2px solid #d8dde6; padding-bottom: 0.2em; }
h3 { font-size: 1.05em; margin-top: 1.4em; }
.meta { color: #4a5568; margin-top: 0.2em; }
.meta code, td code { background: #eef1f6; padding: 0 0.3em; border-radius: 3px; }
nav { background: #eef1f6; padding: 0.5em 1em; border-radius: 6px; margin: 1em 0;
      display: flex; flex-wrap: wrap; gap: 0.3em 1.2em; }
nav a { color: #1f4e8c; text-decoration: none; white-space: nowrap; }
table.tbl { border-collapse: collapse; margin: 0.6em 0 0.4em; font-size: 0.88em;
            background: white; box-shadow: 0 1px 2px rgba(0,0,0,0.08); }
table.tbl th, table.tbl td { border: 1px solid #d8dde6; padding: 0.3em 0.6em; }
table.tbl th { background: #e9edf3; text-align: left; vertical-align: bottom; }
table.tbl td { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.tbl td:first-child { text-align: left; font-weight: 600; }
table.tbl tr:nth-child(even) td { background: #f6f8fb; }
table.wide td { white-space: normal; text-align: left; font-weight: normal; }
.scroll { overflow-x: auto; }
.legend, .note { color: #4a5568; font-size: 0.9em; max-width: 70em; }
ul.notes li { margin: 0.2em 0; }
figure { margin: 1.2em 0 2em; background: white; padding: 0.8em; border-radius: 6px;
         box-shadow: 0 1px 3px rgba(0,0,0,0.1); }
figure img { max-width: 100%; height: auto; display: block; margin: 0 auto; }
figcaption { color: #4a5568; font-size: 0.9em; margin-top: 0.5em; }
figcaption b { color: #1d2430; }
"""


@dataclass
class Section:
    """One ``<h2>`` section: an id (anchor), a title and its HTML body."""

    anchor: str
    title: str
    body: str


@dataclass
class Page:
    """What :func:`render_page` lays out."""

    title: str
    meta: Mapping[str, str]
    notes: Sequence[str] = ()
    sections: list[Section] = field(default_factory=list)


def esc(text: object) -> str:
    """HTML-escape any value's ``str``."""
    return html.escape(str(text), quote=True)


def table_html(frame: pd.DataFrame, *, index: bool = False, wide: bool = False) -> str:
    """A DataFrame as an escaped ``<table class="tbl">`` inside a horizontally scrolling div."""
    if frame.empty:
        return '<p class="note">(no rows)</p>'
    classes = "tbl wide" if wide else "tbl"
    text = frame.to_html(
        index=index,
        escape=True,
        border=0,
        classes=classes,
        na_rep="—",
        float_format=lambda v: f"{v:.1f}",
    )
    return f'<div class="scroll">{text}</div>'


def figure_html(fig: FigureFile) -> str:
    """A ``<figure>`` with the PNG (relative path) and its caption."""
    return (
        f'<figure id="fig-{esc(fig.name.removesuffix(".png"))}">'
        f'<img src="{esc(fig.name)}" alt="{esc(fig.title)}" loading="eager">'
        f"<figcaption><b>{esc(fig.title)}</b>: {esc(fig.caption)} "
        f'(<a href="{esc(fig.name)}">{esc(fig.name)}</a>)</figcaption></figure>'
    )


def render_page(page: Page) -> str:
    """The whole ``index.html`` text."""
    meta = " · ".join(f"{esc(k)} <code>{esc(v)}</code>" for k, v in page.meta.items() if v)
    nav = "".join(f'<a href="#{esc(s.anchor)}">{esc(s.title)}</a>' for s in page.sections)
    notes = ""
    if page.notes:
        items = "".join(f"<li>{esc(n)}</li>" for n in page.notes)
        notes = f'<ul class="notes note">{items}</ul>'
    body = "\n".join(
        f'<section id="{esc(s.anchor)}"><h2>{esc(s.title)}</h2>\n{s.body}\n</section>'
        for s in page.sections
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{esc(page.title)}</title>\n<style>{CSS}</style></head>\n"
        f'<body>\n<h1>{esc(page.title)}</h1>\n<p class="meta">{meta}</p>\n{notes}\n'
        f"<nav>{nav}</nav>\n{body}\n</body></html>\n"
    )
