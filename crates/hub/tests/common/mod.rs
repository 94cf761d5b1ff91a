//! Set-up shared by the hub's integration tests.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ctg_hub::Hub;

/// A deployment PKI in `dir/pki` (a CA, the hub's certificate for `localhost`, and
/// `bridge`'s for `facility`) and the hub's QUIC ingest on a loopback port: the PKI folder and
/// the ingest's address.
pub async fn ingest_with_bridge(
    hub: &Arc<Hub>,
    dir: &Path,
    bridge: &str,
    facility: &str,
) -> (PathBuf, SocketAddr) {
    let pki = dir.join("pki");
    ctg_tls::pki::create_ca(&pki).unwrap();
    ctg_tls::pki::issue(
        &pki,
        "hub",
        &ctg_tls::pki::Role::Hub {
            names: vec!["localhost".into()],
        },
    )
    .unwrap();
    ctg_tls::pki::issue(
        &pki,
        bridge,
        &ctg_tls::pki::Role::Bridge {
            facility: facility.into(),
        },
    )
    .unwrap();
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    {
        let (hub, pki) = (hub.clone(), pki.clone());
        tokio::spawn(async move {
            ctg_hub::ingest::serve(
                hub,
                "127.0.0.1:0".parse().unwrap(),
                &pki.join("ca.pem"),
                &pki.join("hub.pem"),
                &pki.join("hub.key"),
                Some(ready_tx),
                std::future::pending(),
            )
            .await
        });
    }
    let address = ready_rx.await.unwrap();
    (pki, address)
}
