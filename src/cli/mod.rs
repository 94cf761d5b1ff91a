//! Command-line definitions (clap) and dispatch to one module per subcommand.

mod analyze;
mod analyze_plot;
mod bench;
mod convert;
mod decode;
#[cfg(unix)]
mod demo;
mod eval;
mod field;
mod hub;
mod info;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Mimamori (見守り): an open, vendor-neutral, real-time CTG remote-monitoring hub.
#[derive(Debug, Parser)]
#[command(name = "mimamori", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show what a recording holds: channels, duration, signal loss per channel, metadata.
    ///
    /// Reads FHRMA .fhr/.fhrm, WFDB records (.hea, as in CTU-UHB) and Mimamori .mmr files.
    Info {
        /// The recording file.
        file: PathBuf,
        /// Print one JSON object instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Analyse a recording: baseline, variability, accelerations, decelerations,
    /// contractions, false signal, and JSOG / NICHD / FIGO classification per 10 minutes.
    Analyze {
        /// The recording file (.fhr, .fhrm, WFDB .hea or .mmr).
        file: PathBuf,
        /// Print one `mimamori.analysis.v1` JSON object.
        #[arg(long)]
        json: bool,
        /// Whose definitions: jsog, figo or nichd.
        #[arg(long, default_value = "jsog")]
        profile: String,
        /// Also print the baseline at every sample (`baseline_curve`).
        #[arg(long)]
        curve: bool,
        /// A JSOG level table to use instead of the shipped draft.
        #[arg(long, value_name = "FILE")]
        jsog_table: Option<PathBuf>,
        /// Analyse this channel as the fetal one (fhr1, fhr2 or fhr3) instead of the one the
        /// file's signal points to, alone (no other channel fills its gaps: with twins it
        /// would be the other fetus).
        #[arg(long, value_name = "CHANNEL")]
        fetal_channel: Option<String>,
        /// The fetal channel is a scalp electrode's direct fetal ECG, whatever the file's flags
        /// say (some files do not say; FHRMA's scalp-ECG files among them): the
        /// maternal-coincidence and island rules, which only Doppler needs, are off.
        #[arg(long)]
        direct_ecg: bool,
        /// Also draw the recording with what was found in it, as an SVG chart, into this file.
        #[arg(long, value_name = "FILE")]
        svg: Option<PathBuf>,
    },
    /// Measure the analysis against the expert annotations in the shared data (all cores),
    /// print the figures beside the bars, and write them as JSON.
    Eval {
        /// The shared data folder (default: ../shared/data or MIMAMORI_SHARED_DATA).
        #[arg(long)]
        data: Option<PathBuf>,
        /// Where to write the JSON.
        #[arg(long, default_value = "target/eval/eval.json")]
        out: PathBuf,
        /// Worker threads (default: all cores).
        #[arg(long)]
        threads: Option<usize>,
        /// Override an analysis parameter for this run (`section.field=value`, repeatable),
        /// for parameter studies on the development records.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// Instead of the whole evaluation, chart one recording as the eval scores it, into
        /// `chart-NAME.svg` beside the JSON: a CTU-UHB record (e.g. 1001) with the expert's
        /// event marks beside our findings, matched or not, or an FHRMA-FS file (e.g.
        /// DopMHRTrain0093) with the experts' false-signal labels beside ours.
        #[arg(long, value_name = "NAME")]
        chart: Option<String>,
        /// With `--set`: also evaluate the defaults, and print each bar's figure under both with
        /// their difference and its 95 % interval over the same recordings (a paired
        /// bootstrap), to tell a parameter's effect from chance; the JSON gets it as `paired`.
        #[arg(long, requires = "set")]
        paired: bool,
    },
    /// Alarm fatigue: replay every CTU-UHB record through the analysis and the default alert
    /// rules; alerts per patient-hour by kind, and the share of the experts' late and prolonged
    /// decelerations that were alerted.
    Alarms {
        /// The shared data folder (default: ../shared/data or MIMAMORI_SHARED_DATA).
        #[arg(long)]
        data: Option<PathBuf>,
        /// Where to write the JSON.
        #[arg(long, default_value = "target/eval/alarms.json")]
        out: PathBuf,
        /// Worker threads (default: all cores).
        #[arg(long)]
        threads: Option<usize>,
    },
    /// Decode a raw capture of a monitor's port (from `bridge --capture`, or any serial dump)
    /// into JSON lines: one per normalised block, event or problem, then a summary with the
    /// frame, CRC-error and resync counts.
    Decode {
        /// The monitor's protocol.
        #[arg(long, value_enum)]
        protocol: decode::Protocol,
        /// The capture file.
        file: PathBuf,
    },
    /// The whole system on this machine: a throwaway CA, the hub, two facilities' bridges and
    /// six simulated monitors (Series 50, Avalon, HL7) replaying recordings the repository
    /// carries; prints the URL and a demo login. Ctrl-C stops everything.
    Demo {
        /// Stop after this many seconds (default: run until Ctrl-C).
        #[arg(long)]
        seconds: Option<u64>,
        /// Playback speed of the simulated monitors (1 = real time).
        #[arg(long, default_value_t = 1.0)]
        speed: f64,
        /// Address of the hub's web page and API (loopback).
        #[arg(long, default_value = "127.0.0.1:8080")]
        http: std::net::SocketAddr,
        /// Beds in all (at least the six above; more are synthetic HL7 beds at a third
        /// facility, `clinic-c`), for a full wall.
        #[arg(long, default_value_t = 6)]
        beds: usize,
    },
    /// List this machine's serial ports, with their stable names (for `bridge.toml`); with
    /// `--probe`, find which protocol the monitor on a port speaks.
    Ports {
        /// Try each serial protocol the bridge reads, at its monitors' speeds, on this port
        /// (repeatable), and print the `[[device]]` lines for `bridge.toml`. Sends what the
        /// bridge would send; stop the bridge on that port first.
        #[arg(long, value_name = "PORT")]
        probe: Vec<PathBuf>,
    },
    /// Run the edge bridge: read the monitors in the config, spool, send to the hub.
    Bridge {
        /// The bridge config (TOML).
        #[arg(long)]
        config: PathBuf,
        /// Open each device for 5 s, report what it says, and exit.
        #[arg(long)]
        check: bool,
        /// Record the raw bytes of every device port into this folder (for `decode`).
        #[arg(long, value_name = "DIR")]
        capture: Option<PathBuf>,
    },
    /// Simulate a fetal monitor: Series 50 or Avalon on a pseudo-terminal, or an HL7 sender,
    /// playing a recording or the synthetic programme with planted events.
    Sim {
        /// The protocol (series50).
        #[arg(long, value_enum, default_value = "series50")]
        protocol: decode::Protocol,
        /// The recording to play (.fhr, .fhrm, WFDB .hea, .mmr); without it, the synthetic
        /// programme with planted events.
        #[arg(long)]
        recording: Option<PathBuf>,
        /// HL7: the bridge's MLLP listener to send to.
        #[arg(long, value_name = "HOST:PORT")]
        to: Option<std::net::SocketAddr>,
        /// Playback speed (1 = real time).
        #[arg(long, default_value_t = 1.0)]
        speed: f64,
        /// Create a symlink here to the pseudo-terminal (a stable path for a bridge config).
        #[arg(long)]
        link: Option<PathBuf>,
        /// Start again at the end.
        #[arg(long = "loop")]
        looping: bool,
        /// Press the event marker every this many seconds (0: never).
        #[arg(long, default_value_t = 0)]
        markers: u64,
        /// Put line noise (garbage, broken-off and bad-CRC frames) on the line every this many
        /// seconds (0: never).
        #[arg(long, default_value_t = 0)]
        noise: u64,
    },
    /// Run the hub: QUIC ingest from bridges (mutual TLS), the store, live analysis, the API.
    Hub {
        /// The PKI folder (`pki init`), holding ca.pem and the hub's certificate.
        #[arg(long)]
        pki: PathBuf,
        /// The hub's certificate name in the PKI folder.
        #[arg(long, default_value = "hub")]
        name: String,
        /// The database file.
        #[arg(long, default_value = "mimamori-hub.db")]
        db: PathBuf,
        /// Address for bridges (UDP, QUIC).
        #[arg(long, default_value = "127.0.0.1:4433")]
        listen: std::net::SocketAddr,
        /// Address for the API and viewers over plain HTTP (loopback only).
        #[arg(long, default_value = "127.0.0.1:8080")]
        http: std::net::SocketAddr,
        /// Serve the API and viewers over HTTPS here instead (TLS 1.3 with the hub's
        /// certificate; any address).
        #[arg(long)]
        https: Option<std::net::SocketAddr>,
        /// The centre's facility name (its staff see every partner facility).
        #[arg(long, default_value = "centre")]
        centre: String,
        /// The alerts configuration (TOML: `[rules]` thresholds, `[policy]` routing, escalation,
        /// repeats, snooze, retries); without it, the documented defaults.
        #[arg(long, value_name = "FILE")]
        alerts: Option<PathBuf>,
        /// Alert: a stream sending nothing for this many seconds has stalled (overrides the file).
        #[arg(long)]
        stalled_after: Option<u64>,
        /// Alert: no fetal heart rate for this many seconds is signal loss (overrides the file).
        #[arg(long)]
        signal_loss_after: Option<u64>,
        /// Alert: a bridge without a connection for this many seconds is offline (overrides the
        /// file).
        #[arg(long)]
        bridge_offline_after: Option<u64>,
        /// Send e-mail alerts through this SMTP server (HOST:PORT; STARTTLS when offered).
        #[arg(long, value_name = "HOST:PORT")]
        smtp: Option<String>,
        /// The sender address of e-mail alerts.
        #[arg(long, default_value = "mimamori@localhost")]
        mail_from: String,
        /// Refuse users without a second factor (enrol them with `mimamori user totp`).
        #[arg(long)]
        require_second_factor: bool,
        /// How long a sign-in lasts, hours (1-24; a shift's length, say). The viewer offers
        /// to sign in again in a session's last 30 minutes.
        #[arg(long, default_value_t = ctg_hub::accounts::SESSION_HOURS,
              value_parser = clap::value_parser!(i64).range(ctg_hub::accounts::SESSION_HOURS_RANGE))]
        session_hours: i64,
    },
    /// Hub accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// The hub's audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// A minimal hub-side receiver: stores what bridges send and acknowledges it.
    Receive {
        /// Address to listen on (UDP).
        #[arg(long, default_value = "127.0.0.1:4433")]
        listen: std::net::SocketAddr,
        /// The PKI folder (`pki init`).
        #[arg(long)]
        pki: PathBuf,
        /// The receiver's certificate name in the PKI folder.
        #[arg(long, default_value = "hub")]
        name: String,
        /// Where to store what arrives.
        #[arg(long)]
        store: PathBuf,
    },
    /// The deployment's certificate authority.
    Pki {
        #[command(subcommand)]
        command: PkiCommand,
    },
    /// The load harness: simulated bridges and viewers against a real hub process.
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
    /// Convert a recording into another format, chosen by the output's extension
    /// (.mmr, .fhrm or .fhr).
    Convert {
        /// The recording to read.
        input: PathBuf,
        /// The file to write.
        output: PathBuf,
    },
}

/// What one load run does (shared by `bench load` and `bench sweep`).
#[derive(Debug, clap::Args)]
struct LoadArgs {
    /// WebSocket viewers.
    #[arg(long, default_value_t = 100)]
    viewers: usize,
    /// Streams on each viewer's wall.
    #[arg(long, default_value_t = 16)]
    wall: usize,
    /// Seconds measured (after every stream is connected).
    #[arg(long, default_value_t = 30)]
    seconds: u64,
    /// Kill -9 the hub this many seconds into the measurement and restart it (recovery).
    #[arg(long, value_name = "S")]
    restart_at: Option<u64>,
    /// Seconds of blocks every bridge holds before it connects (backfill after an outage).
    #[arg(long, default_value_t = 0, value_name = "S")]
    backlog: u64,
    /// Where the JSON (and the sweep's plots) go.
    #[arg(long, default_value = "target/bench")]
    out: PathBuf,
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// One run: N bridges (one QUIC connection each), M viewers, a real hub process; reports
    /// latency (p50/p99/max), loss, the hub's CPU and memory, disk, ingest rate.
    Load {
        /// Simulated bridges, one stream each.
        #[arg(long, default_value_t = 2000)]
        streams: usize,
        /// Seconds over which connections are opened (default 2 ms per stream, at least 2 s).
        #[arg(long)]
        ramp: Option<f64>,
        #[command(flatten)]
        run: LoadArgs,
    },
    /// Draws the plots of a sweep again from its JSON (no new runs).
    Plot {
        /// The sweep's JSON (`sweep.json`).
        file: PathBuf,
        /// Where the SVG files go.
        #[arg(long, default_value = "target/bench")]
        out: PathBuf,
    },
    /// Runs over increasing stream counts until one fails the bar (p99 ≤ 50 ms, nothing lost);
    /// writes sweep.json and SVG plots.
    Sweep {
        /// Stream counts, comma-separated.
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "500,1000,2000,4000,6000,8000,10000"
        )]
        streams: Vec<usize>,
        #[command(flatten)]
        run: LoadArgs,
    },
}

impl LoadArgs {
    fn config(&self, streams: usize, ramp: Option<f64>) -> ctg_bench::load::LoadConfig {
        ctg_bench::load::LoadConfig {
            streams,
            viewers: self.viewers,
            wall: self.wall,
            seconds: self.seconds,
            ramp_s: ramp.unwrap_or_else(|| ctg_bench::sweep::default_ramp_s(streams)),
            restart_at_s: self.restart_at,
            backlog_s: self.backlog,
        }
    }
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Add a user; the password is read from standard input.
    Add {
        /// The hub's database.
        #[arg(long, default_value = "mimamori-hub.db")]
        db: PathBuf,
        /// Login name.
        username: String,
        /// admin, obstetrician, midwife or facility_staff.
        #[arg(long)]
        role: String,
        /// The facility the user belongs to.
        #[arg(long)]
        facility: String,
        /// The centre's facility name.
        #[arg(long, default_value = "centre")]
        centre: String,
    },
    /// List every account: role, facility, enabled, disabled or locked, second factor, last
    /// sign-in.
    List {
        /// The hub's database.
        #[arg(long, default_value = "mimamori-hub.db")]
        db: PathBuf,
    },
    /// Disable an account (someone who has left): sign-in is refused and its sessions end (an
    /// open viewer closes within 30 s). The last enabled administrator cannot be disabled.
    Disable {
        /// The hub's database.
        #[arg(long, default_value = "mimamori-hub.db")]
        db: PathBuf,
        /// Login name.
        username: String,
    },
    /// Lift a sign-in lock (five wrong passwords lock an account for 15 minutes; the lock
    /// outlives a restart of the hub).
    Unlock {
        /// The hub's database.
        #[arg(long, default_value = "mimamori-hub.db")]
        db: PathBuf,
        /// Login name.
        username: String,
    },
    /// Enable a disabled account again.
    Enable {
        /// The hub's database.
        #[arg(long, default_value = "mimamori-hub.db")]
        db: PathBuf,
        /// Login name.
        username: String,
    },
    /// Set a new password for a user who forgot theirs (read from standard input); the
    /// account's sessions end.
    Password {
        /// The hub's database.
        #[arg(long, default_value = "mimamori-hub.db")]
        db: PathBuf,
        /// Login name.
        username: String,
    },
    /// Enrol a user in the second factor (a time-based code from an authenticator app, asked
    /// at every sign-in besides the password); prints the secret and its otpauth:// URI.
    Totp {
        /// The hub's database.
        #[arg(long, default_value = "mimamori-hub.db")]
        db: PathBuf,
        /// Login name.
        username: String,
        /// Remove the user's second factor instead.
        #[arg(long)]
        remove: bool,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Walk the hash chain of the audit log: every entry must link to the one before.
    Verify {
        /// The hub's database.
        #[arg(long, default_value = "mimamori-hub.db")]
        db: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum PkiCommand {
    /// Revoke a bridge's certificate (the hub refuses it within seconds, without a restart).
    Revoke {
        /// The PKI folder the hub reads.
        dir: PathBuf,
        /// The bridge's certificate name.
        name: String,
        /// The facility it belongs to.
        #[arg(long)]
        facility: String,
    },
    /// Create the CA (`ca.pem`, `ca.key`) in a folder.
    Init {
        /// The PKI folder.
        dir: PathBuf,
    },
    /// Issue a certificate: a bridge's (with --facility) or the hub's (with --host).
    Issue {
        /// The PKI folder.
        dir: PathBuf,
        /// The certificate's name (bridge name, or `hub`).
        name: String,
        /// The facility a bridge belongs to.
        #[arg(long, conflicts_with = "host")]
        facility: Option<String>,
        /// A DNS name or IP address the hub is reached at (repeatable).
        #[arg(long)]
        host: Vec<String>,
    },
}

/// Writes a command's output to stdout. A reader that stops early (`mimamori analyze … | head`)
/// closes the pipe; that ends the output quietly instead of panicking as `print!` would.
pub(crate) fn write_stdout(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

/// Runs one command.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Info { file, json } => info::run(&file, json),
        Command::Alarms { data, out, threads } => eval::alarms(data, &out, threads),
        Command::Bench {
            command: BenchCommand::Load { streams, ramp, run },
        } => bench::load(run.config(streams, ramp), &run.out),
        Command::Bench {
            command: BenchCommand::Sweep { streams, run },
        } => bench::sweep(&streams, run.config(0, None), &run.out),
        Command::Bench {
            command: BenchCommand::Plot { file, out },
        } => bench::plot(&file, &out),
        Command::Convert { input, output } => convert::run(&input, &output),
        Command::Decode { protocol, file } => decode::run(protocol, &file),
        Command::Demo {
            seconds,
            speed,
            http,
            beds,
        } => {
            #[cfg(unix)]
            return demo::run(seconds, speed, http, beds);
            #[cfg(not(unix))]
            {
                let _ = (seconds, speed, http, beds);
                anyhow::bail!(
                    "the demo runs its simulated monitors on pseudo-terminals: run it on Linux or macOS"
                )
            }
        }
        Command::Ports { probe } if !probe.is_empty() => field::probe(&probe),
        Command::Ports { .. } => {
            print!(
                "{}",
                ctg_bridge::ports::describe(&ctg_bridge::ports::serial_ports(
                    std::path::Path::new(ctg_bridge::ports::BY_ID_DIR)
                ))
            );
            Ok(())
        }
        Command::Bridge {
            config,
            check,
            capture,
        } => field::bridge(&config, check, capture),
        Command::Sim {
            protocol,
            recording,
            to,
            speed,
            link,
            looping,
            markers,
            noise,
        } => field::sim(
            protocol,
            recording.as_deref(),
            to,
            speed,
            &field::SimLine {
                link,
                looping,
                markers,
                noise,
            },
        ),
        Command::Hub {
            pki,
            name,
            db,
            listen,
            http,
            https,
            centre,
            alerts,
            stalled_after,
            signal_loss_after,
            bridge_offline_after,
            smtp,
            mail_from,
            require_second_factor,
            session_hours,
        } => hub::run(
            &pki,
            &name,
            &db,
            listen,
            hub::Web {
                http,
                https,
                smtp,
                mail_from,
                require_second_factor,
                session_hours,
            },
            &centre,
            hub::alerts_config(
                alerts.as_deref(),
                stalled_after,
                signal_loss_after,
                bridge_offline_after,
            )?,
        ),
        Command::User {
            command:
                UserCommand::Add {
                    db,
                    username,
                    role,
                    facility,
                    centre,
                },
        } => hub::user_add(&db, &username, &role, &facility, &centre),
        Command::User {
            command: UserCommand::List { db },
        } => hub::user_list(&db),
        Command::User {
            command: UserCommand::Disable { db, username },
        } => hub::user_disable(&db, &username, true),
        Command::User {
            command: UserCommand::Enable { db, username },
        } => hub::user_disable(&db, &username, false),
        Command::User {
            command: UserCommand::Unlock { db, username },
        } => hub::user_unlock(&db, &username),
        Command::User {
            command: UserCommand::Password { db, username },
        } => hub::user_password(&db, &username),
        Command::User {
            command:
                UserCommand::Totp {
                    db,
                    username,
                    remove,
                },
        } => hub::user_totp(&db, &username, remove),
        Command::Audit {
            command: AuditCommand::Verify { db },
        } => hub::audit_verify(&db),
        Command::Receive {
            listen,
            pki,
            name,
            store,
        } => field::receive(listen, &pki, &name, &store),
        Command::Pki { command } => match command {
            PkiCommand::Init { dir } => field::pki_init(&dir),
            PkiCommand::Revoke {
                dir,
                name,
                facility,
            } => {
                let path = ctg_tls::pki::revoke(&dir, &facility, &name)?;
                println!("{facility}/{name} revoked in {}", path.display());
                Ok(())
            }
            PkiCommand::Issue {
                dir,
                name,
                facility,
                host,
            } => field::pki_issue(&dir, &name, facility, host),
        },
        Command::Eval {
            data,
            out,
            set,
            chart: Some(record),
            ..
        } => eval::chart(data, &out, &record, &set),
        Command::Eval {
            data,
            out,
            threads,
            set,
            chart: None,
            paired,
        } => eval::run(data, &out, threads, &set, paired),
        Command::Analyze {
            file,
            json,
            profile,
            curve,
            jsog_table,
            fetal_channel,
            direct_ecg,
            svg,
        } => analyze::run(
            &file,
            &analyze::Options {
                json,
                profile: &profile,
                curve,
                jsog_table: jsog_table.as_deref(),
                fetal_channel: fetal_channel.as_deref(),
                direct_ecg,
                svg: svg.as_deref(),
            },
        ),
    }
}

/// Ctrl-C, or SIGTERM (`kill`, a service manager's stop): what the long-running commands (hub,
/// bridge, demo) stop on, to end cleanly.
#[cfg(unix)]
pub(crate) async fn stop_requested() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut terminate) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
        }
        Err(error) => {
            tracing::warn!(%error, "cannot listen for SIGTERM: only Ctrl-C stops cleanly");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Ctrl-C, a console closing, or a service stop (Windows: the console control events tokio
/// reports as Ctrl-C and Ctrl-Close).
#[cfg(windows)]
pub(crate) async fn stop_requested() {
    match tokio::signal::windows::ctrl_close() {
        Ok(mut close) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = close.recv() => {}
            }
        }
        Err(error) => {
            tracing::warn!(%error, "cannot listen for the console closing: only Ctrl-C stops cleanly");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
