//! A simulated monitor on a pseudo-terminal.
//!
//! The simulator holds the master side; the slave side is a real tty device (`/dev/pts/N`) that
//! the bridge opens with its ordinary serial code. The slave is put in raw mode (no echo, no
//! line editing, no CR/LF translation), as a serial port is. The simulator also keeps the slave
//! open itself, so bytes written while no bridge is attached wait in the tty's input queue
//! instead of vanishing; when that queue is full the monitor waits (a real line would drop
//! them; waiting keeps tests exact about what was sent).

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ctg_devices::avalon::AvalonMonitor;
use ctg_devices::corometrics115::Corometrics115Monitor;
use ctg_devices::series50::{Block, CtgBlock, Series50Monitor, simulator_identification};
use nix::fcntl::{FcntlArg, FdFlag, OFlag, fcntl};
use nix::pty::openpty;
use nix::sys::termios::{SetArg, cfmakeraw, tcgetattr, tcsetattr};

use crate::source::SecondSource;

/// How a simulated monitor runs.
#[derive(Clone, Debug)]
pub struct PtyOptions {
    /// Playback speed: 1.0 is real time (one `C` block a second).
    pub speed: f64,
    /// A symlink to create to the slave device (a stable path for a bridge config).
    pub link: Option<PathBuf>,
    /// Every this many seconds, press the event marker (0: never).
    pub marker_every_s: u64,
    /// Every this many seconds, put line noise between two frames (0: never): garbage bytes, a
    /// frame broken off by the next one, a frame with a bad CRC and an endless block, in turn.
    pub noise_every_s: u64,
}

impl Default for PtyOptions {
    fn default() -> Self {
        Self {
            speed: 1.0,
            link: None,
            marker_every_s: 0,
            noise_every_s: 0,
        }
    }
}

/// A monitor running on its own thread.
#[derive(Debug)]
pub struct PtyMonitorHandle {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    samples_sent: Arc<AtomicU64>,
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl PtyMonitorHandle {
    /// The slave device path to open (or the symlink, if one was asked for).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Samples sent in `C` blocks so far (the recording's first `samples_sent` samples).
    pub fn samples_sent(&self) -> u64 {
        self.samples_sent.load(Ordering::SeqCst)
    }

    /// Stops the monitor (after giving the reader half a second to take what is in the tty),
    /// waits for its thread, and returns the samples it sent in all.
    pub fn stop(mut self) -> io::Result<u64> {
        self.shutdown()?;
        Ok(self.samples_sent())
    }

    fn shutdown(&mut self) -> io::Result<()> {
        self.stop.store(true, Ordering::SeqCst);
        match self.thread.take() {
            Some(thread) => thread
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("simulator thread panicked"))),
            None => Ok(()),
        }
    }
}

impl Drop for PtyMonitorHandle {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

/// Simulated monitors on pseudo-terminals.
#[derive(Debug)]
pub struct PtyMonitor;

impl PtyMonitor {
    /// Starts a Series 50 monitor playing `source` on a new pseudo-terminal.
    pub fn spawn_series50(
        source: Box<dyn SecondSource>,
        options: PtyOptions,
    ) -> io::Result<PtyMonitorHandle> {
        Self::spawn(source, options, Protocol::Series50)
    }

    /// Starts an Avalon monitor (IntelliVue data export, numerics once a second) playing
    /// `source` on a new pseudo-terminal.
    pub fn spawn_avalon(
        source: Box<dyn SecondSource>,
        options: PtyOptions,
    ) -> io::Result<PtyMonitorHandle> {
        Self::spawn(source, options, Protocol::Avalon)
    }

    /// Starts a GE Corometrics 120 / 170 series monitor in "Model 115-compatible" Update mode
    /// (ASCII records: heart rates and movement at 4 Hz, uterine activity at 8 Hz) playing
    /// `source` on a new pseudo-terminal.
    pub fn spawn_corometrics115(
        source: Box<dyn SecondSource>,
        options: PtyOptions,
    ) -> io::Result<PtyMonitorHandle> {
        Self::spawn(source, options, Protocol::Corometrics115)
    }

    fn spawn(
        mut source: Box<dyn SecondSource>,
        options: PtyOptions,
        protocol: Protocol,
    ) -> io::Result<PtyMonitorHandle> {
        let pty = openpty(None, None).map_err(io::Error::from)?;
        let mut termios = tcgetattr(pty.slave.as_fd()).map_err(io::Error::from)?;
        cfmakeraw(&mut termios);
        tcsetattr(pty.slave.as_fd(), SetArg::TCSANOW, &termios).map_err(io::Error::from)?;
        let slave_path = nix::unistd::ttyname(pty.slave.as_fd()).map_err(io::Error::from)?;
        let path = match &options.link {
            Some(link) => {
                let _ = std::fs::remove_file(link);
                std::os::unix::fs::symlink(&slave_path, link)?;
                link.clone()
            }
            None => slave_path,
        };
        set_nonblocking(&pty.master)?;
        // Neither side may leak into a process this one starts (a bridge under test): a
        // child holding the master would keep the line up after the monitor hangs up.
        close_on_exec(&pty.master)?;
        close_on_exec(&pty.slave)?;
        let stop = Arc::new(AtomicBool::new(false));
        let samples_sent = Arc::new(AtomicU64::new(0));
        let thread = {
            let stop = stop.clone();
            let samples_sent = samples_sent.clone();
            let slave = pty.slave;
            let master = File::from(pty.master);
            std::thread::Builder::new()
                .name("sim-monitor".into())
                .spawn(move || {
                    let _keep_open = slave;
                    match protocol {
                        Protocol::Series50 => {
                            run_series50(master, source.as_mut(), &options, &stop, &samples_sent)
                        }
                        Protocol::Avalon => {
                            run_avalon(master, source.as_mut(), &options, &stop, &samples_sent)
                        }
                        Protocol::Corometrics115 => run_corometrics115(
                            master,
                            source.as_mut(),
                            &options,
                            &stop,
                            &samples_sent,
                        ),
                    }
                })?
        };
        Ok(PtyMonitorHandle {
            path,
            stop,
            samples_sent,
            thread: Some(thread),
        })
    }
}

#[derive(Clone, Copy, Debug)]
enum Protocol {
    Series50,
    Avalon,
    Corometrics115,
}

/// Reads whatever the host sent, without waiting.
fn read_available(
    master: &mut File,
    buffer: &mut [u8],
    mut take: impl FnMut(&[u8]),
) -> io::Result<()> {
    loop {
        match master.read(buffer) {
            Ok(0) => return Ok(()),
            Ok(n) => take(&buffer[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.raw_os_error() == Some(nix::libc::EIO) => return Ok(()),
            Err(e) => return Err(e),
        }
    }
}

fn run_avalon(
    mut master: File,
    source: &mut dyn SecondSource,
    options: &PtyOptions,
    stop: &AtomicBool,
    samples_sent: &AtomicU64,
) -> io::Result<()> {
    let mut monitor = AvalonMonitor::new();
    let period = Duration::from_secs_f64(1.0 / options.speed.max(0.001));
    let started = Instant::now();
    let mut next_second = Instant::now();
    let mut buffer = [0u8; 4096];
    let mut second = 0u64;
    while !stop.load(Ordering::SeqCst) {
        if Instant::now() >= next_second {
            next_second += period;
            second += 1;
            if options.noise_every_s > 0 && second.is_multiple_of(options.noise_every_s) {
                let noise = avalon_line_noise(second / options.noise_every_s);
                write_all_waiting(&mut master, &noise, stop)?;
            }
            if monitor.associated() {
                match source.next_second() {
                    Some(second) => {
                        monitor.show(second[0], source.flags());
                        samples_sent.fetch_add(4, Ordering::SeqCst);
                    }
                    None => break,
                }
            }
        }
        let relative_time = (started.elapsed().as_micros() / 125) as u32; // 1/8 ms ticks
        read_available(&mut master, &mut buffer, |bytes| {
            monitor.receive(bytes, relative_time)
        })?;
        write_all_waiting(&mut master, &monitor.take_output(), stop)?;
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(500));
    Ok(())
}

/// A Model 115 monitor in Update mode: it sends every second's records whatever the host
/// says (its requests are read and ignored), the second heart rate where the source's FHR2
/// transducer is connected, the Mark key as an event-mark record, and line noise between two
/// seconds.
fn run_corometrics115(
    mut master: File,
    source: &mut dyn SecondSource,
    options: &PtyOptions,
    stop: &AtomicBool,
    samples_sent: &AtomicU64,
) -> io::Result<()> {
    use ctg_proto::model::{Channel, TransducerMode};
    let mut monitor = Corometrics115Monitor::new();
    let period = Duration::from_secs_f64(1.0 / options.speed.max(0.001));
    let with_hr2 = !matches!(
        source.modes().get(Channel::Fhr2),
        TransducerMode::NoTransducer | TransducerMode::Unknown
    );
    let mut next_tick = Instant::now();
    let mut buffer = [0u8; 512];
    let mut second = 0u64;
    while !stop.load(Ordering::SeqCst) {
        read_available(&mut master, &mut buffer, |_| {})?;
        second += 1;
        if options.marker_every_s > 0 && second.is_multiple_of(options.marker_every_s) {
            monitor.mark();
        }
        if options.noise_every_s > 0 && second.is_multiple_of(options.noise_every_s) {
            let noise = corometrics115_line_noise(second / options.noise_every_s);
            write_all_waiting(&mut master, &noise, stop)?;
        }
        let Some(samples) = source.next_second() else {
            tracing::info!("recording finished");
            break;
        };
        let bytes = monitor.second(&samples, with_hr2);
        write_all_waiting(&mut master, &bytes, stop)?;
        samples_sent.fetch_add(samples.len() as u64, Ordering::SeqCst);
        wait_for_tick(&mut next_tick, period);
    }
    std::thread::sleep(Duration::from_millis(500));
    Ok(())
}

/// The `n`-th burst of Model 115 line noise: garbage, a record broken off (the next record
/// starts inside it), a heart rate with a letter in it, and an annotation longer than the
/// decoder takes, in turn; each leaves the line so the next record is read intact.
pub fn corometrics115_line_noise(n: u64) -> Vec<u8> {
    use ctg_devices::corometrics115::{ETX, MAX_DATA};
    match n % 4 {
        0 => vec![0x00, 0xFF, 0x55, 0x39, 0x12, 0x7E],
        1 => b"9`01".to_vec(),
        2 => b"9e01Z0\x03".to_vec(),
        _ => {
            let mut bytes = b"9c0".to_vec();
            bytes.extend(std::iter::repeat_n(b'A', MAX_DATA + 10));
            bytes.push(ETX);
            bytes
        }
    }
}

/// Sleeps until the next tick, `period` after the last; a monitor that fell far behind (a
/// stalled writer) starts again from now rather than sending the missed seconds in a burst.
fn wait_for_tick(next_tick: &mut Instant, period: Duration) {
    *next_tick += period;
    let now = Instant::now();
    if *next_tick > now {
        std::thread::sleep(*next_tick - now);
    } else if now - *next_tick > period * 10 {
        *next_tick = now;
    }
}

fn close_on_exec(fd: &OwnedFd) -> io::Result<()> {
    fcntl(fd.as_fd(), FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC)).map_err(io::Error::from)?;
    Ok(())
}

fn set_nonblocking(fd: &OwnedFd) -> io::Result<()> {
    let flags = fcntl(fd.as_fd(), FcntlArg::F_GETFL).map_err(io::Error::from)?;
    let flags = OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK;
    fcntl(fd.as_fd(), FcntlArg::F_SETFL(flags)).map_err(io::Error::from)?;
    Ok(())
}

fn run_series50(
    mut master: File,
    source: &mut dyn SecondSource,
    options: &PtyOptions,
    stop: &AtomicBool,
    samples_sent: &AtomicU64,
) -> io::Result<()> {
    let mut monitor = Series50Monitor::power_on(simulator_identification());
    let period = Duration::from_secs_f64(1.0 / options.speed.max(0.001));
    let modes = source.modes();
    let mut next_tick = Instant::now();
    let mut buffer = [0u8; 512];
    let mut second = 0u64;
    while !stop.load(Ordering::SeqCst) {
        // What the host said since the last tick.
        loop {
            match master.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => monitor.receive(&buffer[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                // EIO: no slave open at the moment (cannot happen while we hold it, but harmless).
                Err(e) if e.raw_os_error() == Some(nix::libc::EIO) => break,
                Err(e) => return Err(e),
            }
        }
        second += 1;
        if options.marker_every_s > 0 && second.is_multiple_of(options.marker_every_s) {
            monitor.queue(Block::Marker);
        }
        if options.noise_every_s > 0 && second.is_multiple_of(options.noise_every_s) {
            let noise = line_noise(second / options.noise_every_s);
            write_all_waiting(&mut master, &noise, stop)?;
        }
        let bytes = if monitor.wants_ctg() {
            match source.next_second() {
                Some(samples) => {
                    let ctg = CtgBlock::from_samples(&samples, &modes, source.flags(), None);
                    let (bytes, sent) = monitor.second(&ctg);
                    debug_assert!(sent);
                    samples_sent.fetch_add(4, Ordering::SeqCst);
                    bytes
                }
                None => {
                    tracing::info!("recording finished");
                    let bytes = monitor.flush();
                    write_all_waiting(&mut master, &bytes, stop)?;
                    return Ok(());
                }
            }
        } else {
            monitor.flush()
        };
        write_all_waiting(&mut master, &bytes, stop)?;
        if stop.load(Ordering::SeqCst) {
            break;
        }
        wait_for_tick(&mut next_tick, period);
    }
    // Let the reader take what is still queued before the tty goes away.
    std::thread::sleep(Duration::from_millis(500));
    Ok(())
}

/// The `n`-th burst of Avalon line noise: garbage, an aborted frame (`7D C1`), a frame with a
/// bad FCS, and a frame longer than the decoder's limit, in turn.
pub fn avalon_line_noise(n: u64) -> Vec<u8> {
    use ctg_devices::avalon::frame::{BOF, EOF, ESC, frame};
    match n % 4 {
        0 => vec![0x00, 0xFF, 0x55, 0x11, 0x01, 0x7E],
        1 => vec![BOF, 0x11, 0x01, 0x00, 0x08, ESC, EOF],
        2 => {
            let mut bytes = frame(&[0xE1, 0x00, 0x00, 0x02, 0x00, 0x01]);
            bytes[3] ^= 0x01;
            bytes
        }
        _ => {
            let mut bytes = vec![BOF];
            bytes.extend(std::iter::repeat_n(0x41, 9000));
            bytes.push(EOF);
            bytes
        }
    }
}

/// The `n`-th burst of line noise; each kind leaves the line so the next frame is read intact.
pub fn line_noise(n: u64) -> Vec<u8> {
    use ctg_devices::series50::frame::{DLE, STX, frame};
    match n % 4 {
        // Bytes between frames (never DLE).
        0 => vec![0x00, 0xFF, 0x55, 0x03, 0x02, 0x7E, 0x41],
        // A C block broken off (the next frame's DLE STX aborts it).
        1 => vec![DLE, STX, b'C', 0x80, 0x00, 0x42, 0x31],
        // A frame with a bad CRC, then the guide's two resync bytes.
        2 => {
            let mut bytes = frame(b"MM");
            let last = bytes.len() - 1;
            bytes[last] ^= 0x5A;
            bytes.extend([0x00, 0x00]);
            bytes
        }
        // An endless block: longer than the 512-byte limit, never closed.
        _ => {
            let mut bytes = vec![DLE, STX];
            bytes.extend(std::iter::repeat_n(0x41, 700));
            bytes
        }
    }
}

fn write_all_waiting(master: &mut File, mut bytes: &[u8], stop: &AtomicBool) -> io::Result<()> {
    while !bytes.is_empty() {
        match master.write(bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if stop.load(Ordering::SeqCst) {
                    return Ok(());
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
