#!/usr/bin/env python3
"""Which line did the Romagnoli 2020 annotator read her events against? A study of the event
bars of issue 3, not part of the product.

The marks were made "with the support of CTG Analyzer" (Romagnoli et al. 2020), a program that
draws a baseline for the reader. Two questions:

1. Where do her marks' edges sit? For each line, the heart rate minus the line at the first
   and last sample of each of her decelerations and accelerations: the share within 3 bpm.
   Lines: the trace's mean over consecutive 10-minute windows counted from the record's first
   sample (and the same windows shifted by 2.5, 5 and 7.5 minutes), a centred 10-minute
   running mean, and our own baseline curve. If her edges sit on windows counted from the
   record's start and not on shifted ones, the line she saw is that piecewise mean.
2. What does that line say about which excursions she marked? Our FIGO-profile events are
   kept only where the trace also lies 15 bpm or more beyond the line for 15 s or more (the
   definition's figures, not chosen on the data), and scored with the eval's rule (one-to-one
   matching of events overlapping >= 5 s, largest overlap first, within the annotated span,
   flagged events left out, the 17 records without marks skipped), on all records, the
   development records and the holdout (numbers divisible by 5).

The trace is the FHR channel of the CTU-UHB records, values outside 50-200 bpm (and no signal)
linearly interpolated, as a program drawing a line through gaps would. It reads the reports
`scripts/analyze-all.sh DIR` writes (our events and curve) and the shared data; needs numpy:

    bash scripts/analyze-all.sh /tmp/reports
    target/test-venv/bin/python scripts/studies/annotator_line.py /tmp/reports [../shared/data]

About 20 s.
"""
import json
import os
import sys

import numpy as np

REPORTS = sys.argv[1]
DATA = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(__file__), "../../../shared/data")
CTU = os.path.join(DATA, "ctu-uhb")
EVENTS = json.load(open(os.path.join(CTU, "romagnoli2020_events.json")))["records"]
UNMARKED = {"1009", "1087", "1105", "1106", "1130", "1147", "1158", "1258", "1263", "1282",
            "1339", "1349", "1422", "1431", "1493", "2003", "2015"}
RECORDS = [r for r in sorted(EVENTS) if r not in UNMARKED]
HZ = 4
TEN_MINUTES = 600 * HZ
KINDS = [("deceleration", "decelerations", -1), ("acceleration", "accelerations", 1)]


def trace(rec):
    a = np.fromfile(os.path.join(CTU, "wfdb", f"{rec}.dat"), dtype="<i2").reshape(-1, 2) / 100.0
    fhr = a[:, 0]
    ok = (fhr >= 50) & (fhr <= 200)
    if ok.sum() < 10:
        return None
    x = np.arange(len(fhr))
    return np.interp(x, x[ok], fhr[ok])


def window_means(f, offset):
    """The trace's mean over consecutive 10-minute windows, the first ending at `offset`."""
    out = np.empty_like(f)
    starts = sorted({0, *range(offset or TEN_MINUTES, len(f), TEN_MINUTES)})
    for a, b in zip(starts, starts[1:] + [len(f)]):
        out[a:b] = f[a:b].mean()
    return out


def running_mean(f, width):
    padded = np.pad(f, (width // 2, width - width // 2 - 1), mode="edge")
    return np.convolve(padded, np.ones(width) / width, mode="valid")


def match(expert, ours):
    pairs = sorted(
        (-(min(b, e) - max(a, s)), i, k)
        for i, (a, b) in enumerate(expert)
        for k, (s, e) in enumerate(ours)
        if min(b, e) - max(a, s) >= 5
    )
    used_e, used_o, matched = set(), set(), 0
    for _, i, k in pairs:
        if i not in used_e and k not in used_o:
            used_e.add(i)
            used_o.add(k)
            matched += 1
    return matched


def main():
    edges = {}  # (kind, line) -> list of |fhr - line| at her edges
    scores = {}  # (kind, gate, part) -> [matched, hers, ours]
    for rec in RECORDS:
        f = trace(rec)
        if f is None:
            continue
        report = json.load(open(os.path.join(REPORTS, f"{rec}.jsog.json")))
        curve = np.array([np.nan if v is None else v for v in report["baseline_curve"]["bpm"]])[: len(f)]
        figo = json.load(open(os.path.join(REPORTS, f"{rec}.figo.json")))
        lines = {f"10-min windows from {m} min": window_means(f, int(m * 60 * HZ)) for m in (0, 2.5, 5, 7.5)}
        lines["centred 10-min running mean"] = running_mean(f, TEN_MINUTES)
        lines["our baseline curve"] = curve
        span = EVENTS[rec]["annotated_samples"] / HZ
        part = "holdout" if int(rec) % 5 == 0 else "development"
        for kind, key, sign in KINDS:
            marks = [e for e in EVENTS[rec]["events"] if e["type"] == kind and "flags" not in e]
            for name, line in lines.items():
                d = np.abs(f - line)
                for e in marks:
                    for i in (e["start_sample"], e["end_sample"]):
                        if i < len(f) and not np.isnan(d[i]):
                            edges.setdefault((kind, name), []).append(d[i])
            expert = [(e["start_s"], e["end_s"]) for e in marks]
            ours = [(e["start_s"], e["end_s"]) for e in figo[key] if e["start_s"] < span]
            gates = {"none (the eval's figure)": ours}
            for name in ("10-min windows from 0 min", "centred 10-min running mean"):
                line = lines[name]
                gates[name] = [
                    (s, e) for s, e in ours
                    if (sign * (f[int(s * HZ):int(e * HZ)] - line[int(s * HZ):int(e * HZ)]) >= 15).sum() >= 15 * HZ
                ]
            for gate, kept in gates.items():
                for p in ("all", part):
                    t = scores.setdefault((kind, gate, p), [0, 0, 0])
                    t[0] += match(expert, kept)
                    t[1] += len(expert)
                    t[2] += len(kept)
    print("1. her marks' edges against each line: share within 3 bpm (median distance)")
    for (kind, name), d in sorted(edges.items()):
        d = np.array(d)
        print(f"  {kind:13s} {name:30s} {np.mean(d < 3):.2f} ({np.median(d):.1f} bpm, {len(d)} edges)")
    print("2. our events kept where the trace is also >= 15 bpm beyond the line for >= 15 s: F1 (precision, recall)")
    for kind, _, _ in KINDS:
        for gate in ("none (the eval's figure)", "10-min windows from 0 min", "centred 10-min running mean"):
            cells = []
            for p in ("all", "development", "holdout"):
                m, hers, ours = scores[(kind, gate, p)]
                pr, rc = m / max(ours, 1), m / max(hers, 1)
                cells.append(f"{p} {2 * pr * rc / max(pr + rc, 1e-9):.3f} ({pr:.2f}, {rc:.2f})")
            print(f"  {kind:13s} {gate:30s} " + "  ".join(cells))


if __name__ == "__main__":
    main()
