//! The Series 50 host session over arbitrary monitor bytes in arbitrary chunks: never panics,
//! every C block normalises to a valid wire block, and the counters add up.
#![no_main]

use ctg_devices::DeviceOutput;
use ctg_devices::series50::Series50Host;
use ctg_proto::model::SampleBlock;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, stream)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(chunk).max(1);
    let mut host = Series50Host::new();
    let mut out = Vec::new();
    for (i, piece) in stream.chunks(chunk).enumerate() {
        let now = i as u64 * 250;
        host.receive(piece, now, &mut out);
        let _ = host.poll_transmit(now);
    }
    let mut ctg = 0;
    for output in out {
        if let DeviceOutput::Ctg(n) = output {
            ctg += 1;
            let block = SampleBlock {
                first_seq: 0,
                utc_ms: 0,
                modes: n.modes,
                flags: n.flags,
                fspo2_percent: n.fspo2_percent,
                samples: n.samples,
            };
            assert!(ctg_proto::wire::validate_block(&block).is_ok());
        }
    }
    assert_eq!(host.stats().ctg_blocks, ctg);
});
