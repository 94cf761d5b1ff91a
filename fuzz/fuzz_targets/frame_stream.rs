//! The bridge⇄hub frame decoder over an arbitrary byte stream cut into arbitrary chunks: never
//! panics, never holds more than one frame, and every message it yields is valid.
#![no_main]

use ctg_proto::{FrameDecoder, MAX_FRAME_BODY_LEN, encode_frame};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first byte picks the chunk size, so the fuzzer explores split points too.
    let Some((&chunk, stream)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(chunk).max(1);
    let mut decoder = FrameDecoder::new();
    for piece in stream.chunks(chunk) {
        let mut piece = piece;
        while let Some(result) = decoder.next_message(&mut piece) {
            if let Ok(message) = result {
                assert!(message.validate().is_ok());
                // Whatever decodes re-encodes (the encoder validates too).
                encode_frame(&message).expect("a decoded message re-encodes");
            }
        }
        assert!(decoder.buffered() <= 4 + MAX_FRAME_BODY_LEN);
    }
});
