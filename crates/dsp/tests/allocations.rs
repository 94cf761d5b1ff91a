//! Bounded memory per stream and no allocation per sample on the hot path (issue 3, "Engine"),
//! counted by `allocation-counter` (which puts a counting global allocator into this test
//! binary).
//!
//! A real recording is played three times over as one 4-hour live stream, in 1-second blocks
//! (as the hub feeds it), polling after each block. After the first hour (every window and
//! history full), each further hour is measured: allocations happen per finding and per
//! 10-minute window, not per sample, and the memory the analyzer holds does not grow from one
//! hour to the next.

use ctg_dsp::{Analyzer, AnalyzerConfig, Profile};
use ctg_formats::read_recording;

const HOUR: usize = 4 * 3600;

#[test]
fn a_live_stream_allocates_per_finding_not_per_sample_and_holds_bounded_memory() {
    let data = ctg_formats::shared_data_dir().unwrap_or_else(|e| panic!("{e}"));
    // CTU-UHB 1001: 80 minutes with decelerations, contractions and signal loss; played three
    // times over it is a 4-hour stream.
    let recording = read_recording(&data.join("ctu-uhb/wfdb/1001.hea")).unwrap();
    let samples: Vec<_> = recording
        .samples
        .iter()
        .cycle()
        .take(4 * HOUR)
        .copied()
        .collect();
    let mut config = AnalyzerConfig::new(Profile::Jsog);
    config.fetal = recording.fetal_channel();
    let mut analyzer = Analyzer::new(config);
    let mut held_after_hour = Vec::new();
    for (hour, samples) in samples.chunks(HOUR).enumerate() {
        let mut findings = 0u64;
        let info = allocation_counter::measure(|| {
            for second in samples.chunks(4) {
                analyzer.push(second);
                while let Some(finding) = analyzer.poll() {
                    findings += 1;
                    drop(finding);
                }
            }
        });
        // Net bytes the hour left allocated (held by the analyzer).
        held_after_hour.push(info.bytes_current);
        if hour == 0 {
            continue;
        }
        // About one allocation per finding (measured: 50–64 for 59–69 findings an hour), and a
        // few per 10-minute window; one per sample would be 14,400.
        let allocations = info.count_total;
        eprintln!(
            "hour {}: {allocations} allocations, {findings} findings",
            hour + 1
        );
        assert!(
            allocations <= 4 * findings + 60,
            "hour {}: {allocations} allocations for {findings} findings and {HOUR} samples",
            hour + 1
        );
        // Once every window and history is full, an hour of the stream leaves nothing more
        // behind (what it allocates it frees, but for the growth of a queue to a new high).
        assert!(
            info.bytes_current.abs() < 64 * 1024,
            "hour {}: {} bytes more held at its end ({held_after_hour:?})",
            hour + 1,
            info.bytes_current
        );
    }
    assert!(held_after_hour[0] < 4 * 1024 * 1024, "{held_after_hour:?}");
    eprintln!("bytes held after each hour (net): {held_after_hour:?}");
}
