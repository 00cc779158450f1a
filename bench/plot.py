"""Plot how voltlab's cost grows with the fleet: RSS per charger and boot time vs N.

    .venv/bin/python bench/plot.py                       # every bench/results/*.json
    .venv/bin/python bench/plot.py a.json b.json -o docs/fleet-scaling.png

Reads the JSON written by bench/fleet.py, one line per OCPP version (quick runs are
left out unless ``--include-quick``; of several runs at the same N and version the
newest counts) and writes one PNG with two panels.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"
PANELS = (
    ("rss_kib_per_charger", "RSS growth per charger (KiB)", 50.0),
    ("boot_s", "boot storm: all BootNotifications (s)", None),
)


def load(paths: list[Path], include_quick: bool) -> dict[str, dict[int, dict[str, Any]]]:
    """{ocpp version: {N: figures}}, newest run first wins."""
    series: dict[str, dict[int, dict[str, Any]]] = {}
    for path in sorted(paths, key=lambda p: p.name, reverse=True):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            print(f"skipping {path}: {exc}", file=sys.stderr)
            continue
        if "figures" not in data or "ocpp" not in data or "chargers" not in data:
            continue  # another bench's results (e.g. bench/framelog.py)
        if data.get("quick") and not include_quick:
            continue
        runs = series.setdefault(str(data["ocpp"]), {})
        runs.setdefault(int(data["chargers"]), data["figures"])
    return series


def plot(series: dict[str, dict[int, dict[str, Any]]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(PANELS), figsize=(11, 4.2))
    for ax, (key, title, target) in zip(axes, PANELS, strict=True):
        for version, runs in sorted(series.items()):
            points = sorted((n, f[key]) for n, f in runs.items() if f.get(key) is not None)
            if points:
                xs, ys = zip(*points, strict=True)
                ax.plot(xs, ys, marker="o", label=f"OCPP {version}")
        if key == "boot_s":
            # issue 9: <= 10 s (1.6) and <= 12 s (2.0.1) at 10,000 chargers
            ax.axhline(10, color="grey", linestyle="--", linewidth=0.8, label="target 1.6")
            ax.axhline(12, color="grey", linestyle=":", linewidth=0.8, label="target 2.0.1")
        elif target is not None:
            ax.axhline(target, color="grey", linestyle="--", linewidth=0.8, label="target")
        ax.set_title(title)
        ax.set_xlabel("chargers (N)")
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("voltlab fleet scaling (bench/fleet.py, one process, SQLite)")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    print(f"wrote {out}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", nargs="*", type=Path, help="result JSON files")
    parser.add_argument("-o", "--output", type=Path, default=RESULTS_DIR / "fleet-scaling.png")
    parser.add_argument("--include-quick", action="store_true", help="plot --quick runs too")
    args = parser.parse_args(argv)
    paths = args.results or sorted(RESULTS_DIR.glob("*.json"))
    series = load(paths, args.include_quick)
    if not series:
        print("no bench results to plot (run bench/fleet.py first)", file=sys.stderr)
        return 1
    plot(series, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
