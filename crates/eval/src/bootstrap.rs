//! How far each figure could move on other recordings like these: a 95 % interval by the
//! percentile bootstrap over recordings.
//!
//! Every figure pools recordings, and recordings differ from one another far more than the
//! events or samples within one do (one record's forty unmarked decelerations move the F1 as
//! much as forty records' one each), so the recording is what is drawn: as many recordings as
//! the part holds, with replacement, the figure computed again on the draw, [`RESAMPLES`]
//! times; the 2.5th and 97.5th percentiles of those figures are the interval (the percentile
//! bootstrap, Efron & Tibshirani 1993, ch. 13; resampling whole recordings keeps each one's
//! events together, as a cluster bootstrap does). The draws are seeded, so every run prints
//! the same interval.
//!
//! What it covers: other recordings from the same sources, annotated by the same experts. It
//! does not cover other monitors, other populations or another annotator, where the figures
//! may move further.

/// How many draws each interval takes.
pub const RESAMPLES: usize = 2000;

/// The draws' seed ("mimamori" in ASCII): a fixed seed makes the interval repeatable.
const SEED: u64 = 0x6d69_6d61_6d6f_7269;

/// The 95 % percentile-bootstrap interval of `figure` over `units` (one per recording), or
/// `None` when there is nothing to draw from or the figure is undefined (NaN) on more than
/// 5 % of the draws (an AUC on a draw without an acidaemic record, say): an interval over
/// the draws where it happened to be defined would be narrower than the truth.
pub fn interval95<T>(units: &[T], figure: impl Fn(&[&T]) -> f64) -> Option<[f64; 2]> {
    if units.is_empty() {
        return None;
    }
    let mut rng = fastrand::Rng::with_seed(SEED);
    let mut draw: Vec<&T> = Vec::with_capacity(units.len());
    let mut figures = Vec::with_capacity(RESAMPLES);
    for _ in 0..RESAMPLES {
        draw.clear();
        draw.extend((0..units.len()).map(|_| &units[rng.usize(..units.len())]));
        let value = figure(&draw);
        if value.is_finite() {
            figures.push(value);
        }
    }
    if figures.len() * 100 < RESAMPLES * 95 {
        return None;
    }
    figures.sort_by(f64::total_cmp);
    Some([percentile(&figures, 0.025), percentile(&figures, 0.975)])
}

/// The `p`-quantile of sorted values, interpolated between the two nearest ranks.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = p * (sorted.len() - 1) as f64;
    let (below, above) = (rank.floor() as usize, rank.ceil() as usize);
    sorted[below] + (sorted[above] - sorted[below]) * (rank - below as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mean(draw: &[&f64]) -> f64 {
        draw.iter().copied().sum::<f64>() / draw.len() as f64
    }

    #[test]
    fn the_interval_holds_the_figure_and_narrows_as_recordings_are_added() {
        // Values 0..10 repeated: the mean is 4.5 whatever the count.
        let units = |n: usize| (0..n).map(|i| (i % 10) as f64).collect::<Vec<_>>();
        let [lo40, hi40] = interval95(&units(40), mean).unwrap();
        let [lo400, hi400] = interval95(&units(400), mean).unwrap();
        assert!(lo40 < 4.5 && 4.5 < hi40, "{lo40}–{hi40}");
        assert!(lo400 < 4.5 && 4.5 < hi400, "{lo400}–{hi400}");
        // The standard error falls with √n: ten times the recordings, about a third the width.
        let ratio = (hi40 - lo40) / (hi400 - lo400);
        assert!((2.5..4.0).contains(&ratio), "width ratio {ratio}");
        // The standard deviation of 0..9 is 2.87; the mean of 400 has a standard error of
        // 0.144, so the interval is about ±0.28.
        assert!(
            ((hi400 - lo400) / 2.0 - 0.28).abs() < 0.04,
            "{lo400}–{hi400}"
        );
    }

    #[test]
    fn the_same_input_gives_the_same_interval() {
        let units: Vec<f64> = (0..50).map(|i| f64::from(i * i % 17)).collect();
        assert_eq!(interval95(&units, mean), interval95(&units, mean));
    }

    #[test]
    fn a_figure_every_recording_agrees_on_has_no_spread() {
        assert_eq!(interval95(&[0.5; 30], mean), Some([0.5, 0.5]));
    }

    #[test]
    fn nothing_to_draw_or_a_figure_often_undefined_gives_no_interval() {
        assert_eq!(interval95(&[] as &[f64], mean), None);
        // One recording in five carries what the figure needs (an AUC's acidaemic record):
        // with five recordings a draw lacks it a third of the time.
        let units = [1.0, 0.0, 0.0, 0.0, 0.0];
        let needs_a_one = |draw: &[&f64]| {
            if draw.iter().any(|v| **v == 1.0) {
                1.0
            } else {
                f64::NAN
            }
        };
        assert_eq!(interval95(&units, needs_a_one), None);
        // Rarely undefined (one draw in about 10^9): an interval.
        let many = [[1.0; 20].as_slice(), &[0.0; 80]].concat();
        assert_eq!(interval95(&many, needs_a_one), Some([1.0, 1.0]));
    }

    #[test]
    fn percentiles_interpolate_between_ranks() {
        let sorted = [0.0, 1.0, 2.0, 3.0, 4.0];
        assert_eq!(percentile(&sorted, 0.0), 0.0);
        assert_eq!(percentile(&sorted, 0.5), 2.0);
        assert_eq!(percentile(&sorted, 0.625), 2.5);
        assert_eq!(percentile(&sorted, 1.0), 4.0);
    }
}
