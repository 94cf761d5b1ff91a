#!/usr/bin/env python3
"""How far can any detector learned from the Romagnoli 2020 marks match them on records it
has not seen? A study of the event bars of issue 3 (deceleration F1 >= 0.75, acceleration
F1 >= 0.65), not part of the product.

A per-second classifier (gradient-boosted trees) learns, from the development records, which
seconds of a CTU-UHB trace the expert marked as inside a deceleration or an acceleration; its
features are the trace around each second relative to our baseline curve and to moving
medians over 2, 5 and 10 minutes, at several widths and shifts, the signal loss around it, the
toco, and our own events. Seconds it scores above a threshold, in runs of a least length, are
its events. The threshold, the least length and a smoothing are chosen on a validation part of
the development records (numbers = 1 mod 5), the model is trained again on all development
records, and its events are scored on the holdout records (numbers divisible by 5) with the
eval's rule: one-to-one matching of events overlapping >= 5 s, largest overlap first, within
the annotated span, flagged events left out, the 17 records without marks skipped.

It reads the reports `scripts/analyze-all.sh DIR` writes (the baseline curve and our events)
and the shared data, and needs numpy, pandas and scikit-learn:

    bash scripts/analyze-all.sh /tmp/reports
    python3 -m venv /tmp/study && /tmp/study/bin/pip install numpy pandas scikit-learn
    /tmp/study/bin/python scripts/studies/event_ceiling.py /tmp/reports [../shared/data]

About 5 minutes on 2 cores. Prints the figures for holdout and, for comparison, the same
model scored on the records it was trained on.
"""
import json
import multiprocessing
import os
import sys
import warnings

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier

REPORTS = sys.argv[1]
DATA = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(__file__), "../../../shared/data")
CTU = os.path.join(DATA, "ctu-uhb")
EVENTS = json.load(open(os.path.join(CTU, "romagnoli2020_events.json")))["records"]
UNMARKED = {"1009", "1087", "1105", "1106", "1130", "1147", "1158", "1258", "1263", "1282",
            "1339", "1349", "1422", "1431", "1493", "2003", "2015"}
RECORDS = [r for r in sorted(EVENTS) if r not in UNMARKED]
KINDS = {"deceleration": 1, "acceleration": 2}


def signals(rec):
    a = np.fromfile(os.path.join(CTU, "wfdb", f"{rec}.dat"), dtype="<i2").reshape(-1, 2) / 100.0
    return a[:, 0], a[:, 1]


def rolling(x, width, how):
    return getattr(pd.Series(x).rolling(width, center=True, min_periods=1), how)().to_numpy()


def features(rec):
    """One row per second of the record: features, the expert's label, annotated or not."""
    fhr, toco = signals(rec)
    jsog = json.load(open(os.path.join(REPORTS, f"{rec}.jsog.json")))
    figo = json.load(open(os.path.join(REPORTS, f"{rec}.figo.json")))
    curve = np.array([np.nan if v is None else v for v in jsog["baseline_curve"]["bpm"]])
    n = len(fhr) // 4
    quarter = fhr[: 4 * n].reshape(n, 4).copy()
    quarter[quarter == 0] = np.nan
    with warnings.catch_warnings():
        # A second without a value (or without a baseline) is NaN.
        warnings.simplefilter("ignore", category=RuntimeWarning)
        second = np.nanmean(quarter, 1)
        base = np.nanmean(curve[: 4 * n].reshape(n, 4), 1)
    valid = ~np.isnan(second)
    d = second - base
    f = {"d": d, "base": base, "valid": valid.astype(float)}
    for w in [5, 11, 21, 31, 61, 121]:
        f[f"mean{w}"] = rolling(d, w, "mean")
        f[f"min{w}"] = rolling(d, w, "min")
        f[f"max{w}"] = rolling(d, w, "max")
        f[f"valid{w}"] = rolling(valid.astype(float), w, "mean")
    for w in [121, 301, 601]:
        off = second - rolling(second, w, "median")
        f[f"med{w}"] = off
        f[f"medmin{w}"] = rolling(off, 31, "min")
        f[f"medmax{w}"] = rolling(off, 31, "max")
    for shift in [-60, -30, -15, 15, 30, 60]:
        f[f"shift{shift}"] = np.roll(f["mean11"], shift)
    uc = toco[: 4 * n].reshape(n, 4).mean(1)
    uc = uc - rolling(uc, 121, "min")
    for w in [1, 31, 61]:
        f[f"toco{w}"] = rolling(uc, w, "mean")
    for shift in [-45, -20, 20, 45]:
        f[f"tocoshift{shift}"] = np.roll(f["toco31"], shift)
    for key, name in [("decelerations", "ours_d"), ("accelerations", "ours_a")]:
        mask = np.zeros(n)
        for e in figo[key]:
            mask[int(e["start_s"]) : int(np.ceil(e["end_s"]))] = 1
        f[name] = mask
        f[name + "_near"] = rolling(mask, 61, "mean")
    x = pd.DataFrame(f)
    label = np.zeros(n, int)
    for e in EVENTS[rec]["events"]:
        if "flags" not in e and e["type"] in KINDS:
            label[int(e["start_s"]) : int(np.ceil(e["end_s"]))] = KINDS[e["type"]]
    x["label"] = label
    x["annotated"] = np.arange(n) < EVENTS[rec]["annotated_samples"] // 4
    x["rec"] = rec
    return x


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


def runs(mask, least):
    edges = np.diff(np.concatenate([[0], mask.astype(int), [0]]))
    return [(s, e) for s, e in zip(np.where(edges == 1)[0], np.where(edges == -1)[0]) if e - s >= least]


def score(rows, column, kind, threshold, least, smooth):
    matched = expert_n = ours_n = 0
    for rec, g in rows.groupby("rec"):
        p = pd.Series(g[column].to_numpy()).rolling(smooth, center=True, min_periods=1).mean().to_numpy()
        ours = runs(p > threshold, least)
        expert = [(e["start_s"], e["end_s"]) for e in EVENTS[rec]["events"] if e["type"] == kind and "flags" not in e]
        matched += match(expert, ours)
        expert_n += len(expert)
        ours_n += len(ours)
    precision, recall = matched / max(ours_n, 1), matched / max(expert_n, 1)
    return 2 * precision * recall / max(precision + recall, 1e-9), precision, recall


def model():
    return HistGradientBoostingClassifier(
        max_iter=150, learning_rate=0.05, max_leaf_nodes=15, min_samples_leaf=500,
        l2_regularization=1.0, random_state=0)


def main():
    with multiprocessing.Pool() as pool:
        rows = pd.concat(pool.map(features, RECORDS))
    rows = rows[rows.annotated]
    number = rows.rec.astype(int)
    holdout, validation = number % 5 == 0, number % 5 == 1
    train = ~holdout & ~validation
    names = [c for c in rows.columns if c not in ("label", "annotated", "rec")]
    print(f"{rows.rec.nunique()} records, {len(rows)} annotated seconds; "
          f"training {rows[train].rec.nunique()}, validation {rows[validation].rec.nunique()}, "
          f"holdout {rows[holdout].rec.nunique()} records", flush=True)
    first = model().fit(rows[train][names], rows[train].label)
    p = first.predict_proba(rows[names])
    rows = rows.assign(p_decel=p[:, 1], p_accel=p[:, 2])
    grid = [(t, l, s) for t in (0.2, 0.3, 0.4, 0.5) for l in (5, 10, 15, 20) for s in (1, 5, 9)]
    chosen = {}
    for kind, column in [("deceleration", "p_decel"), ("acceleration", "p_accel")]:
        chosen[kind] = max(grid, key=lambda g: score(rows[validation], column, kind, *g)[0])
        print(f"{kind}: threshold, least length (s), smoothing (s) chosen on validation: {chosen[kind]}", flush=True)
    development = ~holdout
    final = model().fit(rows[development][names], rows[development].label)
    p = final.predict_proba(rows[names])
    rows = rows.assign(p_decel=p[:, 1], p_accel=p[:, 2])
    for kind, column in [("deceleration", "p_decel"), ("acceleration", "p_accel")]:
        f1, precision, recall = score(rows[holdout], column, kind, *chosen[kind])
        seen, _, _ = score(rows[development], column, kind, *chosen[kind])
        print(f"{kind} F1 on holdout {f1:.3f} (precision {precision:.3f}, recall {recall:.3f}); "
              f"on the development records it learned from {seen:.3f}")


if __name__ == "__main__":
    main()
