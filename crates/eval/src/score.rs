//! Scoring primitives: one-to-one event matching, F1, confusion, quadratic-weighted kappa,
//! ROC AUC, and the FHRMA baseline metrics (MADI, RMSD). Pure functions, unit-tested.

/// An interval in seconds, `[start, end)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Interval {
    /// Start, s.
    pub start: f64,
    /// End, s.
    pub end: f64,
}

impl Interval {
    /// Overlap with another interval, s (0 when disjoint).
    pub fn overlap(&self, other: &Interval) -> f64 {
        (self.end.min(other.end) - self.start.max(other.start)).max(0.0)
    }
}

/// One-to-one matching: pairs overlapping by at least `min_overlap_s`, largest overlap first.
/// Returns `(expert index, ours index)` pairs.
pub fn match_events(
    experts: &[Interval],
    ours: &[Interval],
    min_overlap_s: f64,
) -> Vec<(usize, usize)> {
    let mut candidates = Vec::new();
    for (i, e) in experts.iter().enumerate() {
        for (j, o) in ours.iter().enumerate() {
            let overlap = e.overlap(o);
            if overlap >= min_overlap_s {
                candidates.push((overlap, i, j));
            }
        }
    }
    candidates.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    let mut used_e = vec![false; experts.len()];
    let mut used_o = vec![false; ours.len()];
    let mut pairs = Vec::new();
    for (_, i, j) in candidates {
        if !used_e[i] && !used_o[j] {
            used_e[i] = true;
            used_o[j] = true;
            pairs.push((i, j));
        }
    }
    pairs
}

/// Matches, experts' events and ours, summed over records.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Counts {
    /// Matched pairs.
    pub matched: u64,
    /// Expert events.
    pub expert: u64,
    /// Our events.
    pub ours: u64,
}

impl Counts {
    /// Adds another record's counts.
    pub fn add(&mut self, other: Counts) {
        self.matched += other.matched;
        self.expert += other.expert;
        self.ours += other.ours;
    }
    /// Matched / ours.
    pub fn precision(&self) -> f64 {
        ratio(self.matched, self.ours)
    }
    /// Matched / experts'.
    pub fn recall(&self) -> f64 {
        ratio(self.matched, self.expert)
    }
    /// Harmonic mean of precision and recall.
    pub fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// Cohen's kappa with quadratic weights for ordinal classes `0..k`.
pub fn quadratic_kappa(pairs: &[(usize, usize)], k: usize) -> f64 {
    let n = pairs.len() as f64;
    if n == 0.0 || k < 2 {
        return f64::NAN;
    }
    let mut observed = vec![vec![0.0; k]; k];
    let mut row = vec![0.0; k];
    let mut col = vec![0.0; k];
    for &(a, b) in pairs {
        observed[a][b] += 1.0;
        row[a] += 1.0;
        col[b] += 1.0;
    }
    let (mut num, mut den) = (0.0, 0.0);
    for i in 0..k {
        for j in 0..k {
            let w = ((i as f64 - j as f64) / (k as f64 - 1.0)).powi(2);
            num += w * observed[i][j];
            den += w * row[i] * col[j] / n;
        }
    }
    if den == 0.0 { 1.0 } else { 1.0 - num / den }
}

/// Area under the ROC curve of `scores` for `positive` labels (Mann–Whitney, ties count half).
pub fn auc(scores: &[f64], positive: &[bool]) -> f64 {
    let (mut pos, mut neg) = (Vec::new(), Vec::new());
    for (&s, &p) in scores.iter().zip(positive) {
        if p { pos.push(s) } else { neg.push(s) }
    }
    if pos.is_empty() || neg.is_empty() {
        return f64::NAN;
    }
    let mut wins = 0.0;
    for &p in &pos {
        for &q in &neg {
            wins += if p > q {
                1.0
            } else if p == q {
                0.5
            } else {
                0.0
            };
        }
    }
    wins / (pos.len() * neg.len()) as f64
}

/// MADI and RMSD between two baselines over an FHR (clinical.md §5.2, FHRMA's definitions):
/// `D = (B1 − B2)²`, `Dk = √(1-min moving mean of (Bk − FHR)²) + 3`,
/// `MADI = mean(D / (D1·D2 + D))`, over samples where the FHR and both baselines exist.
/// Returns `(madi, rmsd_bpm)`.
pub fn madi_rmsd(b1: &[f32], b2: &[f32], fhr: &[f32]) -> Option<(f64, f64)> {
    let n = b1.len().min(b2.len()).min(fhr.len());
    let ok = |i: usize| !fhr[i].is_nan() && !b1[i].is_nan() && !b2[i].is_nan();
    // 1-minute (240-sample) centred moving means of the squared distances, over valid samples.
    let half = 120usize;
    let mut prefix = vec![(0.0f64, 0.0f64, 0u32); n + 1];
    for i in 0..n {
        let (s1, s2, c) = prefix[i];
        prefix[i + 1] = if ok(i) {
            let d1 = f64::from(b1[i] - fhr[i]).powi(2);
            let d2 = f64::from(b2[i] - fhr[i]).powi(2);
            (s1 + d1, s2 + d2, c + 1)
        } else {
            (s1, s2, c)
        };
    }
    let (mut madi, mut sq, mut count) = (0.0, 0.0, 0u64);
    for i in 0..n {
        if !ok(i) {
            continue;
        }
        let lo = i.saturating_sub(half);
        let hi = (i + half + 1).min(n);
        let (s1, s2, c) = (
            prefix[hi].0 - prefix[lo].0,
            prefix[hi].1 - prefix[lo].1,
            prefix[hi].2 - prefix[lo].2,
        );
        let c = f64::from(c.max(1));
        let d1 = (s1 / c).sqrt() + 3.0;
        let d2 = (s2 / c).sqrt() + 3.0;
        let d = f64::from(b1[i] - b2[i]).powi(2);
        madi += d / (d1 * d2 + d);
        sq += d;
        count += 1;
    }
    (count > 0).then(|| (madi / count as f64, (sq / count as f64).sqrt()))
}

/// The median of a list (NaN for none).
pub fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let m = values.len() / 2;
    if values.len() % 2 == 1 {
        values[m]
    } else {
        (values[m - 1] + values[m]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iv(start: f64, end: f64) -> Interval {
        Interval { start, end }
    }

    #[test]
    fn matching_is_one_to_one_largest_overlap_first() {
        let experts = [iv(0.0, 60.0), iv(100.0, 130.0)];
        // Ours: one long event covering both experts, and one small one inside the first.
        let ours = [iv(10.0, 120.0), iv(0.0, 20.0)];
        let pairs = match_events(&experts, &ours, 5.0);
        // Largest overlap: expert 0 with ours 0 (50 s); expert 1 can then only take ours 1? No:
        // ours 1 does not overlap expert 1, so expert 1 stays unmatched.
        assert_eq!(pairs, vec![(0, 0)]);
        assert!(match_events(&[iv(0.0, 10.0)], &[iv(6.0, 20.0)], 5.0).is_empty());
        assert_eq!(
            match_events(&[iv(0.0, 10.0)], &[iv(5.0, 20.0)], 5.0),
            vec![(0, 0)]
        );
    }

    #[test]
    fn f1_is_the_harmonic_mean() {
        let c = Counts {
            matched: 5,
            expert: 10,
            ours: 5,
        };
        assert_eq!(c.precision(), 1.0);
        assert_eq!(c.recall(), 0.5);
        assert!((c.f1() - 2.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn kappa_known_values() {
        let perfect = [(0, 0), (1, 1), (2, 2), (1, 1)];
        assert!((quadratic_kappa(&perfect, 3) - 1.0).abs() < 1e-12);
        // A worked example: observed [[1,1],[0,2]] with 2 classes → κ = 0.5.
        let pairs = [(0, 0), (0, 1), (1, 1), (1, 1)];
        assert!((quadratic_kappa(&pairs, 2) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn auc_known_values() {
        assert_eq!(auc(&[1.0, 2.0, 3.0, 4.0], &[false, false, true, true]), 1.0);
        assert_eq!(auc(&[1.0, 1.0], &[false, true]), 0.5);
        assert_eq!(auc(&[4.0, 3.0, 2.0, 1.0], &[false, false, true, true]), 0.0);
    }

    #[test]
    fn madi_is_zero_for_identical_and_grows_with_distance() {
        let fhr: Vec<f32> = (0..2000).map(|i| 140.0 + (i % 7) as f32).collect();
        let b = vec![143.0f32; 2000];
        let (m, r) = madi_rmsd(&b, &b, &fhr).unwrap();
        assert_eq!((m, r), (0.0, 0.0));
        let far = vec![163.0f32; 2000];
        let (m2, r2) = madi_rmsd(&b, &far, &fhr).unwrap();
        assert!(m2 > 0.5 && (r2 - 20.0).abs() < 1e-9, "{m2} {r2}");
    }
}
