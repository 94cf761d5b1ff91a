//! `bridge.toml`: what the bridge is, which monitors it reads, and where the hub is.
//!
//! ```toml
//! facility = "clinic-a"          # the facility the bridge belongs to
//! bridge = "ldr-pc-1"            # this bridge's name within it
//! spool_dir = "/var/lib/mimamori/spool"
//! spool_max_mb = 256             # cap on unacknowledged data (disk and memory)
//!
//! [hub]
//! address = "hub.example.org:4433"
//! server_name = "hub.example.org" # the name in the hub's certificate
//! ca = "pki/ca.pem"
//! cert = "pki/ldr-pc-1.pem"
//! key = "pki/ldr-pc-1.key"
//!
//! [[device]]
//! name = "bed-1"                 # the port's name in the stream identity
//! serial = "/dev/ttyUSB0"
//! protocol = "series50"         # or "avalon"; "corometrics115" (GE 120/170 series, Model 115 mode)
//! silence_s = 5                  # no valid frame this long: "monitor silent"
//! # baud = 4800                  # only where the monitor is set to another speed than its
//! #                              # protocol's usual (1200, 115200, 9600 for corometrics115)
//!
//! [[device]]
//! name = "bed-2"
//! protocol = "hl7"               # ORU^R01 over MLLP; the monitor's gateway connects here
//! listen = "0.0.0.0:2575"
//! ```
//! Relative paths are relative to the config file.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Deserialize;

/// The whole configuration.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BridgeConfig {
    /// The facility the bridge belongs to.
    pub facility: String,
    /// This bridge's name.
    pub bridge: String,
    /// Where the spool lives.
    pub spool_dir: PathBuf,
    /// Cap on unacknowledged data, MiB.
    #[serde(default = "default_spool_max_mb")]
    pub spool_max_mb: u64,
    /// Write raw captures of every device port here (for support).
    #[serde(default)]
    pub capture_dir: Option<PathBuf>,
    /// The hub.
    pub hub: HubConfig,
    /// The monitors.
    #[serde(rename = "device", default)]
    pub devices: Vec<DeviceConfig>,
}

fn default_spool_max_mb() -> u64 {
    256
}

/// Where and how to reach the hub.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HubConfig {
    /// `host:port`.
    pub address: String,
    /// The name in the hub's certificate.
    pub server_name: String,
    /// The deployment CA.
    pub ca: PathBuf,
    /// This bridge's certificate.
    pub cert: PathBuf,
    /// Its key.
    pub key: PathBuf,
}

/// Protocols a device can speak.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceProtocol {
    /// Philips Series 50 / GE Corometrics 250cx, on a serial port (1200 baud).
    Series50,
    /// Philips Avalon FM20–FM50, IntelliVue data export on a serial port (115200 baud).
    Avalon,
    /// GE Corometrics 120 / 170 series in "Model 115-compatible" mode, on a serial port (9600
    /// baud, the manuals' recommendation).
    Corometrics115,
    /// HL7 v2 ORU^R01 over MLLP: the bridge listens, the monitor or gateway connects.
    Hl7,
}

/// One monitor.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceConfig {
    /// The port's name in the stream identity (bed, room).
    pub name: String,
    /// The serial device path (serial protocols).
    #[serde(default)]
    pub serial: Option<PathBuf>,
    /// Address to listen on for MLLP (`hl7`), e.g. `0.0.0.0:2575`.
    #[serde(default)]
    pub listen: Option<std::net::SocketAddr>,
    /// Its protocol.
    pub protocol: DeviceProtocol,
    /// Seconds without a valid frame before the monitor is reported silent.
    #[serde(default = "default_silence_s")]
    pub silence_s: u64,
    /// The serial speed, where the monitor is set to another than its protocol's usual one
    /// ([`DeviceProtocol::baud`]); a Corometrics in Model 115 mode can be set from 1200 to
    /// 19200 baud on the monitor itself.
    #[serde(default)]
    pub baud: Option<u32>,
}

/// The serial speeds a monitor's port can be set to.
pub const SERIAL_SPEEDS: [u32; 8] = [1_200, 2_400, 4_800, 9_600, 19_200, 38_400, 57_600, 115_200];

impl DeviceConfig {
    /// The serial speed to open the port at: the configured one, else the protocol's usual.
    pub fn baud(&self) -> u32 {
        self.baud.unwrap_or(self.protocol.baud())
    }
}

fn default_silence_s() -> u64 {
    5
}

impl DeviceProtocol {
    /// The serial speed, for serial protocols.
    pub fn baud(self) -> u32 {
        match self {
            DeviceProtocol::Series50 => 1200,
            DeviceProtocol::Avalon => 115_200,
            DeviceProtocol::Corometrics115 => 9_600,
            DeviceProtocol::Hl7 => 0,
        }
    }

    /// A fresh host session, for serial protocols.
    pub fn session(self) -> Option<Box<dyn ctg_devices::HostSession>> {
        match self {
            DeviceProtocol::Series50 => Some(Box::new(ctg_devices::series50::Series50Host::new())),
            DeviceProtocol::Avalon => Some(Box::new(ctg_devices::avalon::AvalonHost::new())),
            DeviceProtocol::Corometrics115 => Some(Box::new(
                ctg_devices::corometrics115::Corometrics115Host::new(),
            )),
            DeviceProtocol::Hl7 => None,
        }
    }
}

impl BridgeConfig {
    /// Reads and checks a config file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the bridge config {}", path.display()))?;
        let mut config: BridgeConfig = toml::from_str(&text)
            .with_context(|| format!("in the bridge config {}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        for p in [
            &mut config.spool_dir,
            &mut config.hub.ca,
            &mut config.hub.cert,
            &mut config.hub.key,
        ] {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
        if let Some(dir) = &mut config.capture_dir
            && dir.is_relative()
        {
            *dir = base.join(&*dir);
        }
        config
            .check()
            .with_context(|| format!("in the bridge config {}", path.display()))?;
        Ok(config)
    }

    fn check(&self) -> Result<()> {
        let id_ok = |s: &str| {
            !s.is_empty()
                && s.len() <= 64
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        };
        if !id_ok(&self.facility) {
            bail!(
                "facility {:?}: 1-64 letters, digits, '-', '_' or '.'",
                self.facility
            );
        }
        if !id_ok(&self.bridge) {
            bail!(
                "bridge {:?}: 1-64 letters, digits, '-', '_' or '.'",
                self.bridge
            );
        }
        if self.devices.is_empty() {
            bail!("no [[device]]: the bridge has nothing to read");
        }
        let mut names = BTreeSet::new();
        for device in &self.devices {
            if !id_ok(&device.name) {
                bail!(
                    "device name {:?}: 1-64 letters, digits, '-', '_' or '.'",
                    device.name
                );
            }
            if !names.insert(&device.name) {
                bail!("device name {:?} is used twice", device.name);
            }
            match (device.protocol, &device.serial, &device.listen) {
                (
                    DeviceProtocol::Series50
                    | DeviceProtocol::Avalon
                    | DeviceProtocol::Corometrics115,
                    Some(_),
                    None,
                )
                | (DeviceProtocol::Hl7, None, Some(_)) => {}
                (
                    DeviceProtocol::Series50
                    | DeviceProtocol::Avalon
                    | DeviceProtocol::Corometrics115,
                    _,
                    _,
                ) => {
                    bail!(
                        "device {:?}: a serial protocol needs `serial = \"/dev/...\"` and no `listen`",
                        device.name
                    )
                }
                (DeviceProtocol::Hl7, _, _) => {
                    bail!(
                        "device {:?}: hl7 needs `listen = \"host:port\"` and no `serial`",
                        device.name
                    )
                }
            }
            if let Some(baud) = device.baud {
                if device.protocol == DeviceProtocol::Hl7 {
                    bail!(
                        "device {:?}: hl7 is not serial; `baud` has no meaning",
                        device.name
                    );
                }
                if !SERIAL_SPEEDS.contains(&baud) {
                    bail!(
                        "device {:?}: baud {baud} is not a serial speed (one of {SERIAL_SPEEDS:?})",
                        device.name
                    );
                }
            }
            if device.silence_s == 0 {
                bail!("device {:?}: silence_s must be at least 1", device.name);
            }
        }
        if self.spool_max_mb == 0 {
            bail!("spool_max_mb must be at least 1");
        }
        if !self.hub.address.contains(':') {
            bail!(
                "hub.address {:?} needs a port (host:port)",
                self.hub.address
            );
        }
        for (what, path) in [
            ("hub.ca", &self.hub.ca),
            ("hub.cert", &self.hub.cert),
            ("hub.key", &self.hub.key),
        ] {
            if !path.is_file() {
                bail!("{what}: {} does not exist", path.display());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, devices: &str) -> PathBuf {
        for f in ["ca.pem", "b.pem", "b.key"] {
            std::fs::write(dir.join(f), "x").unwrap();
        }
        let text = format!(
            "facility = \"clinic-a\"\nbridge = \"b\"\nspool_dir = \"spool\"\n\
             [hub]\naddress = \"127.0.0.1:4433\"\nserver_name = \"localhost\"\n\
             ca = \"ca.pem\"\ncert = \"b.pem\"\nkey = \"b.key\"\n{devices}"
        );
        let path = dir.join("bridge.toml");
        std::fs::write(&path, text).unwrap();
        path
    }

    fn error(devices: &str) -> String {
        let dir = tempfile::tempdir().unwrap();
        format!(
            "{:#}",
            BridgeConfig::load(&write(dir.path(), devices)).unwrap_err()
        )
    }

    #[test]
    fn a_good_config_loads_with_paths_relative_to_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "[[device]]\nname = \"bed-1\"\nserial = \"/dev/ttyUSB0\"\nprotocol = \"series50\"\n\
             [[device]]\nname = \"bed-2\"\nprotocol = \"hl7\"\nlisten = \"0.0.0.0:2575\"\n\
             [[device]]\nname = \"bed-3\"\nserial = \"/dev/ttyS0\"\nprotocol = \"corometrics115\"\n\
             [[device]]\nname = \"bed-4\"\nserial = \"/dev/ttyS1\"\nprotocol = \"corometrics115\"\nbaud = 4800\n",
        );
        let config = BridgeConfig::load(&path).unwrap();
        assert_eq!(config.devices.len(), 4);
        assert_eq!(config.devices[3].baud(), 4_800, "set on the monitor");
        assert_eq!(config.devices[0].baud(), 1_200, "Series 50's");
        // A Corometrics 120/170 in Model 115 mode: 9600 baud, its own session.
        assert_eq!(config.devices[2].protocol, DeviceProtocol::Corometrics115);
        assert_eq!(config.devices[2].baud(), 9_600);
        assert!(config.devices[2].protocol.session().is_some());
        assert_eq!(config.spool_dir, dir.path().join("spool"));
        assert_eq!(config.devices[0].silence_s, 5);
    }

    #[test]
    fn mistakes_get_errors_that_say_what_to_fix() {
        assert!(error("").contains("no [[device]]"));
        let twice = "[[device]]\nname = \"a\"\nserial = \"/dev/x\"\nprotocol = \"series50\"\n";
        assert!(error(&format!("{twice}{twice}")).contains("\"a\" is used twice"));
        assert!(
            error("[[device]]\nname = \"a\"\nprotocol = \"series50\"\n")
                .contains("needs `serial = \"/dev/...\"`")
        );
        assert!(
            error("[[device]]\nname = \"a\"\nprotocol = \"hl7\"\nserial = \"/dev/x\"\n")
                .contains("hl7 needs `listen")
        );
        assert!(
            error("[[device]]\nname = \"a\"\nserial = \"/dev/x\"\nprotocol = \"series60\"\n")
                .contains("unknown variant `series60`")
        );
        assert!(
            error("[[device]]\nname = \"a b\"\nserial = \"/dev/x\"\nprotocol = \"series50\"\n")
                .contains("device name \"a b\"")
        );
        assert!(
            error("[[device]]\nname = \"a\"\nserial = \"/dev/x\"\nprotocol = \"series50\"\nspeed = 9600\n")
                .contains("unknown field `speed`")
        );
        assert!(
            error("[[device]]\nname = \"a\"\nserial = \"/dev/x\"\nprotocol = \"series50\"\nbaud = 9601\n")
                .contains("baud 9601 is not a serial speed")
        );
        assert!(
            error("[[device]]\nname = \"a\"\nprotocol = \"hl7\"\nlisten = \"0.0.0.0:1\"\nbaud = 9600\n")
                .contains("`baud` has no meaning")
        );
    }

    #[test]
    fn a_missing_certificate_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "[[device]]\nname = \"a\"\nserial = \"/dev/x\"\nprotocol = \"series50\"\n",
        );
        std::fs::remove_file(dir.path().join("b.key")).unwrap();
        let message = format!("{:#}", BridgeConfig::load(&path).unwrap_err());
        assert!(
            message.contains("hub.key") && message.contains("does not exist"),
            "{message}"
        );
    }
}
