//! The serial ports of this machine, for whoever writes `bridge.toml`: which ports there are,
//! what is plugged in (a USB adapter's maker, product and serial number where the system says),
//! and on Linux the stable name of each (`/dev/serial/by-id/…`), which survives a reboot or a
//! re-plug where `/dev/ttyUSB0` may become `/dev/ttyUSB1`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where Linux (udev) keeps the stable names of serial devices.
pub const BY_ID_DIR: &str = "/dev/serial/by-id";

/// One port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortLine {
    /// The name the system gives it (`/dev/ttyUSB0`, `COM3`).
    pub name: String,
    /// What it is (a USB adapter's maker, product and serial number; PCI; Bluetooth), where known.
    pub what: String,
    /// Its stable name, where there is one.
    pub stable: Option<PathBuf>,
}

/// The stable names in `dir` (symlinks to the devices), by the device each points at.
pub fn stable_names(dir: &Path) -> BTreeMap<PathBuf, PathBuf> {
    let mut names = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return names;
    };
    for entry in entries.flatten() {
        let link = entry.path();
        if let Ok(target) = std::fs::canonicalize(&link) {
            names.insert(target, link);
        }
    }
    names
}

/// The serial ports the system reports, each with its stable name from `by_id` where one
/// points at it; sorted by name.
pub fn serial_ports(by_id: &Path) -> Vec<PortLine> {
    let stable = stable_names(by_id);
    let mut lines: Vec<PortLine> = tokio_serial::available_ports()
        .unwrap_or_default()
        .into_iter()
        .map(|port| {
            let what = match &port.port_type {
                tokio_serial::SerialPortType::UsbPort(usb) => {
                    let mut parts = vec![format!("USB {:04x}:{:04x}", usb.vid, usb.pid)];
                    parts.extend(
                        [&usb.manufacturer, &usb.product, &usb.serial_number]
                            .into_iter()
                            .flatten()
                            .cloned(),
                    );
                    parts.join(" · ")
                }
                tokio_serial::SerialPortType::PciPort => "PCI".into(),
                tokio_serial::SerialPortType::BluetoothPort => "Bluetooth".into(),
                tokio_serial::SerialPortType::Unknown => String::new(),
            };
            let stable = std::fs::canonicalize(&port.port_name)
                .ok()
                .and_then(|device| stable.get(&device).cloned());
            PortLine {
                name: port.port_name,
                what,
                stable,
            }
        })
        .collect();
    // A device that only its stable name shows (the system's list left it out).
    for (device, link) in &stable {
        let name = device.display().to_string();
        if !lines.iter().any(|l| l.name == name) {
            lines.push(PortLine {
                name,
                what: String::new(),
                stable: Some(link.clone()),
            });
        }
    }
    lines.sort_by(|a, b| a.name.cmp(&b.name));
    lines
}

/// The listing `mimamori ports` prints.
pub fn describe(lines: &[PortLine]) -> String {
    if lines.is_empty() {
        return "no serial ports found: is the USB-serial adapter plugged in (and its driver \
                installed)?\n"
            .into();
    }
    let mut out = String::from("serial ports:\n");
    for line in lines {
        out.push_str(&format!("  {}", line.name));
        if !line.what.is_empty() {
            out.push_str(&format!("  ({})", line.what));
        }
        out.push('\n');
        if let Some(stable) = &line.stable {
            out.push_str(&format!("      stable name: {}\n", stable.display()));
        }
    }
    if lines.iter().any(|l| l.stable.is_some()) {
        out.push_str(
            "In bridge.toml, give a port by its stable name (serial = \"/dev/serial/by-id/…\"): \
             the /dev/ttyUSB numbers can change at a reboot or a re-plug.\n",
        );
    }
    out.push_str(
        "Which protocol a port's monitor speaks, and its [[device]] lines: \
         mimamori ports --probe PORT\n",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(unix)]
    fn stable_names_map_each_device_to_its_link_and_are_shown_with_the_port() {
        let dir = tempfile::tempdir().unwrap();
        let devices = dir.path().join("dev");
        let by_id = dir.path().join("by-id");
        std::fs::create_dir_all(&devices).unwrap();
        std::fs::create_dir_all(&by_id).unwrap();
        let device = devices.join("ttyUSB0");
        std::fs::write(&device, "").unwrap();
        let link = by_id.join("usb-FTDI_FT232R_USB_UART_A10K1234-if00-port0");
        std::os::unix::fs::symlink("../dev/ttyUSB0", &link).unwrap();
        let names = stable_names(&by_id);
        assert_eq!(
            names.get(&std::fs::canonicalize(&device).unwrap()),
            Some(&link)
        );
        // A device the system's own list leaves out is still shown by its stable name.
        let lines = serial_ports(&by_id);
        let shown = describe(&lines);
        assert!(
            shown.contains("stable name:") && shown.contains("A10K1234"),
            "{shown}"
        );
        assert!(shown.contains("In bridge.toml"), "{shown}");
        assert!(shown.contains("mimamori ports --probe PORT"), "{shown}");
        // No such folder: nothing, not an error.
        assert!(stable_names(&dir.path().join("none")).is_empty());
        assert!(describe(&[]).starts_with("no serial ports found"));
    }
}
