//! What one live stream costs the hub in memory after an hour: the analyzer (ctg-dsp) and the
//! recent window, measured as the growth of this process's resident memory over many streams
//! fed an hour of the synthetic programme each.
//!
//! Run: `cargo run --release --example stream_memory [-- STREAMS]` (default 300).

use ctg_dsp::{Analyzer, AnalyzerConfig, Profile};

fn rss_kib() -> u64 {
    ctg_bench::hub_process::proc_sample("/proc/self").map_or(0, |s| s.rss_kib)
}

fn main() {
    let streams: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(300);
    let hour = ctg_sim::synthetic::Synthetic::samples(3600);
    let before = rss_kib();
    let mut analyzers = Vec::new();
    for _ in 0..streams {
        let mut analyzer = Analyzer::new(AnalyzerConfig::new(Profile::Jsog));
        for second in hour.chunks(4) {
            analyzer.push(second);
            while analyzer.poll().is_some() {}
        }
        analyzers.push(analyzer);
    }
    let analysed = rss_kib();
    let mut windows = Vec::new();
    for _ in 0..streams {
        let mut window = ctg_hub::recent::RecentWindow::new();
        for (k, second) in hour.chunks(4).enumerate() {
            window.push(&std::sync::Arc::new(ctg_proto::model::SampleBlock {
                first_seq: k as u64 * 4,
                samples: second.to_vec(),
                ..Default::default()
            }));
        }
        windows.push(window);
    }
    let windowed = rss_kib();
    println!(
        "{streams} streams, one hour each: analyzer {:.1} KiB per stream, recent window {:.1} KiB per stream",
        (analysed - before) as f64 / streams as f64,
        (windowed - analysed) as f64 / streams as f64
    );
    std::hint::black_box((analyzers, windows));
}
