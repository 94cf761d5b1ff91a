#!/usr/bin/env python3
"""Would a learned model find false signal (mostly the mother's heart recorded as the fetus's)
better than the preparation stage's rules? A study, not part of the product.

Per sample of the FHRMA-FS Doppler files (DopMHR), features of the recorded fetal channel,
the MHR channel and the toco over windows around it: the fetal value; over [-20 s, +20 s] and
[-60 s, +20 s], the share of samples with both signals within 5 and 10 bpm of each other, their
mean distance, how much of the time the MHR channel and the fetal channel have a signal; the
time since the MHR channel last had one and the distance and ratio to that value; the fetal
value against its own mean over the past 10 minutes and against the MHR's; against its local
means over 20 s and 80 s; the mean absolute beat-to-beat change over 20 s and 80 s; how far
the nearest gap lies before and after; the toco and its rise over 2 minutes. With
`--causal`, every window ends at the sample (no lookahead; no distance to the next gap).

Gradient-boosted trees learn the experts' false labels on the development files (numbers not
divisible by 5), trained on every third labelled sample, and are scored on the holdout files
against the rules' own flags, sample by sample as `mimamori eval` scores (labelled true or
false, with a signal): the model alone, the model or the rules, and either only where the MHR
channel had a signal within 2 minutes (the rules elsewhere). Last, the risk: what the model
and the rules flag inside the expert's deceleration marks on CTU-UHB, which has no MHR channel.

It runs `mimamori analyze` on every DopMHR file as the eval configures it (FIGO profile, FHR1),
and needs numpy and scikit-learn:

    cargo build --release
    python3 -m venv /tmp/study && /tmp/study/bin/pip install numpy scikit-learn
    /tmp/study/bin/python scripts/studies/false_signal_model.py [--causal] [../shared/data]

About 2 minutes on 2 cores.
"""
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier

CAUSAL = "--causal" in sys.argv
ARGS = [a for a in sys.argv[1:] if not a.startswith("--")]
HERE = os.path.dirname(os.path.abspath(__file__))
DATA = ARGS[0] if ARGS else os.path.join(HERE, "../../../shared/data")
FS = os.path.join(DATA, "fhrma-fs")
BIN = os.path.join(HERE, "../../target/release/mimamori")
AHEAD = 0 if CAUSAL else 80  # samples the windows look ahead (20 s)
RECORD = np.dtype([("f1", "<u2"), ("f2", "<u2"), ("m", "<u2"), ("t", "u1"), ("fl", "u1")])


def cumsum0(x):
    return np.concatenate([[0], np.cumsum(x)])


def window_sum(c, n, lo, hi):
    """Sum over [i + lo, i + hi] of the series whose running sum is `c`, for every i."""
    i = np.arange(n)
    return c[np.clip(i + hi + 1, 0, n)] - c[np.clip(i + lo, 0, n)]


def features(fhr, mhr, toco):
    n = len(fhr)
    vf, vm = fhr > 0, mhr > 0
    both = vf & vm
    dist = np.where(both, np.abs(fhr - mhr), 0)
    out = {"fhr": fhr}
    c_vm, c_vf, c_both = cumsum0(vm), cumsum0(vf), cumsum0(both)
    for lo, name in ((-80, "20"), (-240, "60")):
        hi = AHEAD
        k = window_sum(c_both, n, lo, hi)
        some = k > 0
        div = np.maximum(k, 1)
        out["mhr_present_" + name] = window_sum(c_vm, n, lo, hi) / (hi - lo + 1)
        out["within5_" + name] = np.where(some, window_sum(cumsum0(both & (dist <= 5)), n, lo, hi) / div, -1)
        out["within10_" + name] = np.where(some, window_sum(cumsum0(both & (dist <= 10)), n, lo, hi) / div, -1)
        out["distance_" + name] = np.where(some, window_sum(cumsum0(np.minimum(dist, 40)), n, lo, hi) / div, -1)
        out["gap_" + name] = 1 - window_sum(c_vf, n, lo, hi) / (hi - lo + 1)
    index = np.arange(n)
    last = np.where(vm, index, -1)
    last = np.maximum.accumulate(last)[np.minimum(index + AHEAD, n - 1)]
    known = last >= 0
    out["since_mhr_s"] = np.where(known, np.minimum((index - last) / 4, 1200), 1200)
    out["minus_last_mhr"] = np.where(known, fhr - mhr[np.maximum(last, 0)], -999)
    out["ratio_last_mhr"] = np.where(known, fhr / np.maximum(mhr[np.maximum(last, 0)], 1), -1)
    c_f, c_m = cumsum0(np.where(vf, fhr, 0)), cumsum0(np.where(vm, mhr, 0))
    k = window_sum(c_vf, n, -2400, 0)
    out["minus_past_10min"] = np.where(k > 0, fhr - window_sum(c_f, n, -2400, 0) / np.maximum(k, 1), 0)
    k = window_sum(c_vm, n, -2400, AHEAD)
    out["minus_mhr_10min"] = np.where(k > 0, fhr - window_sum(c_m, n, -2400, AHEAD) / np.maximum(k, 1), -999)
    steps = np.zeros(n)
    pairs = vf[1:] & vf[:-1]
    steps[1:] = np.where(pairs, np.abs(np.diff(fhr)), 0)
    c_pairs, c_steps = cumsum0(np.r_[False, pairs]), cumsum0(steps)
    for (lo, hi), name in ((((-80, 0) if CAUSAL else (-40, 40)), "20s"), ((-480 if CAUSAL else -240, AHEAD), "80s")):
        k = window_sum(c_vf, n, lo, hi)
        out["minus_local_" + name] = np.where(k > 0, fhr - window_sum(c_f, n, lo, hi) / np.maximum(k, 1), 0)
        k = window_sum(c_pairs, n, lo, hi)
        out["step_" + name] = np.where(k > 0, window_sum(c_steps, n, lo, hi) / np.maximum(k, 1), -1)
    gaps = np.where(~vf, index, -1)
    before = np.maximum.accumulate(gaps)
    out["gap_before_s"] = np.minimum((index - np.where(before >= 0, before, -(10**6))) / 4, 600)
    if not CAUSAL:
        after = np.where(~vf, index, 2 * n)
        after = np.minimum.accumulate(after[::-1])[::-1]
        out["gap_after_s"] = np.minimum((after - index) / 4, 600)
    out["toco"] = toco
    out["toco_rise"] = toco - window_sum(cumsum0(toco), n, -480, 0) / 481
    return out


def analysed(entry):
    path = os.path.join(FS, "DopMHR", "Train", entry["filename"])
    report = json.loads(subprocess.run([BIN, "analyze", path, "--json", "--profile", "figo"],
                                       check=True, capture_output=True, text=True).stdout)
    raw = np.frombuffer(open(path, "rb").read()[4:], dtype=RECORD)
    fhr, mhr, toco = raw["f1"] / 4, raw["m"] / 4, raw["t"] / 2
    n = len(raw)
    flagged = np.zeros(n, bool)
    for f in report["false_signal"]:
        if f["channel"] == "fhr1":
            flagged[int(f["start_s"] * 4):min(int(f["end_s"] * 4), n)] = True
    label = np.zeros(n, int)
    for s, e in entry["TS_FHR"]:
        label[s:e + 1] |= 1
    for s, e in entry["FS_FHR"]:
        label[s:e + 1] |= 2
    scored = (fhr > 0) & ((label == 1) | (label == 2))
    f = features(fhr, mhr, toco)
    names = list(f)
    columns = np.stack([f[k] for k in names], 1)[scored]
    holdout = int(entry["filename"][-9:-5]) % 5 == 0
    return names, columns, label[scored] == 2, flagged[scored], np.full(scored.sum(), holdout)


def main():
    entries = [e for e in json.load(open(os.path.join(FS, "expert_annotations.json")))
               if e["dataset"] == "DopMHRTrain"]
    print(f"{len(entries)} DopMHR files, windows {'ending at the sample' if CAUSAL else 'looking 20 s ahead'}",
          file=sys.stderr)
    with ThreadPoolExecutor(os.cpu_count()) as pool:
        parts = list(pool.map(analysed, entries))
    names = parts[0][0]
    x = np.concatenate([p[1] for p in parts])
    y = np.concatenate([p[2] for p in parts])
    rules = np.concatenate([p[3] for p in parts])
    holdout = np.concatenate([p[4] for p in parts])
    train = np.nonzero(~holdout)[0][::3]
    print(f"{len(y)} labelled samples with a signal, {holdout.sum()} of them holdout; training on {len(train)}",
          file=sys.stderr)
    model = HistGradientBoostingClassifier(max_iter=300, learning_rate=0.05, max_leaf_nodes=15,
                                           min_samples_leaf=5000, l2_regularization=1.0, random_state=0)
    model.fit(x[train], y[train])
    learned = model.predict_proba(x)[:, 1] >= 0.5
    near_mhr = x[:, names.index("since_mhr_s")] < 120

    def accuracy(flags, part):
        return (flags[part] == y[part]).mean()

    print("Doppler files (DopMHR), fetal channel: sample accuracy    development  holdout")
    for name, flags in (
        ("the rules (mimamori analyze)", rules),
        ("the model alone", learned),
        ("the model or the rules", learned | rules),
        ("the model alone where MHR had a signal in 2 min", np.where(near_mhr, learned, rules)),
        ("the model or the rules there", np.where(near_mhr, learned | rules, rules)),
    ):
        print(f"  {name:52s} {accuracy(flags, ~holdout):.4f}       {accuracy(flags, holdout):.4f}")
    far = ~near_mhr & holdout
    print(f"holdout samples without an MHR signal in 2 min: {far.sum()}, false {y[far].mean():.3f}; "
          f"rules {accuracy(rules, far):.4f}, model {accuracy(learned, far):.4f}")
    # The risk: what each flags inside the expert's deceleration marks on CTU-UHB, which has no
    # MHR channel (a fetal bradycardia or deceleration taken for the mother).
    events = json.load(open(os.path.join(DATA, "ctu-uhb", "romagnoli2020_events.json")))["records"]
    with ThreadPoolExecutor(os.cpu_count()) as pool:
        risks = list(pool.map(lambda item: ctu_risk(model, names, *item), events.items()))
    inside, below, model_inside, model_below, rules_inside, rules_below = np.sum(risks, axis=0)
    print(f"CTU-UHB, samples inside the expert's decelerations flagged false: rules {rules_inside / inside:.3f}, "
          f"model {model_inside / inside:.3f}; of those below 100 bpm: rules {rules_below / below:.3f}, "
          f"model {model_below / below:.3f}")


def ctu_risk(model, names, record, annotation):
    base = os.path.join(DATA, "ctu-uhb", "wfdb", record)
    raw = np.fromfile(base + ".dat", dtype="<i2").reshape(-1, 2)
    fhr, toco = raw[:, 0] / 100.0, np.maximum(raw[:, 1] / 100.0, 0)
    n = len(fhr)
    report = json.loads(subprocess.run([BIN, "analyze", base + ".hea", "--json", "--profile", "figo"],
                                       check=True, capture_output=True, text=True).stdout)
    rules = np.zeros(n, bool)
    for f in report["false_signal"]:
        if f["channel"] == "fhr1":
            rules[int(f["start_s"] * 4):min(int(f["end_s"] * 4), n)] = True
    f = features(fhr, np.zeros(n), toco)
    learned = model.predict_proba(np.stack([f[k] for k in names], 1))[:, 1] >= 0.5
    inside = np.zeros(n, bool)
    for e in annotation["events"]:
        if e["type"] == "deceleration":
            inside[e["start_sample"]:e["end_sample"] + 1] = True
    inside &= fhr > 0
    below = inside & (fhr < 100)
    return [inside.sum(), below.sum(), (learned & inside).sum(), (learned & below).sum(),
            (rules & inside).sum(), (rules & below).sum()]


if __name__ == "__main__":
    main()
