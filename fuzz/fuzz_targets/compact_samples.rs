//! The compact columnar sample decoder (recordings, the hub's store): never panics, and what
//! decodes re-encodes to bytes that decode to the same samples.
#![no_main]

use ctg_formats::compact::{decode_samples, encode_samples};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&count, bytes)) = data.split_first() else {
        return;
    };
    let count = usize::from(count) * 16;
    if let Ok(samples) = decode_samples(bytes, count) {
        let mut again = Vec::new();
        encode_samples(&samples, &mut again);
        assert_eq!(decode_samples(&again, count).as_ref(), Ok(&samples));
    }
});
