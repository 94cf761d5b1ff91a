//! The monitor side of an Avalon session, for the simulators: accepts any association request,
//! announces its MDS, and answers numeric polls with the current second's values.

use ctg_proto::model::{BlockFlags, Channel, Sample};

use super::apdu::{Apdu, ManagedObject, Observation};
use super::frame::{FrameDecoder, FrameError, encode_frame};
use super::*;

/// The monitor side, sans-IO.
#[derive(Debug, Default)]
pub struct AvalonMonitor {
    decoder: FrameDecoder,
    frames: Vec<Result<Vec<u8>, FrameError>>,
    associated: bool,
    current: Option<Sample>,
    flags: BlockFlags,
    polls_answered: u64,
    out: Vec<u8>,
}

impl AvalonMonitor {
    /// A monitor waiting for a host.
    pub fn new() -> Self {
        Self::default()
    }

    /// True once the host answered the MDS create event.
    pub fn associated(&self) -> bool {
        self.associated
    }

    /// Poll replies sent.
    pub fn polls_answered(&self) -> u64 {
        self.polls_answered
    }

    /// Sets what the numerics show from now on (the second's first sample), and the second's
    /// status: [`BlockFlags::COINCIDENCE`] is reported as `NOM_STAT_COINCIDENCE` 1 (else 0).
    pub fn show(&mut self, sample: Sample, flags: BlockFlags) {
        self.current = Some(sample);
        self.flags = flags;
    }

    /// Takes host bytes; replies are queued for [`Self::take_output`].
    pub fn receive(&mut self, bytes: &[u8], relative_time: u32) {
        self.decoder.push(bytes, &mut self.frames);
        let frames: Vec<_> = self.frames.drain(..).collect();
        for apdu in frames.into_iter().flatten() {
            match Apdu::parse(&apdu) {
                Ok(Apdu::AssociationRequest(_)) => {
                    self.associated = false;
                    encode_frame(
                        &Apdu::AssociationResponse(b"SIM".to_vec()).encode(),
                        &mut self.out,
                    );
                    let event = Apdu::MdsCreateEvent {
                        invoke_id: 1,
                        object: ManagedObject {
                            class: apdu::MOC_MDS,
                            context: 0,
                            handle: 0,
                        },
                        event_time: relative_time,
                    };
                    encode_frame(&event.encode(), &mut self.out);
                }
                Ok(Apdu::MdsCreateResult { .. }) => self.associated = true,
                Ok(Apdu::PollRequest {
                    invoke_id,
                    poll_number,
                    ..
                }) if self.associated => {
                    let reply = Apdu::PollReply {
                        invoke_id,
                        poll_number,
                        relative_time,
                        observations: self.observations(),
                    };
                    encode_frame(&reply.encode(), &mut self.out);
                    self.polls_answered += 1;
                }
                _ => {}
            }
        }
    }

    fn observations(&self) -> Vec<Observation> {
        let Some(sample) = self.current else {
            return Vec::new();
        };
        let numeric = |handle, physio_id, unit, channel: Channel, label: Option<&str>| {
            let value = sample.physical(channel);
            Observation {
                handle,
                physio_id,
                state: if value.is_none() {
                    STATE_UNAVAILABLE
                } else {
                    0
                },
                unit,
                value,
                label: label.map(str::to_owned),
            }
        };
        vec![
            numeric(0x0101, PHYSIO_FHR_US, UNIT_BPM, Channel::Fhr1, Some("FHR1")),
            numeric(0x0102, PHYSIO_FHR_US, UNIT_BPM, Channel::Fhr2, Some("FHR2")),
            numeric(
                0x0103,
                PHYSIO_TOCO,
                UNIT_DIMENSIONLESS,
                Channel::Ua,
                Some("Toco"),
            ),
            numeric(0x0104, PHYSIO_MECG_HR, UNIT_BPM, Channel::Mhr, None),
            Observation {
                handle: 0x0105,
                physio_id: PHYSIO_COINCIDENCE,
                state: 0,
                unit: UNIT_DIMENSIONLESS,
                value: Some(if self.flags.contains(BlockFlags::COINCIDENCE) {
                    1.0
                } else {
                    0.0
                }),
                label: None,
            },
        ]
    }

    /// Bytes to write to the host.
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }
}

#[cfg(test)]
mod tests {
    use ctg_proto::model::{Quality, TransducerMode};

    use super::apdu::Observation;
    use super::frame::FrameDecoder;

    use super::*;
    use crate::DeviceOutput;

    #[test]
    fn host_and_simulated_monitor_associate_and_poll_numerics() {
        let mut host = AvalonHost::new();
        let mut monitor = AvalonMonitor::new();
        let sample = Sample {
            values: [561, 0, 0, 322, 27],
            quality: [
                Quality::Unknown,
                Quality::None,
                Quality::None,
                Quality::Unknown,
                Quality::Unknown,
            ],
            fetal_movement: false,
        };
        monitor.show(sample, BlockFlags(0));
        let mut out = Vec::new();
        for tick in 0..40u64 {
            let now = tick * 250;
            monitor.receive(&host.poll_transmit(now), now as u32 * 8);
            host.receive(&monitor.take_output(), now + 10, &mut out);
        }
        assert!(monitor.associated());
        assert!(matches!(out[0], DeviceOutput::Event(_)));
        let blocks: Vec<_> = out
            .iter()
            .filter_map(|o| match o {
                DeviceOutput::Ctg(b) => Some(b),
                _ => None,
            })
            .collect();
        assert!(blocks.len() >= 8, "{} poll replies in 10 s", blocks.len());
        let block = blocks[0];
        assert_eq!(block.samples.len(), 4);
        assert!(
            block
                .samples
                .iter()
                .all(|s| s.values == [561, 0, 0, 322, 27])
        );
        assert_eq!(
            block.samples[0].quality[Channel::Fhr2.index()],
            Quality::None
        );
        assert_eq!(block.modes.get(Channel::Fhr1), TransducerMode::Ultrasound);
        assert_eq!(block.modes.get(Channel::Ua), TransducerMode::ExternalToco);
        assert_eq!(block.modes.get(Channel::Mhr), TransducerMode::Mecg);
        assert_eq!(host.stats().link.fcs_errors, 0);
        assert_eq!(host.stats().unknown_numerics, 0);
        assert!(blocks.iter().all(|b| b.flags == BlockFlags(0)));
    }

    /// The monitor's cross-channel verification (`NOM_STAT_COINCIDENCE`) reaches the block's
    /// flags for the seconds it is reported, and only those; an invalid value says nothing.
    #[test]
    fn the_monitors_coincidence_is_carried_for_the_seconds_it_is_reported() {
        let mut host = AvalonHost::new();
        let mut monitor = AvalonMonitor::new();
        let mut out = Vec::new();
        let mut reported = Vec::new();
        for tick in 0..80u64 {
            let now = tick * 250;
            // Coincidence from the 6th to the 10th second.
            let coincide = (6..11).contains(&(now / 1000));
            let flags = if coincide {
                BlockFlags(BlockFlags::COINCIDENCE)
            } else {
                BlockFlags(0)
            };
            monitor.show(Sample::default(), flags);
            monitor.receive(&host.poll_transmit(now), 0);
            let before = out.len();
            host.receive(&monitor.take_output(), now, &mut out);
            if out.len() > before {
                reported.push(coincide);
            }
        }
        let flagged: Vec<bool> = out
            .iter()
            .filter_map(|o| match o {
                DeviceOutput::Ctg(b) => Some(b.flags.contains(BlockFlags::COINCIDENCE)),
                _ => None,
            })
            .collect();
        assert!(flagged.iter().filter(|f| **f).count() >= 4, "{flagged:?}");
        assert!(flagged.iter().filter(|f| !**f).count() >= 8, "{flagged:?}");
        // Each block says what the monitor showed when it answered that poll.
        let shown: Vec<bool> = reported.into_iter().skip(1).collect();
        assert_eq!(flagged, shown);

        let observation = |state, value| Observation {
            handle: 1,
            physio_id: PHYSIO_COINCIDENCE,
            state,
            unit: UNIT_DIMENSIONLESS,
            value,
            label: None,
        };
        assert!(coincidence_reported(&observation(0, Some(1.0))));
        assert!(!coincidence_reported(&observation(0, Some(0.0))));
        assert!(!coincidence_reported(&observation(
            STATE_INVALID,
            Some(1.0)
        )));
        assert!(!coincidence_reported(&observation(
            STATE_UNAVAILABLE,
            Some(1.0)
        )));
        assert!(!coincidence_reported(&observation(0, None)));
    }

    /// Each poll reply is one second of the stream, so polls keep to a 1-s grid however the
    /// bridge's loop wakes (here as `device.rs` does: at a reply, else every 250 ms): an hour
    /// of polling is an hour of stream, not a few percent less (a trace's times would drift
    /// behind the clock by minutes an hour).
    #[test]
    fn an_hour_of_polling_is_an_hour_of_stream() {
        let mut host = AvalonHost::new();
        let mut monitor = AvalonMonitor::new();
        monitor.show(Sample::default(), BlockFlags(0));
        let mut out = Vec::new();
        let mut now = 0u64;
        while now < 3_600_000 {
            monitor.receive(&host.poll_transmit(now), 0);
            let reply = monitor.take_output();
            if reply.is_empty() {
                now += 250;
            } else {
                // The reply is read 20 ms later; the loop goes round at once.
                now += 20;
                host.receive(&reply, now, &mut out);
            }
        }
        let seconds = out
            .iter()
            .filter(|o| matches!(o, DeviceOutput::Ctg(_)))
            .count();
        assert!(
            (3_598..=3_601).contains(&seconds),
            "{seconds} s of stream in an hour"
        );
    }

    /// A poll lost on the line (here every seventh request) leaves its second in the stream as
    /// no signal, so the stream still has one second per poll; the rest are the monitor's.
    #[test]
    fn an_unanswered_poll_is_a_second_of_no_signal_not_a_second_less() {
        let mut host = AvalonHost::new();
        let mut monitor = AvalonMonitor::new();
        let sample = Sample {
            values: [561, 0, 0, 0, 27],
            quality: [Quality::Unknown; 5],
            fetal_movement: false,
        };
        monitor.show(sample, BlockFlags(0));
        let mut out = Vec::new();
        let (mut polls, mut lost) = (0u64, 0u64);
        let mut now = 0u64;
        while now < 120_000 {
            let request = host.poll_transmit(now);
            let is_poll = matches!(
                Apdu::parse(&{
                    let mut frames = Vec::new();
                    let mut decoder = FrameDecoder::new();
                    decoder.push(&request, &mut frames);
                    frames.into_iter().flatten().next().unwrap_or_default()
                }),
                Ok(Apdu::PollRequest { .. })
            );
            if is_poll {
                polls += 1;
                if polls % 7 == 0 {
                    lost += 1;
                    now += 250;
                    continue;
                }
            }
            monitor.receive(&request, 0);
            let reply = monitor.take_output();
            now += if reply.is_empty() { 250 } else { 20 };
            host.receive(&reply, now, &mut out);
        }
        let seconds: Vec<_> = out
            .iter()
            .filter_map(|o| match o {
                DeviceOutput::Ctg(b) => Some(b),
                _ => None,
            })
            .collect();
        let blank = seconds
            .iter()
            .filter(|b| b.samples.iter().all(|s| s.values == [0; 5]))
            .count() as u64;
        // The last poll may still be waiting for its reply.
        assert!(
            (polls - 1..=polls).contains(&(seconds.len() as u64)),
            "{} seconds for {polls} polls",
            seconds.len()
        );
        assert!(
            (lost - 1..=lost).contains(&blank),
            "{blank} blank of {lost} lost"
        );
        assert_eq!(host.stats().unanswered_seconds, blank);
        let filled = seconds
            .iter()
            .find(|b| b.samples.iter().all(|s| s.values == [0; 5]))
            .unwrap();
        assert_eq!(filled.modes.get(Channel::Fhr1), TransducerMode::Ultrasound);
        assert_eq!(filled.samples[0].quality[0], Quality::None);
    }

    #[test]
    fn the_host_associates_again_when_replies_stop() {
        let mut host = AvalonHost::new();
        let mut monitor = AvalonMonitor::new();
        monitor.show(Sample::default(), BlockFlags(0));
        let mut out = Vec::new();
        for tick in 0..8u64 {
            let now = tick * 250;
            monitor.receive(&host.poll_transmit(now), 0);
            host.receive(&monitor.take_output(), now, &mut out);
        }
        let before = host.stats().associations;
        // The monitor goes away: nothing comes back for more than 10 s.
        for tick in 8..60u64 {
            let _ = host.poll_transmit(tick * 250);
        }
        assert!(host.stats().associations > before);
    }
}
