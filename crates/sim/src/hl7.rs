//! A simulated HL7 sender: one ORU^R01 per second (the second's four samples as 4 Hz arrays)
//! over MLLP to a listener, waiting for each ACK; reconnects every 2 s when the listener is away.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ctg_devices::hl7::{build_oru, mllp};

use crate::source::SecondSource;

/// A sender running on its own thread.
#[derive(Debug)]
pub struct Hl7Sender {
    stop: Arc<AtomicBool>,
    accepted: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl Hl7Sender {
    /// Starts sending `source` to `to` at `speed` × real time.
    pub fn spawn(
        mut source: Box<dyn SecondSource>,
        to: SocketAddr,
        speed: f64,
    ) -> io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(AtomicU64::new(0));
        let thread =
            {
                let (stop, accepted) = (stop.clone(), accepted.clone());
                std::thread::Builder::new().name("sim-hl7".into()).spawn(move || {
                let period = Duration::from_secs_f64(1.0 / speed.max(0.001));
                let mut pending: Option<Vec<u8>> = None;
                let mut n = 0u64;
                while !stop.load(Ordering::SeqCst) {
                    let mut socket = match TcpStream::connect_timeout(&to, Duration::from_secs(2)) {
                        Ok(socket) => socket,
                        Err(error) => {
                            tracing::warn!(%to, %error, "HL7 listener not reachable; retrying");
                            std::thread::sleep(Duration::from_secs(2));
                            continue;
                        }
                    };
                    let _ = socket.set_read_timeout(Some(Duration::from_secs(10)));
                    let mut next = Instant::now();
                    while !stop.load(Ordering::SeqCst) {
                        let message = match pending.take() {
                            Some(message) => message,
                            None => match source.next_second() {
                                Some(second) => {
                                    n += 1;
                                    let utc = std::time::SystemTime::now()
                                        .duration_since(std::time::UNIX_EPOCH)
                                        .map_or(0, |d| d.as_millis() as i64);
                                    build_oru(&second, &format!("SIM-{n}"), utc)
                                }
                                None => return,
                            },
                        };
                        match exchange(&mut socket, &message) {
                            Ok(true) => {
                                accepted.fetch_add(1, Ordering::SeqCst);
                            }
                            Ok(false) => tracing::warn!("HL7 message not accepted"),
                            Err(error) => {
                                tracing::warn!(%error, "HL7 connection lost; resending");
                                pending = Some(message);
                                break;
                            }
                        }
                        next += period;
                        if let Some(wait) = next.checked_duration_since(Instant::now()) {
                            std::thread::sleep(wait);
                        }
                    }
                }
            })?
            };
        Ok(Self {
            stop,
            accepted,
            thread: Some(thread),
        })
    }

    /// Messages acknowledged with AA so far.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for Hl7Sender {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Sends one message and reads its ACK; true for AA.
fn exchange(socket: &mut TcpStream, message: &[u8]) -> io::Result<bool> {
    socket.write_all(&mllp::frame(message))?;
    let mut ack = Vec::new();
    let mut buffer = [0u8; 1024];
    while !ack.ends_with(&[mllp::FS, mllp::CR]) {
        let n = socket.read(&mut buffer)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        ack.extend_from_slice(&buffer[..n]);
        if ack.len() > 64 * 1024 {
            return Err(io::Error::other("ACK too long"));
        }
    }
    Ok(ack.windows(7).any(|w| w == b"MSA|AA|"))
}
