//! The monitor side of a Series 50 session, for the simulators: it answers the host's requests
//! the way the guide describes (protocols.md §1.5) and frames what the monitor has to say.
//!
//! After power-on the monitor sends its `I` block and waits. `G` starts auto-send (a `C` block
//! every second), `H` or `?C` stops it (`?C` also gets one `C` block in reply), `?I` gets the
//! `I` block again. Sans-IO: the caller feeds host bytes in and asks, once per second, for the
//! bytes to write.

use std::collections::VecDeque;

use super::block::{Block, CtgBlock};
use super::frame::{FrameDecoder, encode_frame};

/// What the simulated monitor identifies itself as.
pub fn simulator_identification() -> Block {
    Block::Identification {
        model: "M1351A".into(),
        protocol_revision: "A20".into(),
        software_revision: "SIM.1.0".into(),
        serial: "MIMAMORI01".into(),
    }
}

/// The monitor side of a session.
#[derive(Debug)]
pub struct Series50Monitor {
    identification: Block,
    decoder: FrameDecoder,
    frames: Vec<Result<Vec<u8>, super::FrameError>>,
    auto_send: bool,
    requested_ctg: bool,
    queued: VecDeque<Block>,
    out: Vec<u8>,
}

impl Series50Monitor {
    /// A monitor that has just powered on: its `I` block is queued.
    pub fn power_on(identification: Block) -> Self {
        let mut queued = VecDeque::new();
        queued.push_back(identification.clone());
        Self {
            identification,
            decoder: FrameDecoder::new(),
            frames: Vec::new(),
            auto_send: false,
            requested_ctg: false,
            queued,
            out: Vec::new(),
        }
    }

    /// True while the host has auto-send on.
    pub fn auto_send(&self) -> bool {
        self.auto_send
    }

    /// True when the next [`Self::second`] will send its `C` block.
    pub fn wants_ctg(&self) -> bool {
        self.auto_send || self.requested_ctg
    }

    /// Takes bytes the host sent.
    pub fn receive(&mut self, bytes: &[u8]) {
        self.decoder.push(bytes, &mut self.frames);
        for frame in self.frames.drain(..) {
            let Ok(block) = frame else { continue };
            match Block::parse(&block) {
                Ok(Block::Go) => self.auto_send = true,
                Ok(Block::Halt) => self.auto_send = false,
                Ok(Block::Request { wanted: b'C' }) => {
                    self.auto_send = false;
                    self.requested_ctg = true;
                }
                Ok(Block::Request { wanted: b'I' }) => {
                    self.queued.push_back(self.identification.clone())
                }
                // Notes, versions and anything else: nothing to answer.
                _ => {}
            }
        }
    }

    /// Queues an asynchronous block (marker, note, maternal vitals, failure).
    pub fn queue(&mut self, block: Block) {
        self.queued.push_back(block);
    }

    /// The bytes to write for one second of the monitor's life: queued blocks, then this
    /// second's `C` block when the host wants it. Returns whether the `C` block went out.
    pub fn second(&mut self, ctg: &CtgBlock) -> (Vec<u8>, bool) {
        while let Some(block) = self.queued.pop_front() {
            encode_frame(&block.encode(), &mut self.out);
        }
        let sent = self.wants_ctg();
        if sent {
            encode_frame(&Block::Ctg(*ctg).encode(), &mut self.out);
            self.requested_ctg = false;
        }
        (std::mem::take(&mut self.out), sent)
    }

    /// Queued blocks only (for the seconds in which there is no CTG to send).
    pub fn flush(&mut self) -> Vec<u8> {
        while let Some(block) = self.queued.pop_front() {
            encode_frame(&block.encode(), &mut self.out);
        }
        std::mem::take(&mut self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DeviceOutput;
    use crate::series50::Series50Host;

    #[test]
    fn host_and_monitor_talk_each_other_into_auto_send() {
        let mut monitor = Series50Monitor::power_on(simulator_identification());
        let mut host = Series50Host::new();
        let ctg = CtgBlock {
            status: 0x8000,
            hr1: [560; 4],
            ..CtgBlock::default()
        };
        let mut out = Vec::new();
        let mut sent = 0;
        for second in 0..10u64 {
            let now = second * 1000;
            monitor.receive(&host.poll_transmit(now));
            let (bytes, went) = monitor.second(&ctg);
            sent += usize::from(went);
            host.receive(&bytes, now + 100, &mut out);
        }
        assert!(monitor.auto_send());
        let ctg_blocks = out
            .iter()
            .filter(|o| matches!(o, DeviceOutput::Ctg(_)))
            .count();
        assert_eq!(ctg_blocks, sent);
        assert!(sent >= 9, "{sent}");
        assert!(matches!(out[0], DeviceOutput::Event(_)));
    }
}
