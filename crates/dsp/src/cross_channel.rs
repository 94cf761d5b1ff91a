//! Cross-channel coincidence: two fetal heart-rate channels (twins' FHR1 and FHR2) that record
//! the same heart.
//!
//! With twins, the second transducer can slip onto the first twin (or both find the same
//! one): the monitor then draws two traces of one heart, and the other twin's goes unwatched.
//! Monitors check for it at the bedside (Philips "cross-channel verification", clinical.md
//! §4.4 [R74]); the centre sees only the rates, so it checks them the way the maternal
//! coincidence rule does (`prep`, rule 3), with a stricter test because two fetuses' rates lie
//! near each other far more often than a fetus's and its mother's:
//!
//! - the tolerance is the one used for maternal–fetal ambiguity, |FHR1 − FHR2| ≤ 5 bpm
//!   (clinical.md §4.4 [R75]);
//! - over a 5-minute window (checked every 15 s) at least half of whose samples carry both
//!   rates, at least 70 % of those lie within it, **and** the two traces' 1-s means move
//!   together (Pearson correlation ≥ 0.5 over the seconds both record fully): one heart's
//!   variability is the same on both channels, two hearts' is not;
//! - an episode ends once 2 minutes of windows have not coincided. It runs from the first
//!   minute of its first window that coincides by share alone (a 1-minute stretch, taken a
//!   second at a time, a quarter of it carrying both rates, 70 % of those within the
//!   tolerance) to the end of the last such minute of its last window: a 5-minute window
//!   coincides once most of it does, so its own bounds would put the episode's start up to
//!   3.5 minutes before the slip, and its end as far after.
//!
//! The limits are measured, not taken from a source (no vendor publishes its own): `cargo run
//! --release --example cross_channel` runs this detector on the shared recordings that carry
//! one fetus on both channels (it should find them) and on pairs of different fetuses'
//! recordings put side by side (it should not), and prints both rates. The shared data has no
//! twins: independent recordings stand in for them, and real twins' rates may move together
//! more (a shared maternal cause), so the false rate on real twins is not known.
//!
//! Sans-IO and deterministic: samples in, [`CrossChannelEvent`]s out, one sample at a time
//! whatever the block size; memory is one window of value pairs.

use std::collections::VecDeque;

use ctg_proto::model::{Channel, Sample};

/// Limits of the coincidence test (module docs).
#[derive(Clone, Debug)]
pub struct CrossChannelConfig {
    /// Samples in a window (5 minutes at 4 Hz).
    pub window: usize,
    /// Samples between two checks (15 s).
    pub step: usize,
    /// Two rates within this many bpm coincide (clinical.md §4.4 [R75]).
    pub tolerance_bpm: f32,
    /// Share of the samples carrying both rates that must coincide.
    pub min_share: f32,
    /// Correlation of the two traces' 1-s means that must be reached.
    pub min_correlation: f32,
    /// Share of the window's samples that must carry both rates.
    pub min_recorded: f32,
    /// An episode ends when no window has coincided for this many samples (2 minutes).
    pub end_after: usize,
}

impl Default for CrossChannelConfig {
    fn default() -> Self {
        Self {
            window: 1200,
            step: 60,
            tolerance_bpm: 5.0,
            min_share: 0.7,
            min_correlation: 0.5,
            min_recorded: 0.5,
            end_after: 480,
        }
    }
}

/// What the detector tells, by sample index (the first sample pushed has the detector's
/// starting index).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CrossChannelEvent {
    /// The channels have coincided since `start` (told when the first window coincides).
    Began {
        /// First sample of the first coinciding minute of the first coinciding window.
        start: u64,
    },
    /// The episode is over: it ran from `start` to `end` (exclusive).
    Ended {
        /// As told when it began.
        start: u64,
        /// End of the last coinciding minute of the last coinciding window.
        end: u64,
    },
}

/// Streaming check that two fetal channels record the same heart (module docs).
#[derive(Debug)]
pub struct CrossChannel {
    config: CrossChannelConfig,
    channels: [Channel; 2],
    /// The last `window` samples' two rates, quarter bpm (0: no signal), by index modulo
    /// `window`.
    pairs: Vec<[u16; 2]>,
    /// Index of the next sample.
    next: u64,
    /// Index of the first sample pushed.
    first: u64,
    /// The episode under way: its start and the end of its last coinciding window.
    episode: Option<(u64, u64)>,
    /// Where the last episode told as ended ended: the next one starts no earlier.
    ended_at: u64,
    events: VecDeque<CrossChannelEvent>,
}

impl CrossChannel {
    /// A detector of `channels[0]` against `channels[1]` whose first sample will be `first`.
    pub fn new(config: CrossChannelConfig, channels: [Channel; 2], first: u64) -> Self {
        let window = config.window.max(8);
        let step = config.step.max(1);
        Self {
            config: CrossChannelConfig {
                window,
                step,
                ..config
            },
            channels,
            pairs: vec![[0, 0]; window],
            next: first,
            first,
            episode: None,
            ended_at: first,
            events: VecDeque::new(),
        }
    }

    /// The two channels compared.
    pub fn channels(&self) -> [Channel; 2] {
        self.channels
    }

    /// Feeds samples (any number, in stream order).
    pub fn push(&mut self, samples: &[Sample]) {
        let window = self.config.window as u64;
        for s in samples {
            let slot = (self.next % window) as usize;
            self.pairs[slot] = [s.value(self.channels[0]), s.value(self.channels[1])];
            self.next += 1;
            let seen = self.next - self.first;
            if seen >= window && (seen - window).is_multiple_of(self.config.step as u64) {
                self.check();
            }
        }
    }

    /// Ends an episode under way (the stream, or this comparison, is over).
    pub fn finish(&mut self) {
        if let Some((start, last)) = self.episode.take() {
            let end = self.last_coinciding_minute_end(start, last);
            self.ended_at = end;
            self.events
                .push_back(CrossChannelEvent::Ended { start, end });
        }
    }

    /// The next event, oldest first.
    pub fn poll(&mut self) -> Option<CrossChannelEvent> {
        self.events.pop_front()
    }

    /// Whether an episode is under way.
    pub fn under_way(&self) -> bool {
        self.episode.is_some()
    }

    /// Checks the window ending at the newest sample.
    fn check(&mut self) {
        let end = self.next;
        let start = end - self.config.window as u64;
        if self.coincides(start) {
            match &mut self.episode {
                Some((_, last)) => *last = end,
                None => {
                    // A window reaching back into the last episode: this one starts after it.
                    let start = self.first_coinciding_minute(start.max(self.ended_at), end);
                    self.episode = Some((start, end));
                    self.events.push_back(CrossChannelEvent::Began { start });
                }
            }
        } else if let Some((first, last)) = self.episode
            && end - last >= self.config.end_after as u64
        {
            self.episode = None;
            let end = self.last_coinciding_minute_end(first, last);
            self.ended_at = end;
            self.events
                .push_back(CrossChannelEvent::Ended { start: first, end });
        }
    }

    /// Samples in the stretch an episode's bounds are found by (1 minute).
    const MINUTE: u64 = 240;

    /// Whether the samples `from..to` (held) coincide by share alone: a quarter of them carry
    /// both rates, and `min_share` of those lie within the tolerance.
    fn share_coincides(&self, from: u64, to: u64) -> bool {
        let window = self.config.window as u64;
        let tolerance = (self.config.tolerance_bpm * 4.0).round() as i32;
        let (mut both, mut close) = (0usize, 0usize);
        for index in from..to {
            let [a, b] = self.pairs[(index % window) as usize];
            if a > 0 && b > 0 {
                both += 1;
                close += usize::from((i32::from(a) - i32::from(b)).abs() <= tolerance);
            }
        }
        both * 4 >= (to - from) as usize && (close as f32) >= self.config.min_share * both as f32
    }

    /// The start of the first minute of the coinciding window `start..end` (held) that
    /// coincides by share, a second at a time; the window's start if none does.
    fn first_coinciding_minute(&self, start: u64, end: u64) -> u64 {
        let minute = Self::MINUTE.min(end - start);
        (start..=end - minute)
            .step_by(4)
            .find(|&from| self.share_coincides(from, from + minute))
            .unwrap_or(start)
    }

    /// The end of the last minute, ending at or before `last` (the end of the last coinciding
    /// window) and after `start`, that coincides by share, among the samples still held; `last`
    /// if none does.
    fn last_coinciding_minute_end(&self, start: u64, last: u64) -> u64 {
        let held_from = self
            .next
            .saturating_sub(self.config.window as u64)
            .max(self.first);
        let minute = Self::MINUTE.min(last - start.max(held_from).min(last));
        if minute == 0 {
            return last;
        }
        let earliest = start.max(held_from) + minute;
        let mut to = last;
        while to >= earliest {
            if self.share_coincides(to - minute, to) {
                return to;
            }
            let Some(earlier) = to.checked_sub(4) else {
                break;
            };
            to = earlier;
        }
        last
    }

    /// The coincidence test over the window `start .. start + window` (module docs).
    fn coincides(&self, start: u64) -> bool {
        let window = self.config.window;
        let tolerance = (self.config.tolerance_bpm * 4.0).round() as i32;
        let (mut both, mut close) = (0usize, 0usize);
        // 1-s means of the seconds both channels record fully, for the correlation.
        let (mut n, mut sum_a, mut sum_b, mut sum_aa, mut sum_bb, mut sum_ab) =
            (0.0f64, 0.0f64, 0.0f64, 0.0f64, 0.0f64, 0.0f64);
        let (mut second_a, mut second_b, mut second_full) = (0i32, 0i32, 0usize);
        for k in 0..window {
            let index = start + k as u64;
            let [a, b] = self.pairs[(index % window as u64) as usize];
            if a > 0 && b > 0 {
                both += 1;
                close += usize::from((i32::from(a) - i32::from(b)).abs() <= tolerance);
                second_a += i32::from(a);
                second_b += i32::from(b);
                second_full += 1;
            }
            if k % 4 == 3 {
                if second_full == 4 {
                    let (x, y) = (f64::from(second_a) / 16.0, f64::from(second_b) / 16.0);
                    n += 1.0;
                    sum_a += x;
                    sum_b += y;
                    sum_aa += x * x;
                    sum_bb += y * y;
                    sum_ab += x * y;
                }
                (second_a, second_b, second_full) = (0, 0, 0);
            }
        }
        if (both as f32) < self.config.min_recorded * window as f32
            || (close as f32) < self.config.min_share * both as f32
            || n < 10.0
        {
            return false;
        }
        let covariance = sum_ab - sum_a * sum_b / n;
        let (var_a, var_b) = (sum_aa - sum_a * sum_a / n, sum_bb - sum_b * sum_b / n);
        if var_a <= 0.0 || var_b <= 0.0 {
            // A flat line on either channel (no variability to compare): the rates alone
            // cannot tell one heart from two.
            return false;
        }
        covariance / (var_a * var_b).sqrt() >= f64::from(self.config.min_correlation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A heart rate with beat-to-beat-like wander: deterministic, `seed` chooses the pattern.
    fn wander(seed: u32, n: usize, base_bpm: f32) -> Vec<u16> {
        wander_by(seed, n, base_bpm, 3.0, 6.0)
    }

    /// [`wander`] with its fast (`wobble`, about 2 bpm a unit) and slow (bpm) parts chosen.
    fn wander_by(seed: u32, n: usize, base_bpm: f32, wobble: f32, slow_bpm: f32) -> Vec<u16> {
        let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
        let mut level = 0.0f32;
        (0..n)
            .map(|i| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                let step = (state % 1000) as f32 / 1000.0 - 0.5;
                level = (level + step * 1.5) * 0.98;
                let slow = slow_bpm * ((i as f32) / 240.0 + seed as f32).sin();
                ((base_bpm + level * wobble + slow) * 4.0).round() as u16
            })
            .collect()
    }

    fn samples(fhr1: &[u16], fhr2: &[u16]) -> Vec<Sample> {
        fhr1.iter()
            .zip(fhr2)
            .map(|(&a, &b)| {
                let mut s = Sample::default();
                s.values[Channel::Fhr1.index()] = a;
                s.values[Channel::Fhr2.index()] = b;
                s
            })
            .collect()
    }

    fn events(trace: &[Sample], block: usize) -> Vec<CrossChannelEvent> {
        let mut detector = CrossChannel::new(
            CrossChannelConfig::default(),
            [Channel::Fhr1, Channel::Fhr2],
            0,
        );
        let mut out = Vec::new();
        for chunk in trace.chunks(block) {
            detector.push(chunk);
            while let Some(e) = detector.poll() {
                out.push(e);
            }
        }
        detector.finish();
        while let Some(e) = detector.poll() {
            out.push(e);
        }
        out
    }

    #[test]
    fn one_heart_on_both_channels_for_ten_minutes_is_one_episode() {
        let minutes = |m: usize| m * 240;
        let twin_a = wander(1, minutes(40), 140.0);
        let twin_b = wander(2, minutes(40), 143.0);
        // FHR2 follows twin A, a little off, from minute 15 to minute 25.
        let mut fhr2 = twin_b.clone();
        for i in minutes(15)..minutes(25) {
            fhr2[i] = twin_a[i] + if i % 3 == 0 { 4 } else { 0 };
        }
        let trace = samples(&twin_a, &fhr2);
        let told = events(&trace, 4);
        let [
            CrossChannelEvent::Began { start },
            CrossChannelEvent::Ended { start: same, end },
        ] = told[..]
        else {
            panic!("one episode, begun then ended: {told:?}");
        };
        assert_eq!(start, same);
        // Within a minute of the stretch at each end (a 5-minute window's own bounds would
        // put them up to 3.5 minutes out).
        assert!(
            (minutes(14)..=minutes(16)).contains(&(start as usize)),
            "starts at {start}"
        );
        assert!(
            (minutes(24)..=minutes(26)).contains(&(end as usize)),
            "ends at {end}"
        );
        // However the stream is cut into blocks.
        for block in [1, 7, 240, 5000] {
            assert_eq!(events(&trace, block), told, "blocks of {block}");
        }
    }

    #[test]
    fn two_hearts_at_the_same_rate_do_not_coincide() {
        // Same baseline, each its own variability.
        let trace = samples(&wander(3, 240 * 60, 140.0), &wander(4, 240 * 60, 140.0));
        assert_eq!(events(&trace, 4), vec![]);
    }

    #[test]
    fn rates_within_5_bpm_that_do_not_move_together_do_not_coincide() {
        // FHR2 mirrors FHR1 about 140 bpm: almost always within 5 bpm of it, but rising as it
        // falls. Only the traces' correlation tells these apart from one heart.
        let a = wander_by(5, 240 * 30, 140.0, 0.8, 0.0);
        let b: Vec<u16> = a.iter().map(|&v| 2 * 560 - v).collect();
        let close = a
            .iter()
            .zip(&b)
            .filter(|(a, b)| a.abs_diff(**b) <= 20)
            .count();
        assert!(close * 10 >= a.len() * 8, "{close} of {} close", a.len());
        assert_eq!(events(&samples(&a, &b), 4), vec![]);
    }

    #[test]
    fn a_flat_or_missing_channel_never_coincides() {
        let fhr1 = wander(7, 240 * 20, 140.0);
        let flat = vec![560u16; fhr1.len()];
        assert_eq!(events(&samples(&fhr1, &flat), 4), vec![]);
        let missing: Vec<u16> = fhr1
            .iter()
            .enumerate()
            .map(|(i, &v)| if i % 4 < 3 { 0 } else { v })
            .collect();
        assert_eq!(events(&samples(&fhr1, &missing), 4), vec![]);
    }

    #[test]
    fn an_episode_under_way_ends_at_finish() {
        let fhr1 = wander(6, 240 * 12, 150.0);
        let told = events(&samples(&fhr1, &fhr1), 60);
        assert!(
            matches!(
                told[..],
                [
                    CrossChannelEvent::Began { start: 0 },
                    CrossChannelEvent::Ended { start: 0, end }
                ] if end == 240 * 12
            ),
            "{told:?}"
        );
    }
}
