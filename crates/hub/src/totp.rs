//! Time-based one-time codes (TOTP, RFC 6238 over HOTP, RFC 4226): the second factor at sign-in.
//!
//! The national medical-information-system safety guideline (MHLW 第6.0版) asks for
//! two-factor authentication, and the centre's doctors sign in from outside the hospital. A
//! user enrolled with `mimamori user totp` adds the secret to any authenticator app (the
//! `otpauth://` URI, or the base32 secret typed in); at sign-in the hub then asks for the
//! app's 6-digit code besides the password.
//!
//! The parameters every authenticator app takes: HMAC-SHA1, 30-second steps, 6 digits. A code
//! is taken for the step before and after the current one too (clocks drift), and each step
//! only once per user (a code seen over a shoulder cannot be used again).
//!
//! Sans-IO: time comes in as milliseconds since the Unix epoch; the HMAC is `ring`'s, the QR
//! codes `qrcode`'s.

use ring::hmac;

/// Digits in a code.
pub const DIGITS: u32 = 6;
/// Seconds a code stands for.
pub const STEP_S: i64 = 30;
/// Steps either side of the current one that are also taken.
pub const SKEW_STEPS: i64 = 1;
/// Bytes of a secret (160 bits, RFC 4226's recommendation).
pub const SECRET_BYTES: usize = 20;

/// The HOTP value of `secret` at counter `step` (RFC 4226 §5.3), `DIGITS` digits.
pub fn code_at(secret: &[u8], step: u64) -> u32 {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let mac = hmac::sign(&key, &step.to_be_bytes());
    let mac = mac.as_ref();
    let offset = usize::from(mac[mac.len() - 1] & 0x0f);
    let truncated = u32::from_be_bytes([
        mac[offset] & 0x7f,
        mac[offset + 1],
        mac[offset + 2],
        mac[offset + 3],
    ]);
    truncated % 10u32.pow(DIGITS)
}

/// The time step of `now_ms`.
pub fn step_of(now_ms: i64) -> i64 {
    now_ms.div_euclid(1000).div_euclid(STEP_S)
}

/// The step `code` matches at `now_ms` (the current step or one either side), unless it is not
/// a code, matches none, or matches only steps up to `last_used` (taken already).
pub fn check(secret: &[u8], code: &str, now_ms: i64, last_used: Option<i64>) -> Option<i64> {
    let digits: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if digits.len() != DIGITS as usize || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let given: u32 = digits.parse().ok()?;
    let now = step_of(now_ms);
    let mut matched = None;
    // Every candidate is computed and compared, whichever matches.
    for step in now - SKEW_STEPS..=now + SKEW_STEPS {
        let fresh = last_used.is_none_or(|last| step > last);
        let ok = step >= 0 && code_at(secret, step as u64) == given;
        if ok && fresh && matched.is_none() {
            matched = Some(step);
        }
    }
    matched
}

/// RFC 4648 base32 without padding, as authenticator apps take a secret.
pub fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &byte in bytes {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// The `otpauth://` URI an authenticator app reads (typed in or as a QR code).
pub fn otpauth_uri(secret: &[u8], username: &str, issuer: &str) -> String {
    let escape = |text: &str| -> String {
        text.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    char::from(b).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_S}",
        escape(issuer),
        escape(username),
        base32(secret),
        escape(issuer)
    )
}

/// The URI as a QR code an authenticator app scans: SVG, dark modules on white with the quiet
/// zone, at least 240 px. `None` only if the text is too long for any QR code.
pub fn qr_svg(uri: &str) -> Option<String> {
    let code = qrcode::QrCode::new(uri.as_bytes()).ok()?;
    Some(
        code.render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(240, 240)
            .dark_color(qrcode::render::svg::Color("#000000"))
            .light_color(qrcode::render::svg::Color("#ffffff"))
            .build(),
    )
}

/// The URI as a QR code for a terminal: two rows of modules per line in half blocks, light on
/// dark as phones read a screen, with the quiet zone.
pub fn qr_text(uri: &str) -> Option<String> {
    let code = qrcode::QrCode::new(uri.as_bytes()).ok()?;
    Some(
        code.render::<qrcode::render::unicode::Dense1x2>()
            .dark_color(qrcode::render::unicode::Dense1x2::Light)
            .light_color(qrcode::render::unicode::Dense1x2::Dark)
            .build(),
    )
}

/// The QR code's modules, row by row (dark = true), with no quiet zone: for checking a
/// rendering.
#[cfg(test)]
fn qr_modules(uri: &str) -> Option<(usize, Vec<bool>)> {
    let code = qrcode::QrCode::new(uri.as_bytes()).ok()?;
    let width = code.width();
    let modules = code
        .to_colors()
        .into_iter()
        .map(|c| c == qrcode::Color::Dark)
        .collect();
    Some((width, modules))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B's SHA-1 secret.
    const RFC_SECRET: &[u8] = b"12345678901234567890";

    #[test]
    fn codes_match_rfc_6238_and_rfc_4226_test_vectors() {
        // RFC 6238 Appendix B (SHA-1, 8 digits there): the last 6 digits are the 6-digit code.
        for (unix_s, eight) in [
            (59i64, 94_287_082u32),
            (1_111_111_109, 7_081_804),
            (1_111_111_111, 14_050_471),
            (1_234_567_890, 89_005_924),
            (2_000_000_000, 69_279_037),
            (20_000_000_000, 65_353_130),
        ] {
            let step = step_of(unix_s * 1000) as u64;
            assert_eq!(code_at(RFC_SECRET, step), eight % 1_000_000, "at {unix_s}");
        }
        // RFC 4226 Appendix D: HOTP values for counters 0..9.
        let hotp = [
            755_224, 287_082, 359_152, 969_429, 338_314, 254_676, 287_922, 162_583, 399_871,
            520_489,
        ];
        for (counter, value) in hotp.into_iter().enumerate() {
            assert_eq!(code_at(RFC_SECRET, counter as u64), value);
        }
    }

    #[test]
    fn a_code_is_taken_one_step_either_side_and_each_step_once() {
        let now_ms = 1_234_567_890_000;
        let step = step_of(now_ms);
        let code = |s: i64| format!("{:06}", code_at(RFC_SECRET, s as u64));
        assert_eq!(check(RFC_SECRET, &code(step), now_ms, None), Some(step));
        assert_eq!(
            check(RFC_SECRET, &code(step - 1), now_ms, None),
            Some(step - 1)
        );
        assert_eq!(
            check(RFC_SECRET, &code(step + 1), now_ms, None),
            Some(step + 1)
        );
        assert_eq!(check(RFC_SECRET, &code(step - 2), now_ms, None), None);
        assert_eq!(check(RFC_SECRET, &code(step + 2), now_ms, None), None);
        // Used once: not again, nor an older step's.
        assert_eq!(check(RFC_SECRET, &code(step), now_ms, Some(step)), None);
        assert_eq!(check(RFC_SECRET, &code(step - 1), now_ms, Some(step)), None);
        assert_eq!(
            check(RFC_SECRET, &code(step + 1), now_ms, Some(step)),
            Some(step + 1)
        );
        // Spaces are allowed ("287 082"); anything else is not a code.
        let spaced = format!("{} {}", &code(step)[..3], &code(step)[3..]);
        assert_eq!(check(RFC_SECRET, &spaced, now_ms, None), Some(step));
        for junk in ["", "12345", "1234567", "12a456", "１２３４５６", "-12345"] {
            assert_eq!(check(RFC_SECRET, junk, now_ms, None), None, "{junk:?}");
        }
    }

    #[test]
    fn base32_and_the_uri_are_what_authenticator_apps_read() {
        // RFC 4648 §10 test vectors (without padding).
        for (raw, encoded) in [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ] {
            assert_eq!(base32(raw.as_bytes()), encoded);
        }
        assert_eq!(base32(RFC_SECRET), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        assert_eq!(
            otpauth_uri(RFC_SECRET, "ob centre", "Mimamori"),
            "otpauth://totp/Mimamori:ob%20centre?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Mimamori&algorithm=SHA1&digits=6&period=30"
        );
    }

    #[test]
    fn the_qr_code_reads_back_as_the_uri_with_an_independent_decoder() {
        let uri = otpauth_uri(RFC_SECRET, "ob-remote", "Mimamori");
        let (width, modules) = qr_modules(&uri).unwrap();
        // Drawn 4 px a module with a 4-module quiet zone, then read by rqrr.
        let (scale, quiet) = (4, 4);
        let side = (width + 2 * quiet) * scale;
        let mut image = rqrr::PreparedImage::prepare_from_greyscale(side, side, |x, y| {
            let (mx, my) = (x / scale, y / scale);
            let inside =
                (quiet..quiet + width).contains(&mx) && (quiet..quiet + width).contains(&my);
            if inside && modules[(my - quiet) * width + (mx - quiet)] {
                0
            } else {
                255
            }
        });
        let grids = image.detect_grids();
        assert_eq!(grids.len(), 1);
        let (_, content) = grids[0].decode().unwrap();
        assert_eq!(content, uri);
        let svg = qr_svg(&uri).unwrap();
        assert!(
            svg.contains("<svg") && svg.contains("#000000"),
            "{}",
            &svg[..200.min(svg.len())]
        );
        let text = qr_text(&uri).unwrap();
        assert_eq!(
            text.lines().count(),
            (width + 8).div_ceil(2),
            "two module rows a line"
        );
    }
}
