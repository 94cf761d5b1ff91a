//! Every recording parser on arbitrary bytes: FHRMA .fhr/.fhrm, .mmr, and a WFDB header whose
//! text and signal bytes come from the input. Never panics.
#![no_main]

use ctg_formats::{fhrma, mmr, wfdb};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = fhrma::parse(data, false, "fuzz.fhr");
    let _ = fhrma::parse(data, true, "fuzz.fhrm");
    let _ = mmr::parse(data);
    let split = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    if let Ok(text) = std::str::from_utf8(&data[..split])
        && let Ok(header) = wfdb::parse_header(text)
    {
        let _ = wfdb::parse(&header, data.get(split + 1..).unwrap_or_default(), "fuzz");
    }
});
