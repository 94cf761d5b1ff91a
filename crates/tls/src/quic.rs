//! QUIC endpoints with mutual TLS 1.3 (quinn + rustls, ring provider), from PEM files.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow};
use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The ALPN protocol name of the bridge⇄hub protocol.
pub const ALPN: &[u8] = b"mimamori/1";

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn certs(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .with_context(|| format!("reading certificates from {}", path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("parsing certificates in {}", path.display()))?;
    if certs.is_empty() {
        return Err(anyhow!("no certificate in {}", path.display()));
    }
    Ok(certs)
}

fn key(path: &Path) -> Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_file(path)
        .with_context(|| format!("reading the private key in {}", path.display()))
}

fn roots(ca: &Path) -> Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    for cert in certs(ca)? {
        roots.add(cert).context("adding the CA certificate")?;
    }
    Ok(roots)
}

/// A client configuration presenting `cert`/`key` and trusting only `ca`.
pub fn client_config(ca: &Path, cert: &Path, key_path: &Path) -> Result<quinn::ClientConfig> {
    let mut tls = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(roots(ca)?)
        .with_client_auth_cert(certs(cert)?, key(key_path)?)
        .context("client certificate and key do not match")?;
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let quic = quinn::crypto::rustls::QuicClientConfig::try_from(tls)?;
    let mut config = quinn::ClientConfig::new(Arc::new(quic));
    let mut transport = quinn::TransportConfig::default();
    transport.keep_alive_interval(Some(std::time::Duration::from_secs(2)));
    transport.max_idle_timeout(Some(std::time::Duration::from_secs(10).try_into()?));
    config.transport_config(Arc::new(transport));
    Ok(config)
}

/// A server configuration presenting `cert`/`key` and requiring a client certificate from `ca`.
pub fn server_config(ca: &Path, cert: &Path, key_path: &Path) -> Result<quinn::ServerConfig> {
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots(ca)?),
        provider(),
    )
    .build()
    .context("building the client-certificate verifier")?;
    let mut tls = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs(cert)?, key(key_path)?)
        .context("server certificate and key do not match")?;
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let quic = quinn::crypto::rustls::QuicServerConfig::try_from(tls)?;
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(quic));
    let mut transport = quinn::TransportConfig::default();
    transport.max_idle_timeout(Some(std::time::Duration::from_secs(10).try_into()?));
    config.transport_config(Arc::new(transport));
    Ok(config)
}

/// A TLS 1.3 server configuration for people's browsers (no client certificate), presenting
/// `cert`/`key` and offering HTTP/1.1.
pub fn https_server_config(cert: &Path, key_path: &Path) -> Result<rustls::ServerConfig> {
    let mut tls = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_no_client_auth()
        .with_single_cert(certs(cert)?, key(key_path)?)
        .context("server certificate and key do not match")?;
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tls)
}

/// Who a peer's certificate says it is: the subject's organisation (the facility) and common
/// name (the bridge), as `pki::issue` writes them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerNames {
    /// Subject O: the facility.
    pub organisation: Option<String>,
    /// Subject CN: the bridge (or the hub).
    pub common_name: Option<String>,
}

/// The names in a DER certificate.
pub fn certificate_names(der: &[u8]) -> Result<PeerNames> {
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| anyhow!("unreadable peer certificate: {e}"))?;
    let subject = cert.subject();
    Ok(PeerNames {
        organisation: subject
            .iter_organization()
            .next()
            .and_then(|a| a.as_str().ok())
            .map(str::to_owned),
        common_name: subject
            .iter_common_name()
            .next()
            .and_then(|a| a.as_str().ok())
            .map(str::to_owned),
    })
}

/// The names in the certificate a connected peer presented.
pub fn peer_names(connection: &quinn::Connection) -> Result<PeerNames> {
    let identity = connection
        .peer_identity()
        .ok_or_else(|| anyhow!("the peer presented no certificate"))?;
    let certs = identity
        .downcast::<Vec<CertificateDer<'static>>>()
        .map_err(|_| anyhow!("unexpected peer identity type"))?;
    let leaf = certs
        .first()
        .ok_or_else(|| anyhow!("empty certificate chain"))?;
    certificate_names(leaf.as_ref())
}

/// Closes every connection of `endpoint` with an application `code` and `reason` the peers
/// see, and waits (at most 2 s: a peer that does not answer is not waited for) until the close
/// has gone out. For a hub or bridge that is being stopped, so the other side knows at once
/// instead of waiting for its idle timeout.
pub async fn close_with_reason(endpoint: &quinn::Endpoint, code: u32, reason: &str) {
    endpoint.close(quinn::VarInt::from_u32(code), reason.as_bytes());
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), endpoint.wait_idle()).await;
}

/// The hub's QUIC endpoint configuration: its stateless-reset key is derived from the hub's
/// private key, so a restarted hub (after a crash, kill -9 or an upgrade) can reset the
/// connections of its previous instance at once (RFC 9000 §10.3) and bridges reconnect within
/// a second, instead of waiting for their idle timeout. The connection-ID generator's key is
/// derived the same way.
pub fn server_endpoint_config(key_path: &Path) -> Result<quinn::EndpointConfig> {
    let key = std::fs::read(key_path)
        .with_context(|| format!("reading the hub's key {}", key_path.display()))?;
    let mut material = b"mimamori quic stateless reset v1\n".to_vec();
    material.extend_from_slice(&key);
    let derived = ring::digest::digest(&ring::digest::SHA256, &material);
    let reset_key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, derived.as_ref());
    let mut config = quinn::EndpointConfig::new(Arc::new(reset_key));
    // Connection IDs must validate across restarts too, or the new instance drops the old
    // connections' packets as invalid instead of resetting them.
    let mut cid_key = [0u8; 8];
    cid_key.copy_from_slice(&derived.as_ref()[24..32]);
    let cid_key = u64::from_le_bytes(cid_key);
    config.cid_generator(move || {
        Box::new(quinn_proto::HashedConnectionIdGenerator::from_key(cid_key))
    });
    // quinn sends at most one reset per 20 ms by default: 2,000 bridges would need 40 s. A
    // reset is always smaller than the packet that caused it, so a faster rate amplifies nothing.
    config.min_reset_interval(std::time::Duration::from_micros(200));
    Ok(config)
}

/// A TLS client configuration for the hub's outgoing HTTPS (webhooks, push services, SMTP):
/// the ring provider and the Mozilla root certificates (`webpki-roots`), TLS 1.2 and 1.3.
pub fn web_client_config() -> rustls::ClientConfig {
    let roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bridge_certificate_names_its_facility_and_bridge() {
        let dir = std::env::temp_dir().join(format!("ctg-tls-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        crate::pki::create_ca(&dir).unwrap();
        let path = crate::pki::issue(
            &dir,
            "ldr-pc-1",
            &crate::pki::Role::Bridge {
                facility: "clinic-a".into(),
            },
        )
        .unwrap();
        let cert = certs(&path).unwrap();
        let names = certificate_names(cert[0].as_ref()).unwrap();
        assert_eq!(names.organisation.as_deref(), Some("clinic-a"));
        assert_eq!(names.common_name.as_deref(), Some("ldr-pc-1"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
