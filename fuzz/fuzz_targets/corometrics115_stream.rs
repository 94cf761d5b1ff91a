//! The Corometrics Model 115 host session over arbitrary monitor bytes in arbitrary chunks and
//! at arbitrary quiet times: never panics, holds at most one record, and every block it makes
//! is valid on the wire.
#![no_main]

use ctg_devices::DeviceOutput;
use ctg_devices::corometrics115::Corometrics115Host;
use ctg_proto::model::SampleBlock;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, stream)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(chunk).max(1);
    let mut host = Corometrics115Host::new();
    let mut out = Vec::new();
    let mut now = 0u64;
    for piece in stream.chunks(chunk) {
        // The piece's first byte also sets how long the line was quiet before it.
        now += u64::from(piece[0]) * 10;
        let _ = host.poll_transmit(now);
        host.tick(now, &mut out);
        host.receive(piece, now, &mut out);
    }
    host.tick(u64::MAX, &mut out);
    for output in out {
        if let DeviceOutput::Ctg(block) = output {
            assert!(!block.samples.is_empty() && block.samples.len() <= 4);
            let block = SampleBlock {
                samples: block.samples,
                modes: block.modes,
                ..Default::default()
            };
            assert!(ctg_proto::wire::validate_block(&block).is_ok());
        }
    }
});
