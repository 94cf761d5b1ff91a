//! E-mail alerts over SMTP (lettre): STARTTLS when the server offers it, plain otherwise (a
//! relay on the hospital network or loopback).

use anyhow::{Context, Result};
use lettre::message::{Mailbox, header::ContentType};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::notify::Smtp;

/// Sends one alert e-mail.
pub async fn send(smtp: &Smtp, to: &str, payload: &serde_json::Value) -> Result<()> {
    let message = Message::builder()
        .from(smtp.from.parse::<Mailbox>().context("the sender address")?)
        .to(to
            .parse::<Mailbox>()
            .with_context(|| format!("the address {to:?}"))?)
        .subject(both(payload, "title"))
        .header(ContentType::TEXT_PLAIN)
        .body(format!(
            "{}\n{}\n\n{}\n",
            payload["ja"]["body"].as_str().unwrap_or(""),
            payload["body"].as_str().unwrap_or(""),
            serde_json::to_string_pretty(payload)?
        ))?;
    let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host)
        .port(smtp.port)
        .tls(lettre::transport::smtp::client::Tls::Opportunistic(
            lettre::transport::smtp::client::TlsParameters::new(smtp.host.clone())
                .context("TLS parameters")?,
        ))
        .timeout(Some(std::time::Duration::from_secs(10)))
        .build();
    transport.send(message).await.context("SMTP")?;
    Ok(())
}

/// A payload's `key` in Japanese and in English (`見守り: … / Mimamori: …`): one mailbox may
/// be read by staff of either language.
fn both(payload: &serde_json::Value, key: &str) -> String {
    match (payload["ja"][key].as_str(), payload[key].as_str()) {
        (Some(ja), Some(en)) => format!("{ja} / {en}"),
        (None, Some(en)) => en.to_owned(),
        (Some(ja), None) => ja.to_owned(),
        (None, None) => "Mimamori alert".to_owned(),
    }
}
