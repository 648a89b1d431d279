"""Run every benchmark (issue 10), print a table, and end with one JSON object on the last line.

    .venv/bin/python bench/run_all.py [--quick] [--only join_storm,feed]

`make bench` runs this with the issue's sizes (growth at sizes S and M; `bench/growth.py --large` adds L).
`--quick` uses small sizes for development: its figures are not the published ones. Each script runs in its own process and sets up (and removes) what it needs: private PostgreSQL
databases, a moto server, gunicorn, workers on a queue of their own. The last line is
`{"transcode": {...}, "join_storm": {...}, "feed": {...}, "publish": {...}, "upload": {...}, "scale": {...},
"growth": {...}}`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: Script arguments: the issue's sizes, and small ones for --quick.
RUNS = {
    "transcode": ([], ["--seconds", "60"]),
    "join_storm": ([], ["--parents", "100", "--window", "5", "--flows", "100"]),
    "feed": ([], ["--requests", "100"]),
    "publish": ([], ["--mb", "50", "--rounds", "2"]),
    "upload": ([], ["--mb", "256"]),
    "scale": ([], ["--recordings", "2", "--seconds", "10"]),
    "growth": ([], ["--sizes", "S", "--requests", "5"]),
}

#: (figure, target, test) per benchmark, for the table.
TARGETS = {
    "transcode": [("vs_reference", "<= 1.10", lambda v: v <= 1.10), ("x_realtime", ">= 12", lambda v: v >= 12),
                  ("peak_rss_mb", "", None),
                  ("first_playable_x_realtime", ">= 60", lambda v: v is not None and v >= 60),
                  ("ladder_vs_cpu_bound", ">= 0.80", lambda v: v >= 0.80)],
    "join_storm": [("p50_ms", "", None), ("p99_ms", "<= 150", lambda v: v <= 150), ("errors", "0", lambda v: v == 0),
                   ("vs_bare", ">= 0.35", lambda v: v >= 0.35),
                   ("cpu_ms_per_request", "<= 4", lambda v: v <= 4), ("cpu_ms_route_map", "", None),
                   ("cpu_ms_lobby", "", None), ("cpu_ms_poll", "<= 1.5", lambda v: v <= 1.5),
                   ("one_address_refused", "0", lambda v: v == 0)],
    "feed": [("p50_ms", "<= 10", lambda v: v <= 10), ("p99_ms", "", None), ("rps", "", None),
             ("p50_ms_304", "<= 10", lambda v: v <= 10), ("statements_304", "1", lambda v: v == 1)],
    "publish": [("vs_boto3", ">= 0.9", lambda v: v >= 0.9), ("peak_rss_mb", "<= 150", lambda v: v <= 150),
                ("rss_before_publish_mb", "", None)],
    "upload": [("peak_rss_mb", "<= 150", lambda v: v <= 150), ("vs_disk", "", None), ("upload_mb_s", "", None)],
    "scale": [("speedup_2_workers", ">= 1.6", lambda v: v >= 1.6), ("cores_busy_1_worker", "", None),
              ("speedup_bound", "", None), ("per_min_1_worker", "", None),
              ("per_min_2_workers", "", None)],
    # At the largest size run (M in `make bench`; the targets are for L: bench/growth.py --large).
    "growth": [("largest", "", None), ("course_p50_ms", "<= 30", lambda v: v <= 30),
               ("big_course_p50_ms", "<= 150", lambda v: v <= 150), ("inbox_p50_ms", "<= 150", lambda v: v <= 150),
               ("activities_p50_ms", "<= 150", lambda v: v <= 150), ("api_p50_ms_max", "<= 50", lambda v: v <= 50),
               ("api_kb_max", "<= 100", lambda v: v <= 100), ("route_map_p50_ms", "<= 40", lambda v: v <= 40),
               ("job_s_max", "<= 1", lambda v: v <= 1), ("statements_growing", "0", lambda v: v == 0)],
}


def run_one(name: str, args: list[str]) -> tuple[dict, float]:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, str(HERE / f"{name}.py"), *args], capture_output=True, text=True,
                          cwd=HERE.parent)
    seconds = time.perf_counter() - start
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        return {"error": (done.stderr or done.stdout).strip().splitlines()[-1:] or [f"exit {done.returncode}"]}, seconds
    try:
        return json.loads(lines[-1]), seconds
    except ValueError:
        return {"error": [lines[-1][:300]]}, seconds


def table(results: dict[str, dict], durations: dict[str, float]) -> str:
    rows = [("benchmark", "figure", "value", "target", ""), ("-" * 10, "-" * 22, "-" * 9, "-" * 7, "-" * 6)]
    for name, result in results.items():
        if "error" in result:
            rows.append((name, "FAILED", "", "", "; ".join(result["error"])[:60]))
            continue
        for figure, target, test in TARGETS[name]:
            value = result.get(figure)
            verdict = "" if test is None or value is None else ("met" if test(value) else "MISSED")
            rows.append((name, figure, "" if value is None else str(value), target, verdict))
        rows.append((name, "(run time, s)", f"{durations[name]:.0f}", "", ""))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for development (not the published figures)")
    parser.add_argument("--only", help="comma-separated benchmarks to run (default: all)")
    args = parser.parse_args()
    names = args.only.split(",") if args.only else list(RUNS)
    unknown = sorted(set(names) - set(RUNS))
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    start, load = time.perf_counter(), os.getloadavg()[0]
    results, durations = {}, {}
    for name in names:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        results[name], durations[name] = run_one(name, RUNS[name][1 if args.quick else 0])
    print(table(results, durations))
    print(f"total {time.perf_counter() - start:.0f} s; load average {load:.2f} at the start, "
          f"{os.getloadavg()[0]:.2f} at the end; {os.cpu_count()} cores{'; QUICK sizes' if args.quick else ''}")
    print(json.dumps(results))
    if any("error" in r for r in results.values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
