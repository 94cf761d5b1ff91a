//! The MLLP deframer and the ORU^R01 receiver over arbitrary bytes: never panics, always answers
//! with an ACK, and every accepted block is valid on the wire.
#![no_main]

use ctg_devices::hl7::{AckCode, MllpDecoder, OruReceiver};
use ctg_proto::model::SampleBlock;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, stream)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(chunk).max(1);
    let mut decoder = MllpDecoder::new();
    let mut receiver = OruReceiver::new("FUZZ");
    let mut frames = Vec::new();
    for piece in stream.chunks(chunk) {
        decoder.push(piece, &mut frames);
    }
    // Also take the whole input as one message (a peer that forgot the framing).
    frames.push(Ok(stream.to_vec()));
    for message in frames.into_iter().flatten() {
        let handled = receiver.handle(&message, 0);
        assert!(handled.ack.starts_with(b"MSH|"));
        assert_eq!(handled.block.is_some(), handled.code == AckCode::AA);
        if let Some(block) = handled.block {
            let block = SampleBlock {
                samples: block.samples,
                modes: block.modes,
                ..Default::default()
            };
            assert!(ctg_proto::wire::validate_block(&block).is_ok());
        }
    }
});
