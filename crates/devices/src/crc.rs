//! The two 16-bit checksums the monitors use, from the `crc` crate's catalogue.
//!
//! - Series 50: CRC-16/XMODEM (polynomial 0x1021, initial 0, no reflection, no final XOR),
//!   over every byte of a frame as transmitted (protocols.md §1.2).
//! - Avalon / IntelliVue serial: the PPP frame check sequence of RFC 1662, CRC-16/X-25
//!   (`CRC_16_IBM_SDLC` in the catalogue: reflected 0x1021, initial 0xFFFF, final XOR 0xFFFF),
//!   over the header and APDU before escaping (protocols.md §2.1).

use crc::{CRC_16_IBM_SDLC, CRC_16_XMODEM, Crc};

/// The Series 50 frame check (CRC-16/XMODEM).
pub const SERIES50: Crc<u16> = Crc::<u16>::new(&CRC_16_XMODEM);

/// The IntelliVue serial frame check sequence (CRC-16/X-25).
pub const AVALON_FCS: Crc<u16> = Crc::<u16>::new(&CRC_16_IBM_SDLC);

#[cfg(test)]
mod tests {
    use super::*;

    /// The Series 50 Programmer's Guide's own test vector (protocols.md §1.2).
    #[test]
    fn series50_matches_the_guide() {
        assert_eq!(SERIES50.checksum(b"Check this message!"), 0x9E8F);
    }

    /// RFC 1662's check value and good-frame residue (protocols.md §2.1).
    #[test]
    fn avalon_fcs_matches_rfc_1662() {
        assert_eq!(AVALON_FCS.checksum(b"123456789"), 0x906E);
        let mut frame = b"some frame".to_vec();
        let fcs = AVALON_FCS.checksum(&frame);
        frame.extend_from_slice(&fcs.to_le_bytes());
        // The residue before the final XOR is 0xF0B8; after it, 0x0F47.
        assert_eq!(AVALON_FCS.checksum(&frame), 0xF0B8 ^ 0xFFFF);
    }
}
