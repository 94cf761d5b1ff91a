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
        .subject(payload["title"].as_str().unwrap_or("Mimamori alert"))
        .header(ContentType::TEXT_PLAIN)
        .body(format!(
            "{}\n\n{}\n",
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
