//! A fixed, deterministic workload for counting instructions under valgrind (callgrind), which
//! repeats to within a fraction of a percent on a noisy shared machine where wall-clock
//! benchmarks move by ±10 %: run it on two versions and compare. Used by
//! `scripts/instructions.sh`, which prints instructions per sample (or per frame).
//!
//! Run: `cargo run --release --example instructions -- analysis|offline|series50 [REPEAT]` (needs
//! ../shared/data). REPEAT (default 1) runs the workload that many times over the records read
//! once, for a sampling profiler (`perf record -e cpu-clock`), where one run is too short.

use std::hint::black_box;

use ctg_devices::series50::{Block, CtgBlock, Series50Host, frame};
use ctg_devices::{DeviceOutput, HostSession};
use ctg_dsp::{Analyzer, Profile};
use ctg_proto::model::BlockFlags;

const RECORDS: [&str; 5] = ["1001", "1002", "1003", "1329", "2013"];

fn main() {
    let workload = std::env::args().nth(1).unwrap_or_else(|| "analysis".into());
    let repeat: usize = std::env::args()
        .nth(2)
        .map_or(1, |r| r.parse().expect("REPEAT is a number"));
    let data = ctg_formats::shared_data_dir().unwrap_or_else(|e| panic!("{e}"));
    let records: Vec<_> = RECORDS
        .iter()
        .map(|r| ctg_formats::read_recording(&data.join(format!("ctu-uhb/wfdb/{r}.hea"))).unwrap())
        .collect();
    let units = match workload.as_str() {
        // The live analysis, as the hub runs it: 1-s blocks into a streaming analyzer.
        "analysis" => {
            let mut samples = 0;
            for rec in records.iter().cycle().take(repeat * records.len()) {
                let mut analyzer = Analyzer::new(ctg_eval::config_for(rec, Profile::Jsog));
                for block in rec.samples.chunks(4) {
                    analyzer.push(block);
                    while let Some(f) = analyzer.poll() {
                        black_box(f);
                    }
                }
                black_box(analyzer.into_report());
                samples += rec.samples.len();
            }
            samples
        }
        // The offline analysis of a recording (`analyze`): everything in one push, no live
        // tracker.
        "offline" => {
            let mut samples = 0;
            for rec in records.iter().cycle().take(repeat * records.len()) {
                let config = ctg_eval::config_for(rec, Profile::Jsog);
                black_box(ctg_dsp::analyze(black_box(&rec.samples), config));
                samples += rec.samples.len();
            }
            samples
        }
        // The bridge's Series 50 path: encode C frames (as a monitor would), then deframe, check and
        // normalise them.
        "series50" => {
            let mut frames = 0;
            for rec in records.iter().cycle().take(repeat * records.len()) {
                let mut wire = Vec::new();
                for s in rec.samples.chunks_exact(4) {
                    let block = CtgBlock::from_samples(
                        &[s[0], s[1], s[2], s[3]],
                        &rec.modes,
                        BlockFlags(0),
                        None,
                    );
                    wire.extend(frame(&Block::Ctg(block).encode()));
                    frames += 1;
                }
                let mut host = Series50Host::new();
                let mut out = Vec::new();
                HostSession::receive(&mut host, black_box(&wire), 0, &mut out);
                black_box(
                    out.iter()
                        .filter(|o| matches!(o, DeviceOutput::Ctg(_)))
                        .count(),
                );
            }
            frames
        }
        other => panic!("unknown workload {other} (analysis, offline, series50)"),
    };
    println!("units {units}");
}
