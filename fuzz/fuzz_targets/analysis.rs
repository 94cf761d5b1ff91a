//! The streaming analyzer, and the twins' cross-channel check the hub runs beside it, on
//! arbitrary samples (two input bytes per raw value, as a device could send them after
//! decoding), in arbitrary block sizes: never panic, never loop forever.
#![no_main]

use ctg_dsp::cross_channel::{CrossChannel, CrossChannelConfig};
use ctg_dsp::{Analyzer, AnalyzerConfig, Profile};
use ctg_proto::model::{Channel, Quality, Sample};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&block, rest)) = data.split_first() else {
        return;
    };
    let qualities = [
        Quality::Unknown,
        Quality::None,
        Quality::Poor,
        Quality::Fair,
        Quality::Good,
    ];
    let samples: Vec<Sample> = rest
        .chunks_exact(11)
        .flat_map(|c| {
            let mut s = Sample::default();
            for (k, v) in s.values.iter_mut().enumerate() {
                *v = u16::from_le_bytes([c[2 * k], c[2 * k + 1]]);
            }
            s.quality = [0, 1, 2, 3, 4].map(|k| qualities[usize::from(c[10] >> k & 1) * 4]);
            // Each record stands for a run, so the fuzzer reaches the windowed stages quickly.
            std::iter::repeat_n(s, usize::from(c[10] >> 5) * 40 + 1)
        })
        .collect();
    let mut analyzer = Analyzer::new(AnalyzerConfig::new(Profile::Jsog));
    let mut twins = CrossChannel::new(
        CrossChannelConfig::default(),
        [Channel::Fhr1, Channel::Fhr2],
        0,
    );
    for chunk in samples.chunks(usize::from(block).max(1)) {
        analyzer.push(chunk);
        while analyzer.poll().is_some() {}
        twins.push(chunk);
        while twins.poll().is_some() {}
    }
    twins.finish();
    while twins.poll().is_some() {}
    let _ = analyzer.into_report();
});
