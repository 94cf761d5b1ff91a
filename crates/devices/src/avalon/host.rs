//! The host side of an Avalon session: associate, answer the MDS create event, poll numerics
//! once a second, and turn each poll reply into one second of grid samples.

use ctg_proto::model::{
    BlockFlags, Channel, DeviceInfo, DeviceProtocol, EventKind, MAX_HEART_RATE_QUARTER_BPM,
    MAX_UTERINE_ACTIVITY_HALF_UNITS, Modes, Quality, Sample, TransducerMode,
};
use serde::Serialize;

use super::apdu::{Apdu, MOC_METRIC_NUMERIC, Observation, association_request};
use super::frame::{FrameDecoder, FrameError, LinkStats, encode_frame};
use super::*;
use crate::{DeviceOutput, Millis, NormalisedBlock};

/// Re-send the association request this long after an unanswered one.
const ASSOCIATE_EVERY_MS: Millis = 5_000;
/// Poll period.
const POLL_EVERY_MS: Millis = 1_000;
/// No poll reply for this long: the association is taken as lost.
const LOST_AFTER_MS: Millis = 10_000;
/// Polls left unanswered between two replies that are kept as seconds of no signal (a longer
/// silence ends in a new association, and the bridge keeps the time it lasted as no signal by
/// its own clock: `ctg_bridge::cadence`).
const MAX_FILLED_SECONDS: u16 = 10;

/// Counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct AvalonStats {
    /// The link layer.
    pub link: LinkStats,
    /// APDUs that did not parse.
    pub bad_apdus: u64,
    /// Operations received and not used (alarms, errors, …).
    pub other_operations: u64,
    /// Poll replies taken.
    pub poll_replies: u64,
    /// Numerics with physio IDs the bridge does not map.
    pub unknown_numerics: u64,
    /// Numerics outside their channel's range (taken as no signal).
    pub values_out_of_range: u64,
    /// Association requests sent.
    pub associations: u64,
    /// Seconds recorded as no signal because their poll went unanswered (so the stream keeps
    /// to the clock: one second per poll).
    pub unanswered_seconds: u64,
    /// Replies to a poll already answered (dropped: each poll is one second).
    pub repeated_replies: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Idle,
    Associating { since: Millis },
    Associated,
    Polling,
}

/// The host side of an Avalon session, sans-IO.
#[derive(Debug)]
pub struct AvalonHost {
    decoder: FrameDecoder,
    frames: Vec<Result<Vec<u8>, FrameError>>,
    phase: Phase,
    stats: AvalonStats,
    poll_number: u16,
    /// When the next poll is due: polls keep to a 1-s grid (a late one does not push the
    /// next later), since each reply becomes one second of the stream.
    next_poll_ms: Option<Millis>,
    /// The poll number of the last reply taken in this association.
    last_answered: Option<u16>,
    /// The transducer modes of the last reply (for a second whose poll went unanswered).
    last_modes: Modes,
    last_reply_ms: Millis,
    transmit: Vec<u8>,
}

impl Default for AvalonHost {
    fn default() -> Self {
        Self::new()
    }
}

/// Which FHR channel an FHR numeric is. **[unverified]**: the notes expect FHR1..FHR3 to share a
/// physio ID and differ by label ("FHR1", "FHR2", …) and handle; without a label the lowest
/// handle seen in the reply is FHR1, the next FHR2, then FHR3.
pub fn fetal_channel(label: Option<&str>, rank_by_handle: usize) -> Channel {
    match label.map(str::trim) {
        Some(l) if l.ends_with('2') => Channel::Fhr2,
        Some(l) if l.ends_with('3') => Channel::Fhr3,
        Some(l) if l.ends_with('1') => Channel::Fhr1,
        _ => match rank_by_handle {
            0 => Channel::Fhr1,
            1 => Channel::Fhr2,
            _ => Channel::Fhr3,
        },
    }
}

/// Whether a `NOM_STAT_COINCIDENCE` observation says the monitor's cross-channel verification
/// found coincidence. **[unverified]** (protocols.md §2.4 names the physio ID only): it is read
/// as a numeric in the numerics poll, a valid value other than 0 meaning coincidence, as the
/// Series 50 status bit does with 1; an invalid, unavailable or absent value says nothing.
pub fn coincidence_reported(observation: &Observation) -> bool {
    observation.physio_id == PHYSIO_COINCIDENCE
        && observation.state & (STATE_INVALID | STATE_UNAVAILABLE) == 0
        && observation.value.is_some_and(|v| v != 0.0)
}

impl AvalonHost {
    /// A session not yet associated.
    pub fn new() -> Self {
        Self {
            decoder: FrameDecoder::new(),
            frames: Vec::new(),
            phase: Phase::Idle,
            stats: AvalonStats::default(),
            poll_number: 0,
            next_poll_ms: None,
            last_answered: None,
            last_modes: Modes::default(),
            last_reply_ms: 0,
            transmit: Vec::new(),
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> AvalonStats {
        let mut stats = self.stats;
        stats.link = self.decoder.stats();
        stats
    }

    /// Bytes to write to the monitor now.
    pub fn poll_transmit(&mut self, now: Millis) -> Vec<u8> {
        match self.phase {
            Phase::Idle => self.associate(now),
            Phase::Associating { since } if now.saturating_sub(since) >= ASSOCIATE_EVERY_MS => {
                self.associate(now)
            }
            Phase::Polling if now.saturating_sub(self.last_reply_ms) > LOST_AFTER_MS => {
                self.associate(now)
            }
            Phase::Polling => {
                let due = self.next_poll_ms.is_none_or(|next| now >= next);
                if due {
                    self.poll_number = self.poll_number.wrapping_add(1);
                    let request = Apdu::PollRequest {
                        invoke_id: self.poll_number,
                        poll_number: self.poll_number,
                        object_type: MOC_METRIC_NUMERIC,
                    };
                    encode_frame(&request.encode(), &mut self.transmit);
                    // On the grid; after a stall of more than a poll, from now.
                    let next = self.next_poll_ms.map_or(now, |n| n + POLL_EVERY_MS);
                    self.next_poll_ms = Some(if now >= next {
                        now + POLL_EVERY_MS
                    } else {
                        next
                    });
                }
            }
            _ => {}
        }
        std::mem::take(&mut self.transmit)
    }

    fn associate(&mut self, now: Millis) {
        encode_frame(&association_request().encode(), &mut self.transmit);
        self.phase = Phase::Associating { since: now };
        self.stats.associations += 1;
    }

    /// Feeds bytes from the monitor.
    pub fn receive(&mut self, bytes: &[u8], now: Millis, out: &mut Vec<DeviceOutput>) {
        self.decoder.push(bytes, &mut self.frames);
        let frames: Vec<_> = self.frames.drain(..).collect();
        for frame in frames {
            let apdu = match frame.map_err(|e| e.to_string()).and_then(|a| {
                Apdu::parse(&a).map_err(|e| {
                    self.stats.bad_apdus += 1;
                    e.to_string()
                })
            }) {
                Ok(apdu) => apdu,
                Err(problem) => {
                    out.push(DeviceOutput::Problem(problem));
                    continue;
                }
            };
            match apdu {
                Apdu::AssociationResponse(_) => {
                    self.phase = Phase::Associated;
                    out.push(DeviceOutput::Event(EventKind::DeviceConnected(
                        DeviceInfo {
                            protocol: DeviceProtocol::Avalon,
                            model: "IntelliVue data export".into(),
                            serial: String::new(),
                            software: String::new(),
                        },
                    )));
                }
                Apdu::Refuse | Apdu::Abort | Apdu::ReleaseRequest => {
                    self.phase = Phase::Idle;
                    out.push(DeviceOutput::Event(EventKind::DeviceDisconnected {
                        reason: "the monitor refused, aborted or released the association".into(),
                    }));
                }
                Apdu::MdsCreateEvent {
                    invoke_id,
                    object,
                    event_time,
                } => {
                    let result = Apdu::MdsCreateResult {
                        invoke_id,
                        object,
                        event_time,
                    };
                    encode_frame(&result.encode(), &mut self.transmit);
                    self.phase = Phase::Polling;
                    self.next_poll_ms = None;
                    self.last_answered = None;
                    self.last_reply_ms = now;
                }
                Apdu::PollReply {
                    observations,
                    poll_number,
                    ..
                } => {
                    self.stats.poll_replies += 1;
                    self.last_reply_ms = now;
                    // Each poll is one second of the stream: polls left unanswered since the
                    // last reply are seconds of no signal, and a poll answered twice is one.
                    let skipped = self
                        .last_answered
                        .map_or(0, |last| poll_number.wrapping_sub(last).wrapping_sub(1));
                    if self.last_answered == Some(poll_number) {
                        self.stats.repeated_replies += 1;
                        continue;
                    }
                    if (1..=MAX_FILLED_SECONDS).contains(&skipped) {
                        for _ in 0..skipped {
                            out.push(DeviceOutput::Ctg(self.unanswered_second()));
                        }
                        self.stats.unanswered_seconds += u64::from(skipped);
                    }
                    self.last_answered = Some(poll_number);
                    let second = self.second(&observations);
                    self.last_modes = second.modes;
                    out.push(DeviceOutput::Ctg(second));
                }
                _ => self.stats.other_operations += 1,
            }
        }
    }

    /// A second whose poll went unanswered: four samples of no signal, the transducers as last
    /// reported.
    fn unanswered_second(&self) -> NormalisedBlock {
        NormalisedBlock {
            samples: vec![
                Sample {
                    values: [0; 5],
                    quality: [Quality::None; 5],
                    fetal_movement: false,
                };
                4
            ],
            modes: self.last_modes,
            flags: BlockFlags(0),
            fspo2_percent: None,
        }
    }

    /// One poll reply as four grid samples (the 1-s numerics held for the second).
    fn second(&mut self, observations: &[Observation]) -> NormalisedBlock {
        let mut values = [0u16; 5];
        let mut quality = [Quality::None; 5];
        let mut modes = [TransducerMode::NoTransducer; 5];
        let mut fetal: Vec<&Observation> = observations
            .iter()
            .filter(|o| matches!(o.physio_id, PHYSIO_FHR_US | PHYSIO_FHR_DECG))
            .collect();
        fetal.sort_by_key(|o| o.handle);
        let mut place =
            |channel: Channel, mode: TransducerMode, o: &Observation, scale: f64, max: u16| {
                let i = channel.index();
                modes[i] = mode;
                let unusable = o.state & (STATE_INVALID | STATE_UNAVAILABLE) != 0;
                let raw = o.value.filter(|_| !unusable).map(|v| (v * scale).round());
                match raw {
                    Some(r) if r >= 0.0 && r <= f64::from(max) && r.is_finite() => {
                        values[i] = r as u16;
                        quality[i] = if values[i] == 0 && channel.is_heart_rate() {
                            Quality::None
                        } else if o.state & STATE_QUESTIONABLE != 0 {
                            Quality::Poor
                        } else {
                            Quality::Unknown
                        };
                    }
                    Some(_) => self.stats.values_out_of_range += 1,
                    None => {}
                }
            };
        for (rank, o) in fetal.iter().enumerate() {
            let mode = if o.physio_id == PHYSIO_FHR_DECG {
                TransducerMode::Decg
            } else {
                TransducerMode::Ultrasound
            };
            place(
                fetal_channel(o.label.as_deref(), rank),
                mode,
                o,
                4.0,
                MAX_HEART_RATE_QUARTER_BPM,
            );
        }
        let mut flags = BlockFlags(0);
        for o in observations {
            match o.physio_id {
                PHYSIO_FHR_US | PHYSIO_FHR_DECG => {}
                PHYSIO_COINCIDENCE => {
                    if coincidence_reported(o) {
                        flags = BlockFlags(BlockFlags::COINCIDENCE);
                    }
                }
                PHYSIO_TOCO => place(
                    Channel::Ua,
                    TransducerMode::ExternalToco,
                    o,
                    2.0,
                    MAX_UTERINE_ACTIVITY_HALF_UNITS,
                ),
                PHYSIO_IUP => place(
                    Channel::Ua,
                    TransducerMode::Iup,
                    o,
                    2.0,
                    MAX_UTERINE_ACTIVITY_HALF_UNITS,
                ),
                PHYSIO_MECG_HR => place(
                    Channel::Mhr,
                    TransducerMode::Mecg,
                    o,
                    4.0,
                    MAX_HEART_RATE_QUARTER_BPM,
                ),
                PHYSIO_PULSE | PHYSIO_PLETH_PULSE => place(
                    Channel::Mhr,
                    TransducerMode::ExternalMhr,
                    o,
                    4.0,
                    MAX_HEART_RATE_QUARTER_BPM,
                ),
                _ => self.stats.unknown_numerics += 1,
            }
        }
        let sample = Sample {
            values,
            quality,
            fetal_movement: false,
        };
        NormalisedBlock {
            samples: vec![sample; 4],
            modes: Modes(modes),
            flags,
            fspo2_percent: None,
        }
    }
}
