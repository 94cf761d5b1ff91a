//! One frame body: decode, and if it decodes, re-encode and decode again to the same message.
//! (Not the same bytes: postcard accepts overlong varints, e.g. `a3 93 00` for `a3 13`, and the
//! encoder always writes the shortest form.)
#![no_main]

use ctg_proto::{decode_message, encode_frame};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    if let Ok(message) = decode_message(body) {
        let frame = encode_frame(&message).expect("a decoded message re-encodes");
        assert!(
            frame.len() - 4 <= body.len(),
            "re-encoding grew the message"
        );
        assert_eq!(decode_message(&frame[4..]), Ok(message));
    }
});
