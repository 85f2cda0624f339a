#!/usr/bin/env python3
"""Turns bench/run.sh's results (OUT_DIR) into OUT_DIR/report.md and SVG plots
drawn by gnuplot: Predict's latency distribution against the floor, calls/s and
p99 against concurrency with and without batching and over REST, latency across reload
storms with each swap marked, and the daemon's memory over time. Every ratio
in the report is taken within one run. Usage: report.py OUT_DIR"""
import csv
import json
import os
import re
import subprocess
import sys

out = sys.argv[1]
CLIENTS = [1, 2, 4, 8, 16, 32]
STORMS = [(b, c) for b in (0, 1) for c in (1, 4)]


def path(name):
    return os.path.join(out, name)


def load(name):
    with open(path(name)) as f:
        return json.load(f)


def engine_us():
    """Median real time of BM_Mlp/1 and /32, in µs."""
    scale = {"ns": 1e-3, "us": 1.0, "ms": 1e3}
    times = {}
    for b in load("engine.json")["benchmarks"]:
        m = re.fullmatch(r"BM_Mlp/(\d+)_median", b["name"])
        if m:
            times[int(m.group(1))] = b["real_time"] * scale[b["time_unit"]]
    return times


def reload_figures(batching, clients):
    """The reload bench's printed figures for one storm."""
    text = open(path(f"reload_b{batching}_c{clients}.txt")).read()
    steady = re.search(r"no swaps:\s+p50 ([\d.]+) ms\s+p99 ([\d.]+) ms", text)
    swapping = re.search(r"swap every\s+\d+ ms:\s+p50 ([\d.]+) ms\s+p99 ([\d.]+) ms.*?(\d+) swaps issued", text)
    failed = re.search(r"failed calls: (\d+)", text)
    torn = sum(int(t) for t in re.findall(r"torn (\d+) \(", text))
    return {
        "steady_p50": float(steady.group(1)), "steady_p99": float(steady.group(2)),
        "swap_p50": float(swapping.group(1)), "swap_p99": float(swapping.group(2)),
        "swaps": int(swapping.group(3)), "failed": int(failed.group(1)), "torn": torn,
    }


def write_rows(name, rows):
    with open(path(name), "w") as f:
        for r in rows:
            f.write(" ".join(str(v) for v in r) + "\n")


def cdf_rows(csv_name, call):
    with open(path(csv_name)) as f:
        v = sorted(float(r["latency_us"]) for r in csv.DictReader(f) if r["call"] == call)
    step = max(1, len(v) // 2000)  # at most ~2000 points a curve
    return [(v[i], (i + 1) / len(v)) for i in range(0, len(v), step)]


def gnuplot(script):
    subprocess.run(["gnuplot"], input=script, text=True, check=True, cwd=out)


def plots():
    for n in (1, 32):
        write_rows(f"cdf_predict_b{n}.dat", cdf_rows(f"latency_b{n}.csv", "predict"))
        write_rows(f"cdf_floor_b{n}.dat", cdf_rows(f"latency_b{n}.csv", "floor"))
    gnuplot("""set terminal svg size 900,420 dynamic
set output 'latency_cdf.svg'
set multiplot layout 1,2 title 'One client: share of calls answered within a latency'
set logscale x; set grid; set key bottom right; set xlabel 'latency (µs)'; set yrange [0:1]
set title 'batch 1'
plot 'cdf_predict_b1.dat' w l lw 2 t 'Predict', 'cdf_floor_b1.dat' w l lw 2 t 'floor (Echo)'
set title 'batch 32'
plot 'cdf_predict_b32.dat' w l lw 2 t 'Predict', 'cdf_floor_b32.dat' w l lw 2 t 'floor (Echo)'
unset multiplot
""")
    for mode in ("off", "on"):
        rows = []
        for c in CLIENTS:
            r = load(f"sweep_{mode}_c{c}.json")
            rows.append((c, r["predict"]["qps"], r["predict"]["latency_us"].get("p99", 0) / 1e3,
                         r["floor"]["qps"], r["floor"]["latency_us"].get("p99", 0) / 1e3))
        write_rows(f"sweep_{mode}.dat", rows)
    rest = [(c, load(f"sweep_rest_c{c}.json")["predict"]["qps"],
             load(f"sweep_rest_c{c}.json")["predict"]["latency_us"].get("p99", 0) / 1e3) for c in CLIENTS]
    write_rows("sweep_rest.dat", rest)
    gnuplot("""set terminal svg size 900,420 dynamic
set output 'concurrency.svg'
set multiplot layout 1,2 title 'Batch-1 Predict against concurrency (closed loop)'
set logscale x 2; set grid; set xlabel 'clients'; set key top left
set title 'calls/s'
plot 'sweep_off.dat' u 1:2 w lp lw 2 t 'Predict', 'sweep_on.dat' u 1:2 w lp lw 2 t 'Predict, batching', 'sweep_rest.dat' u 1:2 w lp lw 2 t 'REST Predict', 'sweep_off.dat' u 1:4 w lp dt 2 t 'floor'
set title 'p99 (ms)'
plot 'sweep_off.dat' u 1:3 w lp lw 2 t 'Predict', 'sweep_on.dat' u 1:3 w lp lw 2 t 'Predict, batching', 'sweep_rest.dat' u 1:3 w lp lw 2 t 'REST Predict', 'sweep_off.dat' u 1:5 w lp dt 2 t 'floor'
unset multiplot
""")
    panels = []
    for b, c in STORMS:
        lat, swaps, rss = [], [], []
        with open(path(f"reload_b{b}_c{c}.csv")) as f:
            for r in csv.DictReader(f):
                t = float(r["t_ms"]) / 1e3
                if r["phase"] in ("steady", "swapping"):
                    lat.append((t, r["latency_ms"]))
                elif r["phase"] == "swap":
                    swaps.append((t, 1))
                elif r["phase"] == "rss":
                    rss.append((t, int(r["value"]) / 1024))
        write_rows(f"storm_lat_b{b}_c{c}.dat", lat)
        write_rows(f"storm_swaps_b{b}_c{c}.dat", swaps)
        write_rows(f"storm_rss_b{b}_c{c}.dat", rss)
        title = f"{c} client{'s' if c > 1 else ''}, batching {'on' if b else 'off'}"
        panels.append(f"set title '{title}'\n"
                      f"plot 'storm_swaps_b{b}_c{c}.dat' u 1:(ymax) w impulses lc rgb '#ffb0b0' t 'swap', "
                      f"'storm_lat_b{b}_c{c}.dat' u 1:2 w dots lc rgb '#1f4e9a' t 'call'\n")
    gnuplot("""set terminal svg size 1000,700 dynamic
set output 'reload_storm.svg'
ymax = 2.0
set multiplot layout 2,2 title 'Predict latency (ms) over time: steady, then a swap every 100 ms (marked)'
set grid; set xlabel 's'; set yrange [0:ymax]; set key top left
""" + "".join(panels) + "unset multiplot\n")
    gnuplot("""set terminal svg size 700,400 dynamic
set output 'rss.svg'
set title 'Daemon resident memory (MiB) across the steady phase and the storm'
set grid; set xlabel 's'; set key bottom right
plot """ + ", ".join(f"'storm_rss_b{b}_c{c}.dat' w l lw 2 t '{c} client(s), batching {'on' if b else 'off'}'"
                     for b, c in STORMS) + "\n")


def report():
    engine = engine_us()
    lines = ["# Serving benchmark report (bench/run.sh)", "",
             "Seed MLP (784-512-10), served from its checkpoint; client and daemon on this machine. "
             "Every ratio is taken within one run of this script.", "",
             "## Predict against the floor and the engine (one client)", "",
             "| batch | Predict p50 (µs) | floor p50 (µs) | engine p50 (µs) | Predict / (floor + engine) | target "
             "| REST Predict p50 (µs) | REST / gRPC p50 |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for n, target in ((1, 1.1), (32, 1.15)):
        r = load(f"one_client_b{n}.json")
        p, f = r["predict"]["latency_us"]["p50"], r["floor"]["latency_us"]["p50"]
        rest = load(f"one_client_rest_b{n}.json")["predict"]["latency_us"]["p50"]
        lines.append(f"| {n} | {p:.0f} | {f:.0f} | {engine[n]:.1f} | {p / (f + engine[n]):.2f} | ≤ {target} "
                     f"| {rest:.0f} | {rest / p:.2f} |")
    lines += ["", "![latency distribution](latency_cdf.svg)", "",
              "## Throughput against concurrency (batch-1 calls)", "",
              "| clients | Predict calls/s | batching calls/s | floor calls/s | Predict / floor | batching / floor "
              "| batching / Predict | Predict p99 (ms) | batching p99 (ms) | REST calls/s | REST p99 (ms) |",
              "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for c in CLIENTS:
        off, on = load(f"sweep_off_c{c}.json"), load(f"sweep_on_c{c}.json")
        po, pn, fl = off["predict"]["qps"], on["predict"]["qps"], off["floor"]["qps"]
        p99o = off["predict"]["latency_us"].get("p99", 0) / 1e3
        p99n = on["predict"]["latency_us"].get("p99", 0) / 1e3
        rest = load(f"sweep_rest_c{c}.json")["predict"]
        lines.append(f"| {c} | {po:.0f} | {pn:.0f} | {fl:.0f} | {po / fl:.2f} | {pn / on['floor']['qps']:.2f} "
                     f"| {pn / po:.2f} | {p99o:.2f} | {p99n:.2f} | {rest['qps']:.0f} "
                     f"| {rest['latency_us'].get('p99', 0) / 1e3:.2f} |")
    lines += ["", "Targets at 32 clients: batching ≥ 0.8 × floor and ≥ 2 × Predict without batching. "
              "(The batching floor column divides by the floor measured in the batching daemon's run.)", "",
              "![concurrency](concurrency.svg)", "",
              "## Reload storms (a swap every 100 ms)", "",
              "| clients | batching | steady p99 (ms) | storm p99 (ms) | storm / steady p99 | swaps | failed | torn |",
              "|---:|---|---:|---:|---:|---:|---:|---:|"]
    for b, c in STORMS:
        r = reload_figures(b, c)
        lines.append(f"| {c} | {'on' if b else 'off'} | {r['steady_p99']:.3f} | {r['swap_p99']:.3f} "
                     f"| {r['swap_p99'] / r['steady_p99']:.2f} | {r['swaps']} | {r['failed']} | {r['torn']} |")
    lines += ["", "Target: storm / steady p99 ≤ 1.1, 0 failed, 0 torn.", "",
              "![reload storms](reload_storm.svg)", "", "![memory](rss.svg)", ""]
    with open(path("report.md"), "w") as f:
        f.write("\n".join(lines))


plots()
report()
