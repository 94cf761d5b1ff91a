//! How well the cross-channel coincidence check (`ctg_dsp::cross_channel`: two fetal channels
//! recording one heart) tells one heart on both channels from two, on the shared data.
//!
//! - **One heart on both channels**: every shared recording whose FHR1 and FHR2 carry a rate at
//!   the same time (found by reading them all; in the FHRMA set, a scalp electrode and a Doppler
//!   transducer on one fetus). The check should find it: the share of the time both channels
//!   record that lies inside an episode, how long after both start the first one is told, and
//!   how much episode time lies where they do not both record (bounds that overreach).
//! - **Two hearts**: the shared data has no twins, so pairs of different fetuses' recordings
//!   stand in for them, side by side from their first samples (each CTU-UHB record and each
//!   FHRMA-FS Doppler record with the next one in file order, its fetal channel on FHR1 and
//!   the next one's on FHR2). The check should stay silent: the pairs with any episode, and
//!   episodes per hour of both channels recording.
//!
//! Run: `cargo run --release --example cross_channel` (needs ../shared/data).

use std::path::{Path, PathBuf};

use ctg_dsp::cross_channel::{CrossChannel, CrossChannelConfig, CrossChannelEvent};
use ctg_proto::model::{Channel, Sample};

fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .collect();
    out.sort();
    out
}

/// The episodes (start, end) the check finds between FHR1 and FHR2 of `samples`, fed a second
/// at a time, and how many samples had been fed when the first one was told.
fn episodes(samples: &[Sample]) -> (Vec<(u64, u64)>, Option<u64>) {
    let mut check = CrossChannel::new(
        CrossChannelConfig::default(),
        [Channel::Fhr1, Channel::Fhr2],
        0,
    );
    let (mut out, mut first_told) = (Vec::new(), None);
    let mut take = |check: &mut CrossChannel, fed: u64| {
        while let Some(e) = check.poll() {
            match e {
                CrossChannelEvent::Began { .. } => {
                    first_told.get_or_insert(fed);
                }
                CrossChannelEvent::Ended { start, end } => out.push((start, end)),
            }
        }
    };
    let mut fed = 0;
    for block in samples.chunks(4) {
        check.push(block);
        fed += block.len() as u64;
        take(&mut check, fed);
    }
    check.finish();
    take(&mut check, fed);
    (out, first_told)
}

fn both(s: &Sample) -> bool {
    s.value(Channel::Fhr1) > 0 && s.value(Channel::Fhr2) > 0
}

/// The channel of a recording's one fetus: the fetal channel with more signal.
fn fetal(samples: &[Sample]) -> Channel {
    let count = |c: Channel| samples.iter().filter(|s| s.value(c) > 0).count();
    if count(Channel::Fhr2) > count(Channel::Fhr1) {
        Channel::Fhr2
    } else {
        Channel::Fhr1
    }
}

fn main() {
    let data = ctg_formats::shared_data_dir().unwrap_or_else(|e| panic!("{e}"));
    let read = |p: &Path| ctg_formats::read_recording(p).unwrap_or_else(|e| panic!("{e}"));

    // One heart on both channels.
    let mut candidates = files(&data.join("fhrma/traindata"), "fhr");
    for dir in ["DopMHR", "ScalpECG"] {
        candidates.extend(files(&data.join(format!("fhrma-fs/{dir}/Train")), "fhrm"));
    }
    eprintln!(
        "reading {} FHRMA recordings for both fetal channels at once",
        candidates.len()
    );
    println!("one heart on both channels (recordings with ≥ 1 min of both channels at once)");
    println!(
        "{:<16} {:>12} {:>16} {:>22} {:>26}",
        "recording",
        "both, min",
        "inside, % of it",
        "first told, min after",
        "episodes outside it, min"
    );
    let (mut inside_all, mut both_all, mut outside_all) = (0usize, 0usize, 0usize);
    for path in &candidates {
        let rec = read(path);
        let both_n = rec.samples.iter().filter(|s| both(s)).count();
        if both_n < 240 {
            continue;
        }
        let (found, first_told) = episodes(&rec.samples);
        let in_episode = |i: usize| found.iter().any(|&(a, b)| (a..b).contains(&(i as u64)));
        let inside = (0..rec.samples.len())
            .filter(|&i| both(&rec.samples[i]) && in_episode(i))
            .count();
        // Episode time where the two channels do not both record: how far its bounds overreach.
        let outside = (0..rec.samples.len())
            .filter(|&i| !both(&rec.samples[i]) && in_episode(i))
            .count();
        let first_both = rec.samples.iter().position(both).unwrap_or(0) as u64;
        let told = first_told.map(|at| at.saturating_sub(first_both) as f64 / 240.0);
        inside_all += inside;
        both_all += both_n;
        outside_all += outside;
        println!(
            "{:<16} {:>12.1} {:>16.0} {:>22} {:>26.1}",
            path.file_name().unwrap().to_string_lossy(),
            both_n as f64 / 240.0,
            100.0 * inside as f64 / both_n as f64,
            told.map_or("never".into(), |m| format!("{m:.1}")),
            outside as f64 / 240.0
        );
    }
    println!(
        "all: {:.0} % of {:.0} min inside an episode; {:.1} min of episodes outside it\n",
        100.0 * inside_all as f64 / both_all.max(1) as f64,
        both_all as f64 / 240.0,
        outside_all as f64 / 240.0
    );

    // Two hearts: neighbouring recordings side by side.
    let mut traces: Vec<(String, Vec<u16>)> = Vec::new();
    let mut sources = files(&data.join("ctu-uhb/wfdb"), "hea");
    sources.extend(files(&data.join("fhrma-fs/DopMHR/Train"), "fhrm"));
    for (k, path) in sources.iter().enumerate() {
        if k % 100 == 0 {
            eprintln!("  two hearts: read {k}/{}", sources.len());
        }
        let rec = read(path);
        let channel = fetal(&rec.samples);
        traces.push((
            path.file_name().unwrap().to_string_lossy().into_owned(),
            rec.samples.iter().map(|s| s.value(channel)).collect(),
        ));
    }
    let (mut pairs, mut flagged, mut count, mut both_samples) = (0usize, 0usize, 0usize, 0usize);
    let mut examples = Vec::new();
    for pair in traces.windows(2) {
        let [(name_a, a), (name_b, b)] = pair else {
            continue;
        };
        let samples: Vec<Sample> = a
            .iter()
            .zip(b)
            .map(|(&x, &y)| {
                let mut s = Sample::default();
                s.values[Channel::Fhr1.index()] = x;
                s.values[Channel::Fhr2.index()] = y;
                s
            })
            .collect();
        let (found, _) = episodes(&samples);
        pairs += 1;
        both_samples += samples.iter().filter(|s| both(s)).count();
        if !found.is_empty() {
            flagged += 1;
            count += found.len();
            if examples.len() < 5 {
                examples.push(format!("{name_a} + {name_b}: {found:?}"));
            }
        }
    }
    let hours = both_samples as f64 / 4.0 / 3600.0;
    println!("two hearts (neighbouring recordings side by side)");
    println!(
        "pairs {pairs}, {hours:.0} h of both channels recording: {flagged} pairs with an episode ({:.1} %), {count} episodes ({:.3} per hour)",
        100.0 * flagged as f64 / pairs.max(1) as f64,
        count as f64 / hours.max(1e-9)
    );
    for e in examples {
        println!("  {e}");
    }
}
