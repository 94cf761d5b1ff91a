//! How fast the analysis could be: the essential per-sample work of the streaming analysis,
//! fused into one loop over a recording's samples, timed over the same five records as
//! `cargo bench --bench analysis`. Not the analysis (its results mean nothing); a yardstick
//! for what the analyzer's structure costs on top of the arithmetic it must do.
//!
//! Per sample: the fetal, maternal and toco values out of the sample; the fetal range check;
//! the halving test against the previous valid value; the first valid value of each second;
//! per second, one 10-minute heart-rate histogram in and out, and a toco mean; every 15 s, a
//! triangular-kernel mode search over the histogram; the level interpolated between knots;
//! two excursion detectors (rise and fall, with extreme, time beyond 15 bpm and gap rules);
//! the value and level stored in a history. Left out: the coincidence, island and continuity
//! rules, the baseline's second pass, the live tracker, the toco smoothing and tone, typing,
//! the window measures and classification.
//!
//! Run: `cargo run --release --example throughput_floor` (needs ../shared/data). Prints the
//! median time of one pass over the five records and samples per second.

use std::hint::black_box;
use std::time::Instant;

use ctg_proto::model::{Channel, Quality, Sample};

#[derive(Default, Clone, Copy)]
struct Detector {
    under_way: bool,
    anchor: u64,
    start: u64,
    amplitude: f32,
    extreme_at: u64,
    beyond: u32,
    last_valid: u64,
    found: u32,
}

impl Detector {
    #[inline(always)]
    fn push(&mut self, index: u64, fhr: f32, level: f32, direction: f32) {
        if fhr.is_nan() || level.is_nan() {
            if self.under_way && index - self.last_valid > 40 {
                self.close();
            }
            return;
        }
        let distance = direction * (fhr - level);
        if distance <= 0.0 {
            if self.under_way {
                self.close();
            }
            self.anchor = index;
            return;
        }
        if !self.under_way {
            if distance > 5.0 {
                *self = Self {
                    under_way: true,
                    start: self.anchor + 1,
                    amplitude: distance,
                    extreme_at: index,
                    beyond: u32::from(distance >= 15.0),
                    last_valid: index,
                    ..*self
                };
            }
            return;
        }
        self.last_valid = index;
        if distance > self.amplitude {
            self.amplitude = distance;
            self.extreme_at = index;
        }
        self.beyond += u32::from(distance >= 15.0);
    }

    #[inline(never)]
    fn close(&mut self) {
        self.under_way = false;
        if self.amplitude >= 15.0 && self.beyond >= 60 && self.last_valid + 1 - self.start >= 60 {
            self.found += 1;
        }
    }
}

fn pass(samples: &[Sample], history: &mut Vec<(u16, f32)>) -> u32 {
    let mut counts = [0u32; 211];
    let mut window = vec![0u16; 601];
    let mut slot = 0;
    let mut held = 0u32;
    let (mut level, mut previous_level) = (f32::NAN, f32::NAN);
    let fractions: Vec<f32> = (0..=60).map(|k| k as f32 / 60.0).collect();
    let (mut rise, mut fall) = (Detector::default(), Detector::default());
    let (mut last, mut halvings) = (f32::NAN, 0u32);
    let mut first_of_second = 0u16;
    let (mut toco_sum, mut toco_valid, mut toco) = (0u32, 0u32, 0.0f32);
    history.clear();
    for (i, s) in samples.iter().enumerate() {
        let i = i as u64;
        let quarters = s.value(Channel::Fhr1);
        let maternal = s.value(Channel::Mhr);
        let fetal = if quarters == 0 {
            f32::NAN
        } else {
            f32::from(quarters) * 0.25
        };
        let trusted = (50.0..=220.0).contains(&fetal);
        black_box(maternal);
        let kept = if trusted { quarters } else { 0 };
        if trusted {
            halvings += u32::from(fetal <= last * 0.58);
            last = fetal;
        }
        if first_of_second == 0 {
            first_of_second = kept;
        }
        if s.quality[Channel::Ua.index()] != Quality::None {
            toco_sum += u32::from(s.value(Channel::Ua));
            toco_valid += 1;
        }
        if i % 4 == 3 {
            let code = std::mem::take(&mut first_of_second);
            let old = std::mem::replace(&mut window[slot], code);
            slot = if slot + 1 == window.len() {
                0
            } else {
                slot + 1
            };
            if let Some(b) = code
                .checked_sub(120)
                .map(|c| usize::from(c >> 2))
                .filter(|&b| b < 211)
            {
                counts[b] += 1;
                held += 1;
            }
            if let Some(b) = old
                .checked_sub(120)
                .map(|c| usize::from(c >> 2))
                .filter(|&b| b < 211)
            {
                counts[b] -= 1;
                held -= 1;
            }
            if toco_valid > 0 {
                toco += toco_sum as f32 * 0.5 / toco_valid as f32;
            }
            (toco_sum, toco_valid) = (0, 0);
            if i % 60 == 59 {
                let mut best = (0u32, 0usize);
                for c in 3..208 {
                    let v = counts[c - 3]
                        + 2 * counts[c - 2]
                        + 3 * counts[c - 1]
                        + 4 * counts[c]
                        + 3 * counts[c + 1]
                        + 2 * counts[c + 2]
                        + counts[c + 3];
                    if v > best.0 {
                        best = (v, c);
                    }
                }
                previous_level = level;
                level = if held > 0 {
                    30.0 + best.1 as f32 + 0.5
                } else {
                    f32::NAN
                };
            }
        }
        let b = if previous_level.is_nan() {
            level
        } else {
            previous_level + (level - previous_level) * fractions[(i % 60) as usize]
        };
        let value = if kept == 0 {
            f32::NAN
        } else {
            f32::from(kept) * 0.25
        };
        rise.push(i, value, b, 1.0);
        fall.push(i, value, b, -1.0);
        history.push((kept, b));
    }
    black_box(toco);
    rise.found + fall.found + halvings
}

fn main() {
    let data = ctg_formats::shared_data_dir().unwrap_or_else(|e| panic!("{e}"));
    let records: Vec<Vec<Sample>> = ["1001", "1002", "1003", "1329", "2013"]
        .iter()
        .map(|r| {
            ctg_formats::read_recording(&data.join(format!("ctu-uhb/wfdb/{r}.hea")))
                .unwrap()
                .samples
        })
        .collect();
    let total: usize = records.iter().map(Vec::len).sum();
    let mut history = Vec::with_capacity(total);
    let mut times = Vec::new();
    for _ in 0..15 {
        let started = Instant::now();
        for _ in 0..20 {
            for r in &records {
                black_box(pass(black_box(r), &mut history));
            }
        }
        times.push(started.elapsed().as_secs_f64() / 20.0);
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    println!(
        "the essential work, fused: {:.3} ms a pass over {total} samples, {:.1} M samples/s",
        median * 1e3,
        total as f64 / median / 1e6
    );
}
