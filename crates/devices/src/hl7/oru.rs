//! ORU^R01 observations (IHE PCD-01 shape) into the normalised model, and the ACK that answers.
//!
//! Parsing is `hl7-parser`'s (structure only); the mapping is ours (protocols.md §5.2–5.3):
//! - OBX-3 names the observation. Any repeat of it may carry a code the bridge knows: LOINC
//!   55283-6 (fetal heart rate), the local codes `FHR1`..`FHR3`, `MHR`, `TOCO`, `UA`, `IUP`
//!   (with an optional `-4HZ` suffix for the 4 Hz trace), the Philips MDIL IDs `0002-f0cb`
//!   (FHR by ultrasound), `0002-f0cf` (DECG FHR), `0002-f0d4` (toco), `0002-f0d8` (IUP), and the
//!   MDC maternal rates 147842 (ECG heart rate) and 149522 (pulse rate). `FHR1SQ`..`FHR3SQ` and
//!   `FHRSQ` carry a signal quality (`G`/`Y`/`R`).
//! - OBX-2 `NM` is one numeric (held for the message's samples); `NA` is a 4 Hz numeric array
//!   (`^`-separated, empty = no value). OBX-4 (the MDS.VMD.CHAN.METRIC position) is not needed.
//! - A message with at least one usable observation becomes one block of n samples, n being the
//!   length of its arrays (all arrays of one message must agree) or 4 for numerics only.
//!
//! Acknowledgement (original mode): `AA` accepted; `AE` a content error (no usable
//! observation, arrays of different lengths, a value that is not a number) with the reason in
//! MSA-3; `AR` a message the bridge will not process (not ORU^R01, no MSH-10). Observations with
//! unknown codes are ignored and counted, not refused: monitors send many.

use ctg_proto::model::{
    BlockFlags, Channel, MAX_HEART_RATE_QUARTER_BPM, MAX_UTERINE_ACTIVITY_HALF_UNITS, Modes,
    Quality, Sample, TransducerMode,
};
use ctg_proto::wire::MAX_BLOCK_SAMPLES;
use serde::Serialize;

use crate::NormalisedBlock;

/// Samples a numerics-only message stands for (one second at 4 Hz).
const NUMERIC_SAMPLES: usize = 4;

/// Counters of an ORU receiver.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Hl7Stats {
    /// Messages handled.
    pub messages: u64,
    /// Accepted (AA).
    pub accepted: u64,
    /// Content errors (AE).
    pub errors: u64,
    /// Rejected (AR).
    pub rejected: u64,
    /// OBX segments with codes the bridge does not map.
    pub unknown_observations: u64,
    /// Values outside the channel's range, taken as no signal.
    pub values_out_of_range: u64,
}

/// The acknowledgement code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum AckCode {
    /// Application accept.
    AA,
    /// Application error.
    AE,
    /// Application reject.
    AR,
}

/// What one message came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Handled {
    /// The ACK message to send back (unframed).
    pub ack: Vec<u8>,
    /// Its code.
    pub code: AckCode,
    /// Why, for AE and AR.
    pub reason: Option<String>,
    /// The samples, when accepted.
    pub block: Option<NormalisedBlock>,
    /// The patient an accepted message names (its PID segment): her ID (PID-3's first ID) and
    /// name (PID-5, family then given names), as [`patient_of`] reads them.
    pub patient: Option<(String, String)>,
}

/// The longest patient ID or name taken from a PID segment (the wire's limit for an ID).
pub const MAX_PATIENT_TEXT: usize = 128;

/// Text from a message, made safe to carry on: control characters dropped, HL7's escape
/// sequences left as sent, at most [`MAX_PATIENT_TEXT`] bytes (cut at a character boundary).
fn patient_text(raw: &str) -> String {
    let text: String = raw.chars().filter(|c| !c.is_control()).collect();
    let mut text = text.trim();
    if text.len() > MAX_PATIENT_TEXT {
        let mut cut = MAX_PATIENT_TEXT;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text = text[..cut].trim_end();
    }
    text.to_owned()
}

/// The patient a message's PID segment names: PID-3's first identifier (its ID component) and
/// PID-5's first name (family, then given names, space-separated). `None` without a PID
/// segment or without an ID in it.
pub fn patient_of(message: &hl7_parser::Message<'_>) -> Option<(String, String)> {
    let pid = message.segment("PID")?;
    let id = pid.field(3)?.repeats().find_map(|r| {
        r.component(1)
            .map(|c| patient_text(c.raw_value()))
            .filter(|id| !id.is_empty())
    })?;
    let name = pid
        .field(5)
        .and_then(|f| f.repeats().next())
        .map(|r| {
            let part = |k: usize| r.component(k).map(|c| patient_text(c.raw_value()));
            [part(1), part(2), part(3)]
                .into_iter()
                .flatten()
                .filter(|p| !p.is_empty())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    Some((id, patient_text(&name)))
}

/// What an OBX-3 code maps to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    Value(Channel, TransducerMode),
    Quality(Channel),
}

fn target(code: &str) -> Option<Target> {
    let code = code.trim().to_ascii_uppercase();
    let code = code.strip_suffix("-4HZ").unwrap_or(&code);
    Some(match code {
        "55283-6" | "FHR" | "FHR1" | "0002-F0CB" => {
            Target::Value(Channel::Fhr1, TransducerMode::Ultrasound)
        }
        "0002-F0CF" => Target::Value(Channel::Fhr1, TransducerMode::Decg),
        "FHR2" => Target::Value(Channel::Fhr2, TransducerMode::Unknown),
        "FHR3" => Target::Value(Channel::Fhr3, TransducerMode::Unknown),
        "MHR" => Target::Value(Channel::Mhr, TransducerMode::Unknown),
        "147842" => Target::Value(Channel::Mhr, TransducerMode::Mecg),
        "149522" => Target::Value(Channel::Mhr, TransducerMode::ExternalMhr),
        "TOCO" | "UA" | "0002-F0D4" => Target::Value(Channel::Ua, TransducerMode::ExternalToco),
        "IUP" | "0002-F0D8" => Target::Value(Channel::Ua, TransducerMode::Iup),
        "FHRSQ" | "FHR1SQ" => Target::Quality(Channel::Fhr1),
        "FHR2SQ" => Target::Quality(Channel::Fhr2),
        "FHR3SQ" => Target::Quality(Channel::Fhr3),
        _ => return None,
    })
}

/// Takes ORU^R01 messages, one at a time.
#[derive(Debug)]
pub struct OruReceiver {
    application: String,
    stats: Hl7Stats,
}

struct Reject {
    code: AckCode,
    reason: String,
}

fn reject(code: AckCode, reason: impl Into<String>) -> Reject {
    Reject {
        code,
        reason: reason.into(),
    }
}

/// `YYYYMMDDHHMMSS` (UTC) for a time in ms since the Unix epoch.
pub fn hl7_timestamp(utc_ms: i64) -> String {
    let secs = utc_ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (the proleptic Gregorian calendar).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}{:02}{:02}{:02}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Removes HL7's field and segment separators from text put into an ACK.
fn clean(text: &str) -> String {
    text.chars()
        .map(|c| if "|^~\\&\r\n".contains(c) { ' ' } else { c })
        .take(200)
        .collect()
}

impl OruReceiver {
    /// A receiver that names itself `application` in its ACKs.
    pub fn new(application: &str) -> Self {
        Self {
            application: clean(application),
            stats: Hl7Stats::default(),
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> Hl7Stats {
        self.stats
    }

    /// Handles one message (MLLP framing already removed).
    pub fn handle(&mut self, message: &[u8], now_utc_ms: i64) -> Handled {
        self.stats.messages += 1;
        let text = String::from_utf8_lossy(message);
        let parsed = hl7_parser::Message::parse_with_lenient_newlines(text.trim_end(), true);
        let mut patient = None;
        let (header, result) = match &parsed {
            Ok(parsed) => {
                patient = patient_of(parsed);
                (Header::of(parsed), self.observations(parsed))
            }
            Err(error) => (
                Header::default(),
                Err(reject(
                    AckCode::AR,
                    format!("not an HL7 v2 message: {error}"),
                )),
            ),
        };
        let (code, reason, block) = match result {
            Ok(block) => (AckCode::AA, None, Some(block)),
            Err(Reject { code, reason }) => (code, Some(reason), None),
        };
        match code {
            AckCode::AA => self.stats.accepted += 1,
            AckCode::AE => self.stats.errors += 1,
            AckCode::AR => self.stats.rejected += 1,
        }
        let ack = self.ack(&header, code, reason.as_deref(), now_utc_ms);
        Handled {
            ack,
            code,
            reason,
            patient: patient.filter(|_| block.is_some()),
            block,
        }
    }

    /// The AE answer for a message whose samples the caller could not store (counted as an
    /// error instead of an acceptance).
    pub fn storage_failed(&mut self, message: &[u8], now_utc_ms: i64) -> Handled {
        self.stats.accepted = self.stats.accepted.saturating_sub(1);
        self.stats.errors += 1;
        let text = String::from_utf8_lossy(message);
        let header = hl7_parser::Message::parse_with_lenient_newlines(text.trim_end(), true)
            .map(|m| Header::of(&m))
            .unwrap_or_default();
        let reason = "the bridge could not store the samples; send again";
        Handled {
            ack: self.ack(&header, AckCode::AE, Some(reason), now_utc_ms),
            code: AckCode::AE,
            reason: Some(reason.into()),
            block: None,
            patient: None,
        }
    }

    fn ack(
        &self,
        header: &Header,
        code: AckCode,
        reason: Option<&str>,
        now_utc_ms: i64,
    ) -> Vec<u8> {
        let version = if header.version.is_empty() {
            "2.6"
        } else {
            &header.version
        };
        let mut ack = format!(
            "MSH|^~\\&|{}||{}|{}|{}||ACK^R01^ACK|ACK{}|P|{}\rMSA|{:?}|{}",
            self.application,
            header.sending_application,
            header.sending_facility,
            hl7_timestamp(now_utc_ms),
            header.control_id,
            version,
            code,
            header.control_id,
        );
        if let Some(reason) = reason {
            ack.push('|');
            ack.push_str(&clean(reason));
        }
        ack.push('\r');
        ack.into_bytes()
    }

    fn observations(
        &mut self,
        message: &hl7_parser::Message<'_>,
    ) -> Result<NormalisedBlock, Reject> {
        let msh = message
            .segment("MSH")
            .ok_or_else(|| reject(AckCode::AR, "no MSH segment"))?;
        let kind = msh.field(9).map(|f| f.raw_value()).unwrap_or_default();
        let mut parts = kind.split('^');
        if (parts.next(), parts.next()) != (Some("ORU"), Some("R01")) {
            return Err(reject(
                AckCode::AR,
                format!("message type {kind:?}: only ORU^R01 is taken"),
            ));
        }
        if msh.field(10).is_none_or(|f| f.raw_value().is_empty()) {
            return Err(reject(AckCode::AR, "no message control ID (MSH-10)"));
        }
        // Per channel: a held numeric, a 4 Hz array, a quality.
        let mut numeric: [Option<Option<f64>>; 5] = [None; 5];
        let mut arrays: [Option<Vec<Option<f64>>>; 5] = Default::default();
        let mut quality: [Option<Quality>; 5] = [None; 5];
        let mut modes = [TransducerMode::Unknown; 5];
        let mut present = [false; 5];
        for (index, obx) in message.segments().filter(|s| s.name == "OBX").enumerate() {
            let value_type = obx.field(2).map(|f| f.raw_value()).unwrap_or_default();
            let Some(target) = obx.field(3).and_then(|f| {
                f.repeats()
                    .find_map(|r| r.component(1).and_then(|c| target(c.raw_value())))
            }) else {
                if !value_type.is_empty() {
                    self.stats.unknown_observations += 1;
                }
                continue;
            };
            let value = obx.field(5);
            match target {
                Target::Quality(channel) => {
                    let code = value
                        .and_then(|f| f.component(1))
                        .map(|c| c.raw_value().to_ascii_uppercase())
                        .unwrap_or_default();
                    quality[channel.index()] = Some(match code.as_str() {
                        "G" | "GREEN" => Quality::Good,
                        "Y" | "YELLOW" => Quality::Fair,
                        "R" | "RED" => Quality::Poor,
                        _ => Quality::Unknown,
                    });
                }
                Target::Value(channel, mode) => {
                    let i = channel.index();
                    present[i] = true;
                    modes[i] = mode;
                    let number = |text: &str| -> Result<Option<f64>, Reject> {
                        let text = text.trim();
                        if text.is_empty() {
                            return Ok(None);
                        }
                        text.parse::<f64>().map(Some).map_err(|_| {
                            reject(
                                AckCode::AE,
                                format!("OBX {}: {text:?} is not a number", index + 1),
                            )
                        })
                    };
                    match value_type {
                        "NM" => {
                            numeric[i] = Some(number(value.map(|f| f.raw_value()).unwrap_or(""))?);
                        }
                        "NA" => {
                            let mut values = Vec::new();
                            if let Some(repeat) = value.and_then(|f| f.repeat(1)) {
                                for component in repeat.components() {
                                    if values.len() >= MAX_BLOCK_SAMPLES {
                                        return Err(reject(
                                            AckCode::AE,
                                            format!(
                                                "OBX {}: more than {MAX_BLOCK_SAMPLES} samples",
                                                index + 1
                                            ),
                                        ));
                                    }
                                    values.push(number(component.raw_value())?);
                                }
                            }
                            arrays[i] = Some(values);
                        }
                        other => {
                            return Err(reject(
                                AckCode::AE,
                                format!(
                                    "OBX {}: value type {other:?} (NM or NA expected)",
                                    index + 1
                                ),
                            ));
                        }
                    }
                }
            }
        }
        if !present.iter().any(|&p| p) {
            return Err(reject(
                AckCode::AE,
                "no FHR, MHR or uterine-activity observation",
            ));
        }
        let lengths: Vec<usize> = arrays.iter().flatten().map(Vec::len).collect();
        let n = match lengths.first() {
            None => NUMERIC_SAMPLES,
            Some(&n) => {
                if lengths.iter().any(|&l| l != n) || n == 0 {
                    return Err(reject(
                        AckCode::AE,
                        format!("4 Hz arrays of different lengths {lengths:?}"),
                    ));
                }
                n
            }
        };
        let mut samples = vec![Sample::default(); n];
        for channel in Channel::ALL {
            let i = channel.index();
            for (t, sample) in samples.iter_mut().enumerate() {
                let physical = match (&arrays[i], numeric[i]) {
                    (Some(array), _) => array[t],
                    (None, Some(held)) => held,
                    (None, None) => None,
                };
                let raw = physical.and_then(|v| self.raw(channel, v));
                sample.values[i] = raw.unwrap_or(0);
                sample.quality[i] = match raw {
                    None => Quality::None,
                    Some(0) if channel.is_heart_rate() => Quality::None,
                    Some(_) => quality[i].unwrap_or(Quality::Unknown),
                };
            }
            if !present[i] {
                modes[i] = TransducerMode::NoTransducer;
            }
        }
        Ok(NormalisedBlock {
            samples,
            modes: Modes(modes),
            flags: BlockFlags(0),
            fspo2_percent: None,
        })
    }

    /// Physical value → raw units, or `None` (counted) outside the channel's range.
    fn raw(&mut self, channel: Channel, value: f64) -> Option<u16> {
        let (scale, max) = if channel.is_heart_rate() {
            (4.0, MAX_HEART_RATE_QUARTER_BPM)
        } else {
            (2.0, MAX_UTERINE_ACTIVITY_HALF_UNITS)
        };
        let raw = (value * scale).round();
        if raw.is_finite() && raw >= 0.0 && raw <= f64::from(max) {
            Some(raw as u16)
        } else {
            self.stats.values_out_of_range += 1;
            None
        }
    }
}

#[derive(Debug, Default)]
struct Header {
    sending_application: String,
    sending_facility: String,
    control_id: String,
    version: String,
}

impl Header {
    fn of(message: &hl7_parser::Message<'_>) -> Header {
        let Some(msh) = message.segment("MSH") else {
            return Header::default();
        };
        let field = |n| clean(msh.field(n).map(|f| f.raw_value()).unwrap_or_default());
        Header {
            sending_application: field(3),
            sending_facility: field(4),
            control_id: field(10),
            version: field(12),
        }
    }
}

/// An ORU^R01 carrying `samples` as 4 Hz arrays (FHR1, MHR, toco), as the simulator sends it.
pub fn build_oru(samples: &[Sample], control_id: &str, utc_ms: i64) -> Vec<u8> {
    let ts = hl7_timestamp(utc_ms);
    let array = |channel: Channel| -> String {
        samples
            .iter()
            .map(|s| {
                s.physical(channel)
                    .map(|v| v.to_string())
                    .unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join("^")
    };
    let mut text = format!(
        "MSH|^~\\&|MIMAMORI-SIM|SIM|MIMAMORI|BRIDGE|{ts}||ORU^R01^ORU_R01|{control_id}|P|2.6|||NE|AL||UNICODE UTF-8|||PCD_DEC_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.1.1^ISO\r\
         OBR|1|{control_id}^MIMAMORI-SIM||182777000^monitoring of patient^SCT|||{ts}\r"
    );
    let rows = [
        (
            "FHR1-4HZ^FHR1 trace 4 Hz^L",
            "1.0.1.3",
            Channel::Fhr1,
            "/min^/min^UCUM",
        ),
        (
            "MHR-4HZ^MHR trace 4 Hz^L",
            "1.0.3.2",
            Channel::Mhr,
            "/min^/min^UCUM",
        ),
        (
            "TOCO-4HZ^Toco trace 4 Hz^L",
            "1.0.2.2",
            Channel::Ua,
            "{rel}^relative units^UCUM",
        ),
    ];
    for (n, (code, position, channel, unit)) in rows.into_iter().enumerate() {
        text.push_str(&format!(
            "OBX|{}|NA|{code}|{position}|{}|{unit}|||||R|||{ts}\r",
            n + 1,
            array(channel)
        ));
    }
    text.into_bytes()
}

#[cfg(test)]
mod tests;
