#!/usr/bin/env python3
"""Plots and tables for docs/benchmarks.md from criterion's JSON output.

Reads every target/criterion/**/new/{benchmark,estimates}.json (or another
criterion directory given with --dir) and

* writes docs/hot_path.svg: median get + drop time per size, one bar per crate
  (log scale), from the `hot_path` group;
* writes docs/mt_scaling.svg: median time per iteration (200 ops of 64 KiB on
  every thread) against the thread count, one line per crate, from the
  `realistic_write_mt` group;
* with --tables, prints a Markdown table of medians per group, each cell with
  its ratio to bufpool (peer / bufpool: above 1 means bufpool is faster).

Plain python3, no dependencies:

    python3 scripts/plot.py                    # both SVGs
    python3 scripts/plot.py --tables           # and the Markdown tables on stdout
    python3 scripts/plot.py --dir target/nostats/criterion --tables --no-svg
"""

import argparse
import glob
import json
import math
import os
import sys

COLORS = {
    "bufpool": "#1b9e77",
    "zeropool_uninit": "#d95f02",
    "zeropool": "#fdae61",
    "opool": "#7570b3",
    "opool_rc": "#b3b0e0",
    "object_pool": "#e7298a",
    "bytes": "#66a61e",
    "vec": "#666666",
}
ORDER = list(COLORS)


def load(root):
    """{group: {(function, value): median_ns}}"""
    out = {}
    for bj in glob.glob(os.path.join(root, "**", "new", "benchmark.json"), recursive=True):
        d = os.path.dirname(bj)
        try:
            with open(bj) as f:
                b = json.load(f)
            with open(os.path.join(d, "estimates.json")) as f:
                e = json.load(f)
        except (OSError, ValueError):
            continue
        group = b.get("group_id")
        func = b.get("function_id") or ""
        value = b.get("value_str") or ""
        out.setdefault(group, {})[(func, value)] = e["median"]["point_estimate"]
    return out


def fmt_ns(ns):
    if ns < 1e3:
        return f"{ns:.1f} ns" if ns < 100 else f"{ns:.0f} ns"
    if ns < 1e6:
        return f"{ns / 1e3:.2f} µs" if ns < 1e4 else f"{ns / 1e3:.0f} µs"
    if ns < 1e9:
        return f"{ns / 1e6:.2f} ms" if ns < 1e7 else f"{ns / 1e6:.0f} ms"
    return f"{ns / 1e9:.2f} s"


def size_label(v):
    try:
        n = int(v)
    except ValueError:
        return v
    for unit, k in (("M", 1 << 20), ("K", 1 << 10)):
        if n >= k and n % k == 0:
            return f"{n // k}{unit}"
    return str(n)


def sort_key(v):
    try:
        return (0, int(v))
    except ValueError:
        return (1, v)


def crate_order(names):
    return sorted(names, key=lambda n: (ORDER.index(n) if n in ORDER else len(ORDER), n))


def tables(data):
    lines = []
    for group in sorted(data):
        res = data[group]
        lines.append(f"### `{group}`\n")
        plain = {f for f, v in res if v == ""}
        valued = {f for f, v in res if v != ""}
        cased = {f for f in plain if "/" in f}
        plain -= cased
        if valued:
            # One row per parameter, one column per crate.
            funcs = crate_order(valued)
            values = sorted({v for f, v in res if f in valued}, key=sort_key)
            lines.append("| param | " + " | ".join(funcs) + " |")
            lines.append("|---|" + "---:|" * len(funcs))
            for v in values:
                base = res.get(("bufpool", v))
                cells = []
                for f in funcs:
                    m = res.get((f, v))
                    if m is None:
                        cells.append("")
                    elif base and f != "bufpool":
                        cells.append(f"{fmt_ns(m)} ({m / base:.2f}×)")
                    else:
                        cells.append(fmt_ns(m))
                lines.append(f"| {size_label(v)} | " + " | ".join(cells) + " |")
            lines.append("")
        if cased:
            # `crate/case` ids: one row per crate, one column per case, and the
            # ratio of the last case to the first.
            crates = crate_order({f.split("/", 1)[0] for f in cased})
            cases = sorted({f.split("/", 1)[1] for f in cased}, key=lambda c: (c != "one_pool", c))
            lines.append("| crate | " + " | ".join(cases) + f" | {cases[-1]} / {cases[0]} |")
            lines.append("|---|" + "---:|" * (len(cases) + 1))
            for c in crates:
                ms = [res.get((f"{c}/{k}", "")) for k in cases]
                cells = [fmt_ns(m) if m else "" for m in ms]
                ratio = f"{ms[-1] / ms[0]:.2f}×" if ms[0] and ms[-1] else ""
                lines.append(f"| {c} | " + " | ".join(cells) + f" | {ratio} |")
            lines.append("")
        if plain:
            base = res.get(("bufpool", ""))
            lines.append("| bench | median | vs bufpool |")
            lines.append("|---|---:|---:|")
            for f in crate_order(plain):
                m = res[(f, "")]
                ratio = f"{m / base:.2f}×" if base else ""
                lines.append(f"| {f} | {fmt_ns(m)} | {ratio} |")
            lines.append("")
    return "\n".join(lines)


def esc(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def log_axis(lo, hi):
    lo_e = math.floor(math.log10(lo))
    hi_e = math.ceil(math.log10(hi))
    if hi_e == lo_e:
        hi_e += 1
    return lo_e, hi_e


def svg_frame(w, h, title, ylabel, lo_e, hi_e, x0, y0, pw, ph):
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" '
        'font-family="sans-serif" font-size="12">',
        f'<rect width="{w}" height="{h}" fill="white"/>',
        f'<text x="{w / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">{esc(title)}</text>',
        f'<text transform="translate(16,{y0 + ph / 2}) rotate(-90)" text-anchor="middle">{esc(ylabel)}</text>',
    ]
    for e in range(lo_e, hi_e + 1):
        y = y0 + ph - (e - lo_e) / (hi_e - lo_e) * ph
        out.append(f'<line x1="{x0}" y1="{y:.1f}" x2="{x0 + pw}" y2="{y:.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{x0 - 6}" y="{y + 4:.1f}" text-anchor="end">{esc(fmt_ns(10.0 ** e))}</text>')
    out.append(f'<rect x="{x0}" y="{y0}" width="{pw}" height="{ph}" fill="none" stroke="#333"/>')
    return out


def legend(names, x, y):
    out = []
    for i, n in enumerate(names):
        yy = y + i * 18
        out.append(f'<rect x="{x}" y="{yy - 10}" width="12" height="12" fill="{COLORS.get(n, "#999")}"/>')
        out.append(f'<text x="{x + 18}" y="{yy}">{esc(n)}</text>')
    return out


def ypos(ns, lo_e, hi_e, y0, ph):
    return y0 + ph - (math.log10(ns) - lo_e) / (hi_e - lo_e) * ph


def hot_path_svg(res, path):
    funcs = crate_order({f for f, _ in res})
    values = sorted({v for _, v in res}, key=sort_key)
    lo_e, hi_e = log_axis(min(res.values()), max(res.values()))
    w, h = 900, 460
    x0, y0, pw, ph = 80, 40, 660, 360
    out = svg_frame(w, h, "hot_path: get + drop, median (log scale, lower is better)", "time per get + drop",
                    lo_e, hi_e, x0, y0, pw, ph)
    gw = pw / len(values)
    bw = (gw - 16) / len(funcs)
    for i, v in enumerate(values):
        gx = x0 + i * gw + 8
        out.append(f'<text x="{gx + (gw - 16) / 2:.1f}" y="{y0 + ph + 18}" text-anchor="middle">{esc(size_label(v))}</text>')
        for j, f in enumerate(funcs):
            m = res.get((f, v))
            if m is None:
                continue
            y = ypos(m, lo_e, hi_e, y0, ph)
            out.append(f'<rect x="{gx + j * bw:.1f}" y="{y:.1f}" width="{bw - 1:.1f}" height="{y0 + ph - y:.1f}" '
                       f'fill="{COLORS.get(f, "#999")}"><title>{esc(f)} {esc(size_label(v))}: {esc(fmt_ns(m))}</title></rect>')
    out.append(f'<text x="{x0 + pw / 2}" y="{y0 + ph + 38}" text-anchor="middle">buffer size</text>')
    out += legend(funcs, x0 + pw + 20, y0 + 14)
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def mt_svg(res, path):
    funcs = crate_order({f for f, _ in res})
    values = sorted({v for _, v in res}, key=sort_key)
    lo_e, hi_e = log_axis(min(res.values()), max(res.values()))
    w, h = 900, 460
    x0, y0, pw, ph = 80, 40, 660, 360
    out = svg_frame(w, h, "realistic_write_mt: 200 × (get 64 KiB + touch + drop) per thread, median",
                    "time per iteration (log scale)", lo_e, hi_e, x0, y0, pw, ph)

    def xpos(i):
        return x0 + 30 + i * (pw - 60) / max(1, len(values) - 1)

    for i, v in enumerate(values):
        out.append(f'<text x="{xpos(i):.1f}" y="{y0 + ph + 18}" text-anchor="middle">{esc(v)}</text>')
    out.append(f'<text x="{x0 + pw / 2}" y="{y0 + ph + 38}" text-anchor="middle">threads (2 cores)</text>')
    for f in funcs:
        pts = [(xpos(i), ypos(res[(f, v)], lo_e, hi_e, y0, ph), res[(f, v)], v)
               for i, v in enumerate(values) if (f, v) in res]
        c = COLORS.get(f, "#999")
        out.append(f'<polyline fill="none" stroke="{c}" stroke-width="2" points="'
                   + " ".join(f"{x:.1f},{y:.1f}" for x, y, _, _ in pts) + '"/>')
        for x, y, m, v in pts:
            out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{c}">'
                       f'<title>{esc(f)} {esc(v)} threads: {esc(fmt_ns(m))}</title></circle>')
    out += legend(funcs, x0 + pw + 20, y0 + 14)
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", default=os.path.join(here, "..", "target", "criterion"))
    ap.add_argument("--out", default=os.path.join(here, "..", "docs"), help="where the SVGs go (default docs/)")
    ap.add_argument("--tables", action="store_true", help="print Markdown tables of medians")
    ap.add_argument("--no-svg", action="store_true")
    ap.add_argument("--groups", default="", help="comma-separated groups for --tables (default all)")
    args = ap.parse_args()
    data = load(args.dir)
    if not data:
        sys.exit(f"no criterion results under {args.dir}")
    if not args.no_svg:
        if "hot_path" in data:
            hot_path_svg(data["hot_path"], os.path.join(args.out, "hot_path.svg"))
        if "realistic_write_mt" in data:
            mt_svg(data["realistic_write_mt"], os.path.join(args.out, "mt_scaling.svg"))
    if args.tables:
        if args.groups:
            keep = set(args.groups.split(","))
            data = {g: r for g, r in data.items() if g in keep}
        print(tables(data))


if __name__ == "__main__":
    main()
