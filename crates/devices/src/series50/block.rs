//! Series 50 blocks: the type character and its data, parsed and encoded byte-exactly.
//!
//! Source: Programmer's Guide M1350-9074S, the block catalogue and the `C` block layout
//! (protocols.md §1.3–1.4). Every block type with a fixed layout has its length checked: real
//! devices and third-party tools reuse letters with other lengths, and a wrong-length block is an
//! error, never a guess. Unknown types are kept as [`Block::Unknown`] (the guide requires
//! receivers to ignore them: forward compatibility). Multi-byte words are big-endian.

use serde::Serialize;

/// Length of a `C` block including its type character.
pub const CTG_BLOCK_LEN: usize = 35;

/// A `C` block: one second of CTG (four 250 ms ticks per channel), raw as on the wire.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CtgBlock {
    /// Status word (monitor on, samples inserted/deleted, coincidence, telemetry, …).
    pub status: u16,
    /// HR1 words, oldest first: quality bits 14–13, fetal movement bits 12–11, rate bits 10–0.
    pub hr1: [u16; 4],
    /// HR2 words, oldest first.
    pub hr2: [u16; 4],
    /// MHR words, oldest first.
    pub mhr: [u16; 4],
    /// Toco, oldest first, in half units.
    pub toco: [u8; 4],
    /// HR mode word: HR1 mode (high bits 7–5) and inop (high bit 4), HR2 mode (high 3–1) and
    /// inop (high 0), MHR mode (low 7–5) and inop (low 4).
    pub hr_mode: u16,
    /// Toco mode byte: mode in bits 3–1.
    pub toco_mode: u8,
    /// FSpO2 byte (protocol revision A.02.00 and later): bit 7 clear, bits 6–0 in percent.
    pub fspo2: u8,
}

/// Maternal pulse as the `P` and `S` blocks carry it: quarter bpm, with two special values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Pulse {
    /// A reading in quarter bpm (0 = invalid but measurable).
    Reading(u16),
    /// `0xFFFF`: this device cannot measure the pulse.
    NotMeasurable,
}

impl Pulse {
    fn from_word(word: u16) -> Self {
        if word == 0xFFFF {
            Pulse::NotMeasurable
        } else {
            Pulse::Reading(word)
        }
    }

    fn word(self) -> u16 {
        match self {
            Pulse::Reading(value) => value,
            Pulse::NotMeasurable => 0xFFFF,
        }
    }

    /// As the normalised events carry it.
    pub fn quarter_bpm(self) -> Option<u16> {
        match self {
            Pulse::Reading(value) => Some(value),
            Pulse::NotMeasurable => None,
        }
    }
}

/// One Series 50 block, in either direction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "block", rename_all = "snake_case")]
pub enum Block {
    /// `C`: CTG data (monitor → host).
    Ctg(CtgBlock),
    /// `I`: identification (monitor → host; also unprompted at power-on).
    Identification {
        /// Model, e.g. `M1350A` (6 characters).
        model: String,
        /// Protocol revision, e.g. `A30` = A.03.00 (3 characters).
        protocol_revision: String,
        /// Software revision, e.g. `A.01.01` (7 characters).
        software_revision: String,
        /// Serial number (10 characters).
        serial: String,
    },
    /// `MM`: the event-marker button was pressed.
    Marker,
    /// `N`: a note. From the monitor the ID is empty.
    Note {
        /// The writer's ID (host → monitor), empty from the monitor.
        id: String,
        /// The text.
        text: String,
    },
    /// `F`: fatal error; the monitor restarts and the host must handshake again.
    Failure {
        /// Three-digit error code.
        code: String,
    },
    /// `P`: maternal blood pressure.
    BloodPressure {
        /// Systolic, mmHg.
        systolic: u16,
        /// Diastolic, mmHg.
        diastolic: u16,
        /// Mean, mmHg.
        mean: u16,
        /// Maternal pulse.
        pulse: Pulse,
    },
    /// `T`: maternal temperature, 25.0 °C + raw × 0.1 °C.
    Temperature {
        /// The raw byte.
        raw: u8,
    },
    /// `S`: maternal SpO2 and pulse.
    Spo2 {
        /// SpO2 in half percent (0–200).
        half_percent: u8,
        /// Maternal pulse.
        pulse: Pulse,
    },
    /// `?`: the host asks for one block (`C` or `I`); `?C` also ends auto-send mode.
    Request {
        /// The type asked for.
        wanted: u8,
    },
    /// `G`: start auto-send (a `C` block every second).
    Go,
    /// `H`: stop auto-send.
    Halt,
    /// `V`: the host asks for a protocol revision, e.g. `A20`.
    Version {
        /// Three characters.
        revision: String,
    },
    /// A type this decoder does not know (ignored, as the guide requires, but reported).
    Unknown {
        /// The type character.
        kind: u8,
        /// Data bytes after it.
        len: usize,
    },
}

/// A block whose content does not fit its type.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    /// The block has the wrong length for its type.
    #[error("'{}' block is {len} bytes long; this type is {expected} bytes", char::from(*.kind))]
    Length {
        /// The type character.
        kind: u8,
        /// Its length including the type character.
        len: usize,
        /// What the type requires.
        expected: &'static str,
    },
    /// A text field holds bytes that are not printable ASCII.
    #[error("'{}' block carries non-printable text", char::from(*.kind))]
    Text {
        /// The type character.
        kind: u8,
    },
    /// An `N` block's ID length points past the block.
    #[error("note ID length {id_len} runs past the {len}-byte block")]
    NoteIdLength {
        /// The ID length byte.
        id_len: u8,
        /// The block length.
        len: usize,
    },
}

fn word(bytes: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([bytes[at], bytes[at + 1]])
}

fn words4(bytes: &[u8], at: usize) -> [u16; 4] {
    [
        word(bytes, at),
        word(bytes, at + 2),
        word(bytes, at + 4),
        word(bytes, at + 6),
    ]
}

fn text(kind: u8, bytes: &[u8]) -> Result<String, BlockError> {
    if bytes.iter().all(|b| (0x20..0x7F).contains(b)) {
        Ok(bytes.iter().map(|&b| char::from(b)).collect())
    } else {
        Err(BlockError::Text { kind })
    }
}

fn expect_len(block: &[u8], len: usize, expected: &'static str) -> Result<(), BlockError> {
    if block.len() == len {
        Ok(())
    } else {
        Err(BlockError::Length {
            kind: block[0],
            len: block.len(),
            expected,
        })
    }
}

impl Block {
    /// Parses a block (type character first), as [`super::FrameDecoder`] delivers it.
    pub fn parse(block: &[u8]) -> Result<Block, BlockError> {
        let Some(&kind) = block.first() else {
            return Ok(Block::Unknown { kind: 0, len: 0 });
        };
        match kind {
            b'C' => {
                expect_len(block, CTG_BLOCK_LEN, "35")?;
                Ok(Block::Ctg(CtgBlock {
                    status: word(block, 1),
                    hr1: words4(block, 3),
                    hr2: words4(block, 11),
                    mhr: words4(block, 19),
                    toco: [block[27], block[28], block[29], block[30]],
                    hr_mode: word(block, 31),
                    toco_mode: block[33],
                    fspo2: block[34],
                }))
            }
            b'I' => {
                expect_len(block, 27, "27")?;
                Ok(Block::Identification {
                    model: text(kind, &block[1..7])?.trim_end().to_owned(),
                    protocol_revision: text(kind, &block[7..10])?,
                    software_revision: text(kind, &block[10..17])?.trim_end().to_owned(),
                    serial: text(kind, &block[17..27])?.trim_end().to_owned(),
                })
            }
            b'M' => {
                if block == b"MM" {
                    Ok(Block::Marker)
                } else {
                    Err(BlockError::Length {
                        kind,
                        len: block.len(),
                        expected: "2 (\"MM\")",
                    })
                }
            }
            b'N' => {
                if block.len() < 2 {
                    return Err(BlockError::Length {
                        kind,
                        len: block.len(),
                        expected: "at least 2",
                    });
                }
                let id_len = block[1];
                let id_end = 2 + usize::from(id_len);
                if id_end > block.len() {
                    return Err(BlockError::NoteIdLength {
                        id_len,
                        len: block.len(),
                    });
                }
                Ok(Block::Note {
                    id: text(kind, &block[2..id_end])?,
                    text: text(kind, &block[id_end..])?,
                })
            }
            b'F' => {
                expect_len(block, 4, "4")?;
                Ok(Block::Failure {
                    code: text(kind, &block[1..4])?,
                })
            }
            b'P' => {
                expect_len(block, 9, "9")?;
                Ok(Block::BloodPressure {
                    systolic: word(block, 1),
                    diastolic: word(block, 3),
                    mean: word(block, 5),
                    pulse: Pulse::from_word(word(block, 7)),
                })
            }
            b'T' => {
                expect_len(block, 2, "2")?;
                Ok(Block::Temperature { raw: block[1] })
            }
            b'S' => {
                expect_len(block, 4, "4")?;
                Ok(Block::Spo2 {
                    half_percent: block[1],
                    pulse: Pulse::from_word(word(block, 2)),
                })
            }
            b'?' => {
                expect_len(block, 2, "2")?;
                Ok(Block::Request { wanted: block[1] })
            }
            b'G' => expect_len(block, 1, "1").map(|()| Block::Go),
            b'H' => expect_len(block, 1, "1").map(|()| Block::Halt),
            b'V' => {
                expect_len(block, 4, "4")?;
                Ok(Block::Version {
                    revision: text(kind, &block[1..4])?,
                })
            }
            _ => Ok(Block::Unknown {
                kind,
                len: block.len() - 1,
            }),
        }
    }

    /// The block's bytes (type character first), ready for [`super::encode_frame`].
    ///
    /// Text fields are padded or cut to their fixed width; [`Block::Unknown`] encodes as its
    /// type character followed by `len` zero bytes.
    pub fn encode(&self) -> Vec<u8> {
        fn fixed(text: &str, width: usize) -> impl Iterator<Item = u8> + '_ {
            text.bytes().chain(std::iter::repeat(b' ')).take(width)
        }
        let mut out = Vec::with_capacity(CTG_BLOCK_LEN);
        match self {
            Block::Ctg(c) => {
                out.push(b'C');
                out.extend(c.status.to_be_bytes());
                for word in c.hr1.iter().chain(&c.hr2).chain(&c.mhr) {
                    out.extend(word.to_be_bytes());
                }
                out.extend(c.toco);
                out.extend(c.hr_mode.to_be_bytes());
                out.push(c.toco_mode);
                out.push(c.fspo2);
            }
            Block::Identification {
                model,
                protocol_revision,
                software_revision,
                serial,
            } => {
                out.push(b'I');
                out.extend(fixed(model, 6));
                out.extend(fixed(protocol_revision, 3));
                out.extend(fixed(software_revision, 7));
                out.extend(fixed(serial, 10));
            }
            Block::Marker => out.extend(b"MM"),
            Block::Note { id, text } => {
                out.push(b'N');
                let id = &id.as_bytes()[..id.len().min(255)];
                out.push(id.len() as u8);
                out.extend(id);
                out.extend(
                    text.bytes()
                        .take(super::frame::MAX_BLOCK_LEN - 2 - id.len()),
                );
            }
            Block::Failure { code } => {
                out.push(b'F');
                out.extend(fixed(code, 3));
            }
            Block::BloodPressure {
                systolic,
                diastolic,
                mean,
                pulse,
            } => {
                out.push(b'P');
                for word in [*systolic, *diastolic, *mean, pulse.word()] {
                    out.extend(word.to_be_bytes());
                }
            }
            Block::Temperature { raw } => out.extend([b'T', *raw]),
            Block::Spo2 {
                half_percent,
                pulse,
            } => {
                out.extend([b'S', *half_percent]);
                out.extend(pulse.word().to_be_bytes());
            }
            Block::Request { wanted } => out.extend([b'?', *wanted]),
            Block::Go => out.push(b'G'),
            Block::Halt => out.push(b'H'),
            Block::Version { revision } => {
                out.push(b'V');
                out.extend(fixed(revision, 3));
            }
            Block::Unknown { kind, len } => {
                out.push(*kind);
                out.extend(std::iter::repeat_n(
                    0,
                    (*len).min(super::frame::MAX_BLOCK_LEN - 1),
                ));
            }
        }
        out
    }
}
