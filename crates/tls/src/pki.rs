//! The deployment's own certificate authority, and certificates issued by it (rcgen).
//!
//! Every bridge presents a client certificate issued by the deployment's CA; its subject names
//! the facility (O) and the bridge (CN), so the hub learns which facility a connection belongs to
//! from the certificate alone. The hub presents a server certificate from the same CA. Keys are
//! ECDSA P-256. Files are PEM: `ca.pem`/`ca.key`, `<name>.pem`/`<name>.key`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};

/// The CA's distinguished name (fixed, so the issuer can be rebuilt from its key alone).
const CA_COMMON_NAME: &str = "Mimamori deployment CA";

fn ca_params() -> Result<CertificateParams> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, CA_COMMON_NAME);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = rcgen::date_time_ymd(2025, 1, 1);
    params.not_after = rcgen::date_time_ymd(2045, 1, 1);
    Ok(params)
}

fn write_private(path: &Path, contents: &str) -> Result<()> {
    std::fs::write(path, contents).with_context(|| format!("writing {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

/// Creates `ca.pem` and `ca.key` in `dir` (refuses to overwrite an existing CA).
pub fn create_ca(dir: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let cert_path = dir.join("ca.pem");
    if cert_path.exists() {
        bail!("{} exists; refusing to replace the CA", cert_path.display());
    }
    let key = KeyPair::generate()?;
    let cert = ca_params()?.self_signed(&key)?;
    std::fs::write(&cert_path, cert.pem())?;
    write_private(&dir.join("ca.key"), &key.serialize_pem())?;
    Ok(cert_path)
}

/// What a certificate is for.
#[derive(Clone, Debug)]
pub enum Role {
    /// The hub's server certificate, valid for these DNS names or IP addresses.
    Hub {
        /// Names the bridges dial.
        names: Vec<String>,
    },
    /// A bridge's client certificate.
    Bridge {
        /// The facility the bridge belongs to.
        facility: String,
    },
}

/// Issues `<name>.pem` and `<name>.key` in `dir`, signed by the CA there.
pub fn issue(dir: &Path, name: &str, role: &Role) -> Result<PathBuf> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        bail!("certificate name {name:?}: use letters, digits, '-', '_' and '.'");
    }
    let ca_key_path = dir.join("ca.key");
    let ca_key_pem = std::fs::read_to_string(&ca_key_path).with_context(|| {
        format!(
            "reading {} (run `mimamori pki init` first)",
            ca_key_path.display()
        )
    })?;
    let issuer = Issuer::new(ca_params()?, KeyPair::from_pem(&ca_key_pem)?);
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, name);
    params.not_before = rcgen::date_time_ymd(2025, 1, 1);
    params.not_after = rcgen::date_time_ymd(2040, 1, 1);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    match role {
        Role::Hub { names } => {
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
            for host in names {
                params.subject_alt_names.push(match host.parse() {
                    Ok(ip) => SanType::IpAddress(ip),
                    Err(_) => SanType::DnsName(host.clone().try_into()?),
                });
            }
        }
        Role::Bridge { facility } => {
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
            params
                .distinguished_name
                .push(DnType::OrganizationName, facility.as_str());
        }
    }
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &issuer)?;
    let cert_path = dir.join(format!("{name}.pem"));
    std::fs::write(&cert_path, cert.pem())?;
    write_private(&dir.join(format!("{name}.key")), &key.serialize_pem())?;
    Ok(cert_path)
}

/// The revocation list in a PKI folder: one `facility/bridge` per line.
pub const REVOKED_FILE: &str = "revoked.txt";

/// Revokes a bridge's certificate: the hub refuses it from its next check (within seconds,
/// without a restart), and closes its open connections.
pub fn revoke(dir: &Path, facility: &str, bridge: &str) -> Result<PathBuf> {
    use std::io::Write;
    if facility.contains(['/', '\n']) || bridge.contains(['/', '\n']) {
        bail!("facility and bridge names may not contain '/' or line breaks");
    }
    let path = dir.join(REVOKED_FILE);
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    writeln!(file, "{facility}/{bridge}")?;
    file.sync_all()?;
    Ok(path)
}

/// The revocation list, re-read whenever the file changes.
#[derive(Debug)]
pub struct Revocations {
    path: PathBuf,
    cache: std::sync::Mutex<(
        Option<std::time::SystemTime>,
        std::collections::HashSet<String>,
    )>,
}

impl Revocations {
    /// The list at `dir/revoked.txt` (a missing file revokes nothing).
    pub fn new(dir: &Path) -> Self {
        Self {
            path: dir.join(REVOKED_FILE),
            cache: std::sync::Mutex::new((None, Default::default())),
        }
    }

    /// Is this bridge of this facility revoked?
    pub fn is_revoked(&self, facility: &str, bridge: &str) -> bool {
        let modified = std::fs::metadata(&self.path)
            .and_then(|m| m.modified())
            .ok();
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.0 != modified {
            let text = std::fs::read_to_string(&self.path).unwrap_or_default();
            cache.1 = text
                .lines()
                .map(|l| l.trim().to_owned())
                .filter(|l| !l.is_empty())
                .collect();
            cache.0 = modified;
        }
        cache.1.contains(&format!("{facility}/{bridge}"))
    }
}
