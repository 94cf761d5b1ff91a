//! The hub under test, as its own process (`mimamori hub`), so the load generator's work does
//! not count as the hub's: its PKI, database and demo login in a scratch folder; start, kill -9,
//! restart; CPU and memory read from `/proc`.

use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// The facility every simulated bridge belongs to.
pub const FACILITY: &str = "load";
/// The viewers' login.
pub const VIEWER: (&str, &str) = ("viewer", "load test password");

/// A hub process and the folder it lives in.
pub struct HubProcess {
    exe: PathBuf,
    dir: PathBuf,
    child: Option<Child>,
    /// Where bridges connect (QUIC).
    pub quic: SocketAddr,
    /// Where viewers connect (HTTP on loopback).
    pub http: SocketAddr,
}

/// One reading of a process's counters.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProcSample {
    /// User + system CPU time so far, in seconds.
    pub cpu_s: f64,
    /// Resident memory now, KiB.
    pub rss_kib: u64,
    /// Peak resident memory, KiB.
    pub peak_rss_kib: u64,
}

impl HubProcess {
    /// Prepares a hub in `dir`: the CA, the hub's and the bridges' certificates, the viewer
    /// account. `exe` is the `mimamori` binary.
    pub fn prepare(exe: &Path, dir: &Path) -> Result<Self> {
        let pki = dir.join("pki");
        ctg_tls::pki::create_ca(&pki)?;
        ctg_tls::pki::issue(
            &pki,
            "hub",
            &ctg_tls::pki::Role::Hub {
                names: vec!["localhost".into()],
            },
        )?;
        ctg_tls::pki::issue(
            &pki,
            "bridge",
            &ctg_tls::pki::Role::Bridge {
                facility: FACILITY.into(),
            },
        )?;
        let accounts = ctg_hub::accounts::Accounts::open(&dir.join("hub.db"), "centre")?;
        accounts.add_user(
            VIEWER.0,
            VIEWER.1,
            ctg_hub::accounts::Role::Obstetrician,
            "centre",
        )?;
        drop(accounts);
        let quic = free_udp()?;
        let http = free_tcp()?;
        Ok(Self {
            exe: exe.to_owned(),
            dir: dir.to_owned(),
            child: None,
            quic,
            http,
        })
    }

    /// The PKI folder (the bridges' certificate is `bridge.pem`).
    pub fn pki(&self) -> PathBuf {
        self.dir.join("pki")
    }

    /// Starts the hub and waits until its API answers.
    pub fn start(&mut self) -> Result<Duration> {
        let started = Instant::now();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("hub.log"))?;
        let child = Command::new(&self.exe)
            .arg("hub")
            .arg("--pki")
            .arg(self.pki())
            .arg("--db")
            .arg(self.dir.join("hub.db"))
            .arg("--listen")
            .arg(self.quic.to_string())
            .arg("--http")
            .arg(self.http.to_string())
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {} hub", self.exe.display()))?;
        self.child = Some(child);
        while TcpStream::connect(self.http).is_err() {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                bail!(
                    "the hub exited ({status}); see {}",
                    self.dir.join("hub.log").display()
                );
            }
            if started.elapsed() > Duration::from_secs(30) {
                bail!("the hub did not open its API within 30 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(started.elapsed())
    }

    /// Kills the hub at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill()?;
            child.wait()?;
        }
        Ok(())
    }

    /// The hub's process ID, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// CPU and memory of the hub process now.
    pub fn sample(&self) -> Option<ProcSample> {
        proc_sample(&format!("/proc/{}", self.pid()?))
    }

    /// Bytes of the database on disk (with its write-ahead log).
    pub fn disk_bytes(&self) -> u64 {
        ["hub.db", "hub.db-wal"]
            .iter()
            .filter_map(|f| std::fs::metadata(self.dir.join(f)).ok())
            .map(|m| m.len())
            .sum()
    }
}

impl Drop for HubProcess {
    fn drop(&mut self) {
        let _ = self.kill();
    }
}

/// CPU and memory of a process from its `/proc` folder (`/proc/self` for this one).
pub fn proc_sample(proc_dir: &str) -> Option<ProcSample> {
    let stat = std::fs::read_to_string(format!("{proc_dir}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after the name.
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    let status = std::fs::read_to_string(format!("{proc_dir}/status")).ok()?;
    let kib = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Some(ProcSample {
        // Linux reports these in USER_HZ, which is 100 on every architecture it runs on.
        cpu_s: ticks / 100.0,
        rss_kib: kib("VmRSS:"),
        peak_rss_kib: kib("VmHWM:"),
    })
}

fn free_udp() -> Result<SocketAddr> {
    Ok(UdpSocket::bind("127.0.0.1:0")?.local_addr()?)
}

fn free_tcp() -> Result<SocketAddr> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}
