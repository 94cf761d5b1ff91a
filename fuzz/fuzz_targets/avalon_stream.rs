//! The Avalon host session over arbitrary monitor bytes in arbitrary chunks: never panics and
//! every block it makes is valid on the wire.
#![no_main]

use ctg_devices::DeviceOutput;
use ctg_devices::avalon::AvalonHost;
use ctg_proto::model::SampleBlock;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, stream)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(chunk).max(1);
    let mut host = AvalonHost::new();
    let mut out = Vec::new();
    for (i, piece) in stream.chunks(chunk).enumerate() {
        let now = i as u64 * 250;
        let _ = host.poll_transmit(now);
        host.receive(piece, now, &mut out);
    }
    for output in out {
        if let DeviceOutput::Ctg(block) = output {
            let block = SampleBlock {
                samples: block.samples,
                modes: block.modes,
                ..Default::default()
            };
            assert!(ctg_proto::wire::validate_block(&block).is_ok());
        }
    }
});
