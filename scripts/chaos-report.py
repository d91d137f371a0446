#!/usr/bin/env python3
"""Collects the chaos scenarios' figures and prints the table.

    chaos-report.py RESULTS_DIR [OUTPUT_JSON]

Reads every RESULTS_DIR/*.json a scenario wrote (tests/support/chaos.rs),
writes them as one JSON array to OUTPUT_JSON when given, prints a table and
exits 1 when a scenario failed, lost a resource or produced a false
"Available".
"""
import json
import pathlib
import sys


def main() -> int:
    results_dir = pathlib.Path(sys.argv[1])
    rows = [json.loads(p.read_text()) for p in sorted(results_dir.glob("*.json"))]
    if len(sys.argv) > 2:
        out = pathlib.Path(sys.argv[2])
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(rows, indent=2) + "\n")
    if not rows:
        print("no chaos scenario ran")
        return 1
    header = ("scenario", "injected fault", "notif. exp/deliv/dup", "lost", "false avail.", "passed")
    table = [header]
    for r in rows:
        table.append((
            r["scenario"],
            r["injected"] if len(r["injected"]) <= 72 else r["injected"][:71] + "…",
            f'{r["notifications_expected"]}/{r["notifications_delivered"]}/{r["duplicates"]}',
            str(r["resources_lost"]),
            str(r["false_available"]),
            "yes" if r["passed"] else "NO",
        ))
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for i, row in enumerate(table):
        print(" | ".join(cell.ljust(widths[j]) for j, cell in enumerate(row)))
        if i == 0:
            print("-+-".join("-" * w for w in widths))
    bad = [r["scenario"] for r in rows
           if not r["passed"] or r["resources_lost"] or r["false_available"]]
    if bad:
        print(f"failed: {', '.join(bad)}")
        return 1
    print(f"{len(rows)} scenarios: no resource lost, no false \"Available\"")
    return 0


if __name__ == "__main__":
    sys.exit(main())
