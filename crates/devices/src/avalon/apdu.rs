//! The data export APDUs the bridge needs: association, the MDS create event and its result,
//! the single poll for numerics and its reply.
//!
//! Sources: protocols.md §2.2–2.4 (session flow, numeric encoding, fetal physio IDs) and the
//! open-source parsers it cites for the remote-operation layering, all big-endian:
//!
//! ```text
//! session/presentation header  E1 00 | 00 02
//! ROapdus                       ro_type u16 (1 invoke, 2 result, 3 error, 5 linked result) | length u16
//! RO(IV|RS)apdu                 [linked result: state u8, count u8] invoke_id u16 | command_type u16 | length u16
//! event report (argument)       managed object (class, context, handle: 3 × u16) | event_time u32 | event_type u16 | length u16 | …
//! action (argument)             managed object | scope u32 | action_type u16 | length u16 | poll request
//! action (result)               managed object | action_type u16 | length u16 | poll reply
//! poll request                  poll_number u16 | object type (partition u16, code u16) | attribute group u16
//! poll reply                    poll_number u16 | relative time u32 | absolute time 8 bytes | object type 4 | attribute group u16
//!                               | poll info list: count u16, length u16, per context: context_id u16, count u16, length u16,
//!                               |   per object: handle u16, attribute list: count u16, length u16, per attribute: id u16, length u16, value
//! ```
//!
//! Association requests and responses are session SPDUs (`0D`, `0E`, refuse `0C`, release
//! `09`/`0A`, abort `19`) with a length indicator (one byte, or `FF` and a u16). Their content is
//! opaque here: see [`association_request`]. Every read is bounds-checked; a short or
//! inconsistent APDU is an [`ApduError`], never a panic.

use serde::Serialize;

/// `NOM_NOTI_MDS_CREAT`: the MDS create event.
pub const NOTI_MDS_CREATE: u16 = 0x0D06;
/// `NOM_ACT_POLL_MDIB_DATA`: single poll.
pub const ACT_POLL_MDIB_DATA: u16 = 0x0C16;
/// `NOM_MOC_VMO_METRIC_NU`: numeric objects.
pub const MOC_METRIC_NUMERIC: u16 = 6;
/// `NOM_MOC_VMS_MDS`: the medical device system object.
pub const MOC_MDS: u16 = 33;
/// `NOM_PART_OBJ`: the object partition.
pub const PART_OBJ: u16 = 1;
/// `NOM_ATTR_NU_VAL_OBS`: a numeric observation.
pub const ATTR_NU_VAL_OBS: u16 = 0x0950;
/// `NOM_ATTR_ID_LABEL_STRING`: the display label (e.g. "FHR1").
pub const ATTR_ID_LABEL_STRING: u16 = 0x0927;
/// Command type: confirmed event report.
pub const CMD_CONFIRMED_EVENT_REPORT: u16 = 1;
/// Command type: confirmed action.
pub const CMD_CONFIRMED_ACTION: u16 = 7;
/// Session/presentation header of data export messages.
const DATA_EXPORT_HEADER: [u8; 4] = [0xE1, 0x00, 0x00, 0x02];

/// An APDU that does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ApduError {
    /// It ends before a field.
    #[error("APDU ends at byte {at} inside {what}")]
    Short {
        /// Where.
        at: usize,
        /// Which field.
        what: &'static str,
    },
    /// A length field disagrees with what follows.
    #[error("{what} says {declared} bytes, {available} follow")]
    Length {
        /// Which field.
        what: &'static str,
        /// Declared.
        declared: usize,
        /// Present.
        available: usize,
    },
    /// Not an APDU type this bridge handles.
    #[error("unknown APDU starting {first:#04x}")]
    Unknown {
        /// Its first byte.
        first: u8,
    },
}

/// The managed object an operation is about.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ManagedObject {
    /// Object class.
    pub class: u16,
    /// Context.
    pub context: u16,
    /// Handle.
    pub handle: u16,
}

/// One numeric observation of a poll reply.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Observation {
    /// The object's handle.
    pub handle: u16,
    /// The physiological ID (partition 2), e.g. 0xF0CB for FHR by ultrasound.
    pub physio_id: u16,
    /// Measurement state bits (0x8000 invalid, 0x4000 questionable, 0x2000 unavailable, …).
    pub state: u16,
    /// Unit code (0x0AA0 bpm, 0x0200 dimensionless, 0x0F20 mmHg).
    pub unit: u16,
    /// The value (`None`: the FLOAT's "no value" codes).
    pub value: Option<f64>,
    /// The display label, where the object carries one.
    pub label: Option<String>,
}

/// The APDUs the bridge and the simulator exchange.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "apdu", rename_all = "snake_case")]
pub enum Apdu {
    /// `0D`: the host asks to associate (content opaque).
    AssociationRequest(Vec<u8>),
    /// `0E`: the monitor accepts (content opaque).
    AssociationResponse(Vec<u8>),
    /// `0C`: the monitor refuses.
    Refuse,
    /// `09`: release request.
    ReleaseRequest,
    /// `0A`: release response.
    ReleaseResponse,
    /// `19`: abort.
    Abort,
    /// The monitor announces its MDS; the host must answer with [`Apdu::MdsCreateResult`].
    MdsCreateEvent {
        /// Invoke ID to echo.
        invoke_id: u16,
        /// The MDS.
        object: ManagedObject,
        /// Event time to echo.
        event_time: u32,
    },
    /// The host's answer to the MDS create event.
    MdsCreateResult {
        /// Echoed invoke ID.
        invoke_id: u16,
        /// Echoed object.
        object: ManagedObject,
        /// Echoed event time.
        event_time: u32,
    },
    /// The host polls numerics.
    PollRequest {
        /// Invoke ID.
        invoke_id: u16,
        /// Poll counter.
        poll_number: u16,
        /// Object type polled (6: numerics).
        object_type: u16,
    },
    /// The monitor's answer.
    PollReply {
        /// Echoed invoke ID.
        invoke_id: u16,
        /// Echoed poll counter.
        poll_number: u16,
        /// The monitor's relative time (1/8 ms ticks).
        relative_time: u32,
        /// The numerics.
        observations: Vec<Observation>,
    },
    /// Another remote operation (alarms, errors, extended polls): counted, not used.
    OtherOperation {
        /// ROapdus type.
        ro_type: u16,
        /// Command type.
        command_type: u16,
    },
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, at: 0 }
    }
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], ApduError> {
        if self.bytes.len() - self.at < n {
            return Err(ApduError::Short { at: self.at, what });
        }
        let out = &self.bytes[self.at..self.at + n];
        self.at += n;
        Ok(out)
    }
    fn u8(&mut self, what: &'static str) -> Result<u8, ApduError> {
        Ok(self.take(1, what)?[0])
    }
    fn u16(&mut self, what: &'static str) -> Result<u16, ApduError> {
        let b = self.take(2, what)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    fn u32(&mut self, what: &'static str) -> Result<u32, ApduError> {
        let b = self.take(4, what)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn object(&mut self) -> Result<ManagedObject, ApduError> {
        Ok(ManagedObject {
            class: self.u16("object class")?,
            context: self.u16("object context")?,
            handle: self.u16("object handle")?,
        })
    }
    /// A u16 length and the bytes it covers, as a sub-reader.
    fn sized(&mut self, what: &'static str) -> Result<Reader<'a>, ApduError> {
        let declared = usize::from(self.u16(what)?);
        let available = self.bytes.len() - self.at;
        if declared > available {
            return Err(ApduError::Length {
                what,
                declared,
                available,
            });
        }
        Ok(Reader::new(self.take(declared, what)?))
    }
    fn rest(&self) -> &'a [u8] {
        &self.bytes[self.at..]
    }
}

/// IEEE 11073 FLOAT-Type: signed 8-bit exponent, signed 24-bit mantissa; the reserved
/// mantissas (NaN, NRes, ±infinity) are "no value".
pub fn float_value(raw: u32) -> Option<f64> {
    let mantissa = raw & 0x00FF_FFFF;
    if matches!(mantissa, 0x7F_FFFF | 0x80_0000 | 0x7F_FFFE | 0x80_0002) {
        return None;
    }
    let exponent = (raw >> 24) as u8 as i8;
    let mantissa = ((mantissa << 8) as i32) >> 8;
    let scale = 10f64.powi(i32::from(exponent).abs());
    // Dividing by an exact power of ten rounds once: 38240 × 10⁻² gives exactly 382.4.
    Some(if exponent < 0 {
        f64::from(mantissa) / scale
    } else {
        f64::from(mantissa) * scale
    })
}

/// A value as FLOAT-Type with two decimals (heart rates in quarter bpm are exact).
pub fn float_raw(value: Option<f64>) -> u32 {
    match value {
        None => 0x007F_FFFF,
        Some(v) => {
            let mantissa = (v * 100.0).round().clamp(-8_388_600.0, 8_388_600.0) as i32;
            (0xFEu32 << 24) | (mantissa as u32 & 0x00FF_FFFF)
        }
    }
}

fn label_text(bytes: &[u8]) -> String {
    // The label attribute's text encoding is [unverified]: UTF-16BE is taken when every other
    // byte is 0, single bytes otherwise.
    let utf16 = bytes.len().is_multiple_of(2) && bytes.chunks(2).all(|c| c[0] == 0);
    let text: String = if utf16 {
        bytes.chunks(2).map(|c| char::from(c[1])).collect()
    } else {
        bytes.iter().map(|&b| char::from(b)).collect()
    };
    text.trim_matches(|c: char| c == '\0' || c.is_whitespace())
        .chars()
        .filter(|c| !c.is_control())
        .take(32)
        .collect()
}

fn session_body(apdu: &[u8]) -> Result<Vec<u8>, ApduError> {
    let mut r = Reader::new(apdu);
    r.u8("session type")?;
    let first = r.u8("length indicator")?;
    let len = if first == 0xFF {
        usize::from(r.u16("length indicator")?)
    } else {
        usize::from(first)
    };
    let available = r.rest().len();
    if len > available {
        return Err(ApduError::Length {
            what: "session SPDU",
            declared: len,
            available,
        });
    }
    Ok(r.take(len, "session SPDU")?.to_vec())
}

fn session(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![kind];
    let len = body.len().min(usize::from(u16::MAX));
    if len < 0xFF {
        out.push(len as u8);
    } else {
        out.push(0xFF);
        out.extend((len as u16).to_be_bytes());
    }
    out.extend(&body[..len]);
    out
}

fn parse_observations(reply: &mut Reader<'_>) -> Result<Vec<Observation>, ApduError> {
    let mut observations = Vec::new();
    let contexts = reply.u16("poll info count")?;
    let mut list = reply.sized("poll info list")?;
    for _ in 0..contexts {
        let _context_id = list.u16("context id")?;
        let objects = list.u16("observation count")?;
        let mut polls = list.sized("observation list")?;
        for _ in 0..objects {
            let handle = polls.u16("object handle")?;
            let attributes = polls.u16("attribute count")?;
            let mut list_of = polls.sized("attribute list")?;
            let mut numeric = None;
            let mut label = None;
            for _ in 0..attributes {
                let id = list_of.u16("attribute id")?;
                let mut value = list_of.sized("attribute value")?;
                match id {
                    ATTR_NU_VAL_OBS => {
                        numeric = Some((
                            value.u16("physio id")?,
                            value.u16("state")?,
                            value.u16("unit")?,
                            float_value(value.u32("value")?),
                        ));
                    }
                    ATTR_ID_LABEL_STRING => {
                        let mut text = value.sized("label")?;
                        label = Some(label_text(text.take(text.rest().len(), "label")?));
                    }
                    _ => {}
                }
            }
            if let Some((physio_id, state, unit, value)) = numeric {
                observations.push(Observation {
                    handle,
                    physio_id,
                    state,
                    unit,
                    value,
                    label,
                });
            }
        }
    }
    Ok(observations)
}

impl Apdu {
    /// Parses one APDU (framing removed).
    pub fn parse(apdu: &[u8]) -> Result<Apdu, ApduError> {
        let first = *apdu.first().ok_or(ApduError::Short {
            at: 0,
            what: "APDU type",
        })?;
        match first {
            0x0D => return Ok(Apdu::AssociationRequest(session_body(apdu)?)),
            0x0E => return Ok(Apdu::AssociationResponse(session_body(apdu)?)),
            0x0C => return Ok(Apdu::Refuse),
            0x09 => return Ok(Apdu::ReleaseRequest),
            0x0A => return Ok(Apdu::ReleaseResponse),
            0x19 => return Ok(Apdu::Abort),
            _ => {}
        }
        if !apdu.starts_with(&DATA_EXPORT_HEADER) {
            return Err(ApduError::Unknown { first });
        }
        let mut r = Reader::new(&apdu[4..]);
        let ro_type = r.u16("ROapdus type")?;
        let mut ro = r.sized("ROapdus")?;
        if ro_type == 5 {
            ro.u8("linked state")?;
            ro.u8("linked count")?;
        }
        let invoke_id = ro.u16("invoke id")?;
        let command_type = ro.u16("command type")?;
        let mut body = ro.sized("operation")?;
        let other = Apdu::OtherOperation {
            ro_type,
            command_type,
        };
        Ok(match (ro_type, command_type) {
            (1, CMD_CONFIRMED_EVENT_REPORT) | (2, CMD_CONFIRMED_EVENT_REPORT) => {
                let object = body.object()?;
                let event_time = body.u32("event time")?;
                let event_type = body.u16("event type")?;
                if event_type != NOTI_MDS_CREATE {
                    return Ok(other);
                }
                if ro_type == 1 {
                    Apdu::MdsCreateEvent {
                        invoke_id,
                        object,
                        event_time,
                    }
                } else {
                    Apdu::MdsCreateResult {
                        invoke_id,
                        object,
                        event_time,
                    }
                }
            }
            (1, CMD_CONFIRMED_ACTION) => {
                body.object()?;
                body.u32("scope")?;
                if body.u16("action type")? != ACT_POLL_MDIB_DATA {
                    return Ok(other);
                }
                let mut request = body.sized("poll request")?;
                let poll_number = request.u16("poll number")?;
                request.u16("object partition")?;
                let object_type = request.u16("object type")?;
                Apdu::PollRequest {
                    invoke_id,
                    poll_number,
                    object_type,
                }
            }
            (2 | 5, CMD_CONFIRMED_ACTION) => {
                body.object()?;
                if body.u16("action type")? != ACT_POLL_MDIB_DATA {
                    return Ok(other);
                }
                let mut reply = body.sized("poll reply")?;
                let poll_number = reply.u16("poll number")?;
                let relative_time = reply.u32("relative time")?;
                reply.take(8, "absolute time")?;
                reply.take(4, "object type")?;
                reply.u16("attribute group")?;
                Apdu::PollReply {
                    invoke_id,
                    poll_number,
                    relative_time,
                    observations: parse_observations(&mut reply)?,
                }
            }
            _ => other,
        })
    }

    /// The APDU's bytes (before framing).
    pub fn encode(&self) -> Vec<u8> {
        fn sized(out: &mut Vec<u8>, body: &[u8]) {
            out.extend((body.len().min(usize::from(u16::MAX)) as u16).to_be_bytes());
            out.extend(body);
        }
        fn object(out: &mut Vec<u8>, o: &ManagedObject) {
            for v in [o.class, o.context, o.handle] {
                out.extend(v.to_be_bytes());
            }
        }
        fn data_export(ro_type: u16, invoke_id: u16, command_type: u16, body: &[u8]) -> Vec<u8> {
            let mut ro = Vec::new();
            ro.extend(invoke_id.to_be_bytes());
            ro.extend(command_type.to_be_bytes());
            sized(&mut ro, body);
            let mut out = DATA_EXPORT_HEADER.to_vec();
            out.extend(ro_type.to_be_bytes());
            sized(&mut out, &ro);
            out
        }
        match self {
            Apdu::AssociationRequest(body) => session(0x0D, body),
            Apdu::AssociationResponse(body) => session(0x0E, body),
            Apdu::Refuse => session(0x0C, &[]),
            Apdu::ReleaseRequest => session(0x09, &[]),
            Apdu::ReleaseResponse => session(0x0A, &[]),
            Apdu::Abort => session(0x19, &[]),
            Apdu::MdsCreateEvent {
                invoke_id,
                object: o,
                event_time,
            }
            | Apdu::MdsCreateResult {
                invoke_id,
                object: o,
                event_time,
            } => {
                let mut body = Vec::new();
                object(&mut body, o);
                body.extend(event_time.to_be_bytes());
                body.extend(NOTI_MDS_CREATE.to_be_bytes());
                sized(&mut body, &[]);
                let ro_type = if matches!(self, Apdu::MdsCreateEvent { .. }) {
                    1
                } else {
                    2
                };
                data_export(ro_type, *invoke_id, CMD_CONFIRMED_EVENT_REPORT, &body)
            }
            Apdu::PollRequest {
                invoke_id,
                poll_number,
                object_type,
            } => {
                let mut request = Vec::new();
                request.extend(poll_number.to_be_bytes());
                request.extend(PART_OBJ.to_be_bytes());
                request.extend(object_type.to_be_bytes());
                request.extend(0u16.to_be_bytes()); // all attribute groups
                let mut body = Vec::new();
                object(
                    &mut body,
                    &ManagedObject {
                        class: MOC_MDS,
                        ..ManagedObject::default()
                    },
                );
                body.extend(0u32.to_be_bytes());
                body.extend(ACT_POLL_MDIB_DATA.to_be_bytes());
                sized(&mut body, &request);
                data_export(1, *invoke_id, CMD_CONFIRMED_ACTION, &body)
            }
            Apdu::PollReply {
                invoke_id,
                poll_number,
                relative_time,
                observations,
            } => {
                let mut polls = Vec::new();
                for o in observations {
                    let mut attributes = Vec::new();
                    let mut count = 1u16;
                    attributes.extend(ATTR_NU_VAL_OBS.to_be_bytes());
                    let mut value = Vec::new();
                    for v in [o.physio_id, o.state, o.unit] {
                        value.extend(v.to_be_bytes());
                    }
                    value.extend(float_raw(o.value).to_be_bytes());
                    sized(&mut attributes, &value);
                    if let Some(label) = &o.label {
                        count += 1;
                        attributes.extend(ATTR_ID_LABEL_STRING.to_be_bytes());
                        let mut text = Vec::new();
                        sized(&mut text, label.as_bytes());
                        sized(&mut attributes, &text);
                    }
                    polls.extend(o.handle.to_be_bytes());
                    polls.extend(count.to_be_bytes());
                    sized(&mut polls, &attributes);
                }
                let mut context = Vec::new();
                context.extend(0u16.to_be_bytes());
                context.extend((observations.len() as u16).to_be_bytes());
                sized(&mut context, &polls);
                let mut reply = Vec::new();
                reply.extend(poll_number.to_be_bytes());
                reply.extend(relative_time.to_be_bytes());
                reply.extend([0u8; 8]);
                reply.extend(PART_OBJ.to_be_bytes());
                reply.extend(MOC_METRIC_NUMERIC.to_be_bytes());
                reply.extend(0u16.to_be_bytes());
                reply.extend(1u16.to_be_bytes());
                sized(&mut reply, &context);
                let mut body = Vec::new();
                object(
                    &mut body,
                    &ManagedObject {
                        class: MOC_MDS,
                        ..ManagedObject::default()
                    },
                );
                body.extend(ACT_POLL_MDIB_DATA.to_be_bytes());
                sized(&mut body, &reply);
                data_export(2, *invoke_id, CMD_CONFIRMED_ACTION, &body)
            }
            Apdu::OtherOperation {
                ro_type,
                command_type,
            } => data_export(*ro_type, 0, *command_type, &[]),
        }
    }
}

/// The association request the bridge sends. **[unverified]**: the peers send a fixed byte
/// string from the Philips Data Export Interface guide (poll profile, protocol support) that the
/// notes do not reproduce; this one is a placeholder our simulator accepts. A real Avalon will
/// refuse it until the guide's bytes are put here (see protocols.md §2.2 and §8).
pub fn association_request() -> Apdu {
    Apdu::AssociationRequest(b"MIMAMORI poll-profile placeholder".to_vec())
}
