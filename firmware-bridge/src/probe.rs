//! Which protocol a monitor on a serial port speaks: `mimamori ports --probe PORT` for whoever
//! installs a bridge and does not know (or does not trust the label on) the monitor's interface.
//!
//! Each serial protocol the bridge reads is tried in turn at the speeds its monitors are set to
//! ([`ATTEMPTS`]), for a few seconds each, with the same host session the bridge runs (so the
//! probe sends what the bridge would send: Series 50 `G`, an Avalon association request, a
//! Model 115 request). A protocol is recognised when its session turned what came back into
//! [`RECOGNISED_AFTER_BLOCKS`] CTG blocks; the probe stops there, and prints the `[[device]]`
//! stanza to paste into `bridge.toml`. Where nothing is recognised it says what it heard (no
//! bytes at all, or bytes no protocol could read) and what to check. [`listen`] is also what
//! `mimamori bridge --check` runs on each configured device.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ctg_devices::DeviceOutput;
use ctg_proto::model::EventKind;

use crate::config::DeviceProtocol;

/// Blocks a protocol's session must make of the replies before it counts as recognised: two,
/// so that one accidental parse of another protocol's bytes is not enough.
pub const RECOGNISED_AFTER_BLOCKS: u64 = 2;

/// One protocol at one speed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attempt {
    /// The protocol.
    pub protocol: DeviceProtocol,
    /// The serial speed.
    pub baud: u32,
    /// How long to listen at most.
    pub seconds: u64,
}

/// What is tried, in order. The Series 50 answers `G` within a second and the Avalon its
/// association request within one; a Corometrics in Model 115 mode sends every second, at the
/// speed set on the monitor (9600 recommended by the manuals, 1200 to 19200 possible).
pub const ATTEMPTS: [Attempt; 7] = [
    Attempt {
        protocol: DeviceProtocol::Series50,
        baud: 1_200,
        seconds: 6,
    },
    Attempt {
        protocol: DeviceProtocol::Avalon,
        baud: 115_200,
        seconds: 6,
    },
    Attempt {
        protocol: DeviceProtocol::Corometrics115,
        baud: 9_600,
        seconds: 4,
    },
    Attempt {
        protocol: DeviceProtocol::Corometrics115,
        baud: 19_200,
        seconds: 4,
    },
    Attempt {
        protocol: DeviceProtocol::Corometrics115,
        baud: 4_800,
        seconds: 4,
    },
    Attempt {
        protocol: DeviceProtocol::Corometrics115,
        baud: 2_400,
        seconds: 4,
    },
    Attempt {
        protocol: DeviceProtocol::Corometrics115,
        baud: 1_200,
        seconds: 4,
    },
];

/// What one session heard on the port.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Heard {
    /// Bytes read.
    pub bytes: u64,
    /// Frames (records) the session's decoder took as well-formed.
    pub frames: u64,
    /// Frames refused for a bad checksum or form.
    pub crc_errors: u64,
    /// CTG blocks made of them.
    pub blocks: u64,
    /// Problems the session reported (unparsable content).
    pub problems: u64,
    /// The monitor's own identification, where it gave one ("M1351A serial …"; the Series 50
    /// does, the Avalon and Model 115 sessions only know their protocol).
    pub identified: Option<String>,
}

impl Heard {
    /// True when the session understood the monitor ([`RECOGNISED_AFTER_BLOCKS`]).
    pub fn recognised(&self) -> bool {
        self.blocks >= RECOGNISED_AFTER_BLOCKS
    }

    /// Counts one session's outputs.
    pub fn take(&mut self, outputs: &[DeviceOutput]) {
        for output in outputs {
            match output {
                DeviceOutput::Ctg(_) => self.blocks += 1,
                DeviceOutput::Problem(_) => self.problems += 1,
                DeviceOutput::Event(EventKind::DeviceConnected(info))
                    if !(info.serial.is_empty() && info.software.is_empty()) =>
                {
                    let mut who = info.model.clone();
                    if !info.serial.is_empty() {
                        who.push_str(&format!(" serial {}", info.serial));
                    }
                    self.identified = Some(who);
                }
                _ => {}
            }
        }
    }
}

/// Why a port could not be listened on.
#[derive(Debug, thiserror::Error)]
#[error("cannot open {path}: {reason}")]
pub struct OpenError {
    /// The port.
    pub path: String,
    /// The system's words, with a hint where one helps.
    pub reason: String,
}

/// Runs `protocol`'s host session on the serial port `path` at `baud` for at most `limit`,
/// stopping early once `enough_blocks` CTG blocks came (0: never).
pub async fn listen(
    path: &Path,
    protocol: DeviceProtocol,
    baud: u32,
    limit: Duration,
    enough_blocks: u64,
) -> Result<Heard, OpenError> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let shown = path.to_string_lossy().into_owned();
    let mut port =
        tokio_serial::SerialStream::open(&tokio_serial::new(&shown, baud)).map_err(|error| {
            let mut reason = error.to_string();
            if reason.to_lowercase().contains("busy") {
                reason.push_str(
                    " (another program has it open: stop the bridge first, `systemctl stop \
                     mimamori-bridge`)",
                );
            }
            OpenError {
                path: shown.clone(),
                reason,
            }
        })?;
    let mut heard = Heard::default();
    let Some(mut host) = protocol.session() else {
        return Ok(heard);
    };
    let started = Instant::now();
    let mut outputs = Vec::new();
    let mut buffer = [0u8; 512];
    while started.elapsed() < limit {
        let now = started.elapsed().as_millis() as u64;
        let transmit = host.poll_transmit(now);
        if !transmit.is_empty() && port.write_all(&transmit).await.is_err() {
            break;
        }
        if let Ok(Ok(n)) =
            tokio::time::timeout(Duration::from_millis(200), port.read(&mut buffer)).await
        {
            heard.bytes += n as u64;
            host.receive(&buffer[..n], now, &mut outputs);
        }
        host.tick(now, &mut outputs);
        heard.take(&outputs);
        outputs.clear();
        if enough_blocks > 0 && heard.blocks >= enough_blocks {
            break;
        }
    }
    let link = host.link();
    heard.frames = link.frames;
    heard.crc_errors = link.crc_errors;
    Ok(heard)
}

/// What a probe of one port found.
#[derive(Debug)]
pub struct Probe {
    /// The port as given.
    pub path: PathBuf,
    /// Its stable name (`/dev/serial/by-id/…`), where there is one.
    pub stable: Option<PathBuf>,
    /// Each attempt made and what it heard, in order; the last one is the recognised one
    /// where [`Probe::found`] is set.
    pub attempts: Vec<(Attempt, Result<Heard, String>)>,
}

impl Probe {
    /// The attempt that recognised the monitor, if one did.
    pub fn found(&self) -> Option<(Attempt, &Heard)> {
        self.attempts
            .iter()
            .find_map(|(attempt, heard)| match heard {
                Ok(heard) if heard.recognised() => Some((*attempt, heard)),
                _ => None,
            })
    }
}

/// Tries [`ATTEMPTS`] on `path` until one is recognised; `before` is told of each attempt as it
/// starts (for progress). Stops at the first port that cannot be opened.
pub async fn probe(path: &Path, mut before: impl FnMut(&Attempt)) -> Probe {
    let stable = std::fs::canonicalize(path)
        .ok()
        .and_then(|device| {
            crate::ports::stable_names(Path::new(crate::ports::BY_ID_DIR))
                .get(&device)
                .cloned()
        })
        .filter(|stable| stable != path);
    let mut probe = Probe {
        path: path.to_owned(),
        stable,
        attempts: Vec::new(),
    };
    for attempt in ATTEMPTS {
        before(&attempt);
        let heard = listen(
            path,
            attempt.protocol,
            attempt.baud,
            Duration::from_secs(attempt.seconds),
            RECOGNISED_AFTER_BLOCKS,
        )
        .await
        .map_err(|e| e.to_string());
        let stop = heard.as_ref().map_or(true, Heard::recognised);
        probe.attempts.push((attempt, heard));
        if stop {
            break;
        }
    }
    probe
}

/// The protocol's name in `bridge.toml`.
pub fn config_name(protocol: DeviceProtocol) -> &'static str {
    match protocol {
        DeviceProtocol::Series50 => "series50",
        DeviceProtocol::Avalon => "avalon",
        DeviceProtocol::Corometrics115 => "corometrics115",
        DeviceProtocol::Hl7 => "hl7",
    }
}

/// The monitors that speak it, for people.
pub fn monitors(protocol: DeviceProtocol) -> &'static str {
    match protocol {
        DeviceProtocol::Series50 => "Philips Series 50 / GE Corometrics 250cx",
        DeviceProtocol::Avalon => "Philips Avalon FM20–FM50 (IntelliVue data export)",
        DeviceProtocol::Corometrics115 => "GE Corometrics 120/170 series in Model 115 mode",
        DeviceProtocol::Hl7 => "HL7 v2 over MLLP",
    }
}

/// The report `mimamori ports --probe` prints: each attempt, then the verdict with the
/// `[[device]]` stanza for `bridge.toml`, or what to check.
pub fn describe(probe: &Probe) -> String {
    let mut out = format!("{}:\n", probe.path.display());
    for (attempt, heard) in &probe.attempts {
        let tried = format!(
            "  {} at {} baud: ",
            config_name(attempt.protocol),
            attempt.baud
        );
        match heard {
            Ok(heard) => out.push_str(&format!(
                "{tried}{} bytes, {} frames, {} refused, {} CTG blocks{}\n",
                heard.bytes,
                heard.frames,
                heard.crc_errors,
                heard.blocks,
                heard
                    .identified
                    .as_ref()
                    .map(|who| format!("; monitor: {who}"))
                    .unwrap_or_default()
            )),
            Err(error) => out.push_str(&format!("{tried}{error}\n")),
        }
    }
    if let Some((attempt, heard)) = probe.found() {
        let serial = probe.stable.as_deref().unwrap_or(&probe.path);
        if probe.stable.is_none() {
            out.push_str(
                "(This port has no stable name under /dev/serial/by-id: its number may change \
                 at a reboot or a re-plug.)\n",
            );
        }
        out.push_str(&format!(
            "Found: {} ({} protocol at {} baud){}.\nFor bridge.toml:\n\n[[device]]\nname = \"bed-1\"   # your name for this bed\nserial = \"{}\"\nprotocol = \"{}\"\n",
            monitors(attempt.protocol),
            config_name(attempt.protocol),
            attempt.baud,
            heard
                .identified
                .as_ref()
                .map(|who| format!(", the monitor says it is {who}"))
                .unwrap_or_default(),
            serial.display(),
            config_name(attempt.protocol),
        ));
        if attempt.baud != attempt.protocol.baud() {
            out.push_str(&format!("baud = {}\n", attempt.baud));
        }
        return out;
    }
    let opened: Vec<&Heard> = probe
        .attempts
        .iter()
        .filter_map(|(_, heard)| heard.as_ref().ok())
        .collect();
    if opened.is_empty() {
        out.push_str("Not probed: the port could not be opened.\n");
    } else if opened.iter().all(|heard| heard.bytes == 0) {
        out.push_str(
            "No monitor recognised: not one byte came back. Check that the monitor is on, that \
             the cable goes to its serial (RS-232) interface and is a null-modem cable where \
             the monitor's manual asks for one, and that the monitor's interface is enabled.\n",
        );
    } else {
        out.push_str(
            "No monitor recognised: bytes came back, but no protocol could read them. Check the \
             monitor's interface setting (Series 50 protocol, IntelliVue data export, or Model \
             115 with its speed), and record what it sends (`mimamori bridge --capture`) for \
             `mimamori decode`.\n",
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn heard(bytes: u64, blocks: u64) -> Heard {
        Heard {
            bytes,
            frames: blocks,
            blocks,
            ..Heard::default()
        }
    }

    fn attempt(i: usize) -> Attempt {
        ATTEMPTS[i]
    }

    #[test]
    fn the_verdict_names_the_protocol_and_gives_the_stanza_or_says_what_to_check() {
        let found = Probe {
            path: "/dev/ttyUSB0".into(),
            stable: Some("/dev/serial/by-id/usb-FTDI-port0".into()),
            attempts: vec![
                (attempt(0), Ok(heard(40, 0))),
                (attempt(1), Ok(heard(0, 0))),
                (attempt(3), Ok(heard(300, 2))),
            ],
        };
        let text = describe(&found);
        assert!(
            text.contains("Found: GE Corometrics 120/170 series in Model 115 mode"),
            "{text}"
        );
        assert!(
            text.contains("serial = \"/dev/serial/by-id/usb-FTDI-port0\"\nprotocol = \"corometrics115\"\nbaud = 19200\n"),
            "{text}"
        );
        assert!(!text.contains("no stable name"), "{text}");

        // At the protocol's own speed no baud line; no stable name is said.
        let found = Probe {
            path: "/dev/ttyS0".into(),
            stable: None,
            attempts: vec![(attempt(0), Ok(heard(40, 3)))],
        };
        let text = describe(&found);
        assert!(text.contains("protocol = \"series50\"\n"), "{text}");
        assert!(!text.contains("baud ="), "{text}");
        assert!(text.contains("no stable name"), "{text}");

        // One block is not enough.
        let silent = Probe {
            path: "/dev/ttyS0".into(),
            stable: None,
            attempts: ATTEMPTS.iter().map(|a| (*a, Ok(heard(0, 0)))).collect(),
        };
        assert!(silent.found().is_none());
        assert!(describe(&silent).contains("not one byte came back"));
        let garbled = Probe {
            path: "/dev/ttyS0".into(),
            stable: None,
            attempts: ATTEMPTS.iter().map(|a| (*a, Ok(heard(120, 1)))).collect(),
        };
        assert!(garbled.found().is_none());
        assert!(describe(&garbled).contains("no protocol could read them"));
        let closed = Probe {
            path: "/dev/ttyS9".into(),
            stable: None,
            attempts: vec![(attempt(0), Err("cannot open /dev/ttyS9: busy".into()))],
        };
        assert!(describe(&closed).contains("could not be opened"));
    }

    #[test]
    fn every_serial_protocol_is_tried_and_speeds_are_the_monitors() {
        for protocol in [
            DeviceProtocol::Series50,
            DeviceProtocol::Avalon,
            DeviceProtocol::Corometrics115,
        ] {
            assert!(
                ATTEMPTS
                    .iter()
                    .any(|a| a.protocol == protocol && a.baud == protocol.baud()),
                "{protocol:?} at its own speed"
            );
        }
        assert!(
            ATTEMPTS
                .iter()
                .all(|a| crate::config::SERIAL_SPEEDS.contains(&a.baud))
        );
    }
}
