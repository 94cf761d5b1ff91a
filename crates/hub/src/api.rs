//! The HTTP API (axum): JSON for streams and history, a WebSocket per viewer.
//!
//! Every route but `POST /api/login` needs a session cookie (`mimamori_session`, `Secure;
//! HttpOnly; SameSite=Strict`) and answers 401 without one; every stream-scoped route and every
//! WebSocket subscription checks [`crate::accounts::User::may_see`] and answers 403 (or an
//! error frame) for another facility's stream. Views of a stream and of its history, logins
//! and account changes are written to the audit log.
//!
//! WebSocket protocol: the viewer sends text `{"subscribe": ID}` or `{"unsubscribe": ID}`; the
//! hub answers a subscription with the stream's recent window (up to an hour, for the first
//! paint) and then the live feed: **binary** frames for samples
//! (`u8 kind=1 | i64 LE stream | u64 LE first_seq | u16 LE count | count × (5 × u16 LE values,
//! 5 × u8 quality)`) and text frames for findings and gaps (`{"stream", "finding"|"gap"}`). A
//! viewer that falls behind the live feed is resynchronised from the recent window.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Result;
use axum::extract::ws::{Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use ctg_proto::model::{Quality, SampleBlock};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::broadcast;

use crate::accounts::{Role, Signin, User};
use crate::signin_guard;
use crate::store::Store;
use crate::{Hub, Live};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "mimamori_session";

pub(crate) fn session_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == SESSION_COOKIE).then(|| value.to_owned())
        })
}

/// The signed-in user of a request (401 without a live session).
pub struct AuthUser(pub User);

impl FromRequestParts<Arc<Hub>> for AuthUser {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        hub: &Arc<Hub>,
    ) -> Result<Self, Self::Rejection> {
        let unauthorised = || {
            (
                StatusCode::UNAUTHORIZED,
                Json(json!({"error": "sign in first"})),
            )
                .into_response()
        };
        let token = session_token(&parts.headers).ok_or_else(unauthorised)?;
        // SQLite off the reactor: every request asks this.
        let hub = hub.clone();
        match tokio::task::spawn_blocking(move || hub.accounts.session(&token)).await {
            Ok(Ok(Some(user))) => Ok(AuthUser(user)),
            Ok(Ok(None)) => Err(unauthorised()),
            Ok(Err(error)) => Err(internal(error)),
            Err(error) => Err(internal(error.into())),
        }
    }
}

/// Whether `user` may see stream `id`.
fn check_stream(hub: &Hub, user: &User, id: i64) -> Result<(), crate::api_records::Denied> {
    use crate::api_records::Denied;
    match hub.stream_facility(id) {
        Ok(Some(facility)) if user.may_see(&facility) => Ok(()),
        Ok(Some(_)) => Err(Denied(
            StatusCode::FORBIDDEN,
            "not your facility's stream".into(),
        )),
        Ok(None) => Err(Denied(StatusCode::NOT_FOUND, "no such stream".into())),
        Err(error) => Err(Denied(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("{error:#}"),
        )),
    }
}

fn forbidden() -> Response {
    (
        StatusCode::FORBIDDEN,
        Json(json!({"error": "not your facility's stream"})),
    )
        .into_response()
}

/// The facility of a stream (from the live map, else the store).
/// Frame kind byte of a samples frame.
pub const FRAME_SAMPLES: u8 = 1;

/// The router.
pub fn router(hub: Arc<Hub>) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/assets/{name}", get(asset))
        .route("/sw.js", get(service_worker))
        .route("/api/wall", get(wall))
        .route("/api/login", axum::routing::post(login))
        .route("/api/logout", axum::routing::post(logout))
        .route("/api/me", get(me))
        .route(
            "/api/me/second-factor",
            axum::routing::post(start_second_factor),
        )
        .route(
            "/api/me/second-factor/confirm",
            axum::routing::post(confirm_second_factor),
        )
        .route("/api/status", get(status))
        .route("/api/streams", get(streams))
        .route("/api/streams/{id}/samples", get(samples))
        .route("/api/streams/{id}/findings", get(findings))
        .route("/api/streams/{id}/end", axum::routing::post(end_monitoring))
        .route("/api/audit", get(crate::api_users::audit))
        .route("/api/alerts", get(alerts))
        .route(
            "/api/patients",
            get(crate::api_records::list_patients).post(crate::api_records::add_patient),
        )
        .route("/api/patients/{id}", get(crate::api_records::get_patient))
        .route(
            "/api/patients/{id}/episodes",
            axum::routing::post(crate::api_records::add_episode),
        )
        .route(
            "/api/patients/{id}/attachments",
            axum::routing::post(crate::api_records::add_attachment).layer(
                axum::extract::DefaultBodyLimit::max(crate::records::MAX_ATTACHMENT_BYTES + 1024),
            ),
        )
        .route(
            "/api/attachments/{id}",
            get(crate::api_records::get_attachment),
        )
        .route(
            "/api/episodes/{id}/advice",
            axum::routing::post(crate::api_records::add_advice),
        )
        .route(
            "/api/episodes/{id}/notes",
            axum::routing::post(crate::api_records::add_note),
        )
        .route(
            "/api/episodes/{id}/observations",
            axum::routing::post(crate::api_records::add_observation),
        )
        .route(
            "/api/episodes/{id}/observations/{observation}/retract",
            axum::routing::post(crate::api_records::retract_observation),
        )
        .route("/api/alerts/{id}/ack", axum::routing::post(acknowledge))
        .route("/api/alerts/{id}/snooze", axum::routing::post(snooze))
        .route("/api/alerts/{id}/log", get(alert_log))
        .route("/api/push/key", get(push_key))
        .route("/api/push/subscribe", axum::routing::post(push_subscribe))
        .route("/api/oncall", get(oncall))
        .route("/api/oncall/{facility}", axum::routing::put(set_roster))
        .route(
            "/api/people/{name}/channels",
            axum::routing::put(set_channels),
        )
        .route(
            "/api/users",
            get(crate::api_users::list_users).post(crate::api_users::add_user),
        )
        .route(
            "/api/users/{name}/password",
            axum::routing::post(crate::api_users::reset_password),
        )
        .route(
            "/api/users/{name}/{action}",
            axum::routing::post(crate::api_users::account_action),
        )
        .route("/api/me/renew", axum::routing::post(renew))
        .route(
            "/api/me/password",
            axum::routing::post(crate::api_users::change_own_password),
        )
        .route("/api/ws", get(ws))
        .with_state(hub)
}

/// Serves the API on `listen`; `ready` gets the bound address.
pub async fn serve(
    hub: Arc<Hub>,
    listen: SocketAddr,
    ready: Option<tokio::sync::oneshot::Sender<SocketAddr>>,
) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let local = listener.local_addr()?;
    tracing::info!(%local, "hub API listening");
    if let Some(ready) = ready {
        let _ = ready.send(local);
    }
    axum::serve(
        listener,
        router(hub).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await?;
    Ok(())
}

/// Serves the API over HTTPS (TLS 1.3, the hub's certificate) on `listen`; `ready` gets the
/// bound address.
pub async fn serve_tls(
    hub: Arc<Hub>,
    listen: SocketAddr,
    cert: &std::path::Path,
    key: &std::path::Path,
    ready: Option<tokio::sync::oneshot::Sender<SocketAddr>>,
) -> Result<()> {
    let tls = ctg_tls::quic::https_server_config(cert, key)?;
    let config = axum_server::tls_rustls::RustlsConfig::from_config(Arc::new(tls));
    let handle = axum_server::Handle::new();
    let server = axum_server::bind_rustls(listen, config)
        .handle(handle.clone())
        .serve(router(hub).into_make_service_with_connect_info::<SocketAddr>());
    let announce = async move {
        if let Some(address) = handle.listening().await {
            tracing::info!(%address, "hub API listening (HTTPS)");
            if let Some(ready) = ready {
                let _ = ready.send(address);
            }
        }
    };
    let (served, ()) = tokio::join!(server, announce);
    served?;
    Ok(())
}

pub(crate) fn internal(error: anyhow::Error) -> Response {
    (StatusCode::INTERNAL_SERVER_ERROR, format!("{error:#}")).into_response()
}

/// The viewer, embedded in the binary (plain ES modules, no build step).
const INDEX_HTML: &str = include_str!("../assets/index.html");
/// The viewer's other files: name, content type, text.
const ASSETS: [(&str, &str, &str); 4] = [
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../assets/app.js"),
    ),
    (
        "paper.js",
        "text/javascript; charset=utf-8",
        include_str!("../assets/paper.js"),
    ),
    (
        "i18n.js",
        "text/javascript; charset=utf-8",
        include_str!("../assets/i18n.js"),
    ),
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("../assets/style.css"),
    ),
];
/// Scripts only from the hub itself; inline style attributes are used by the viewer's DOM code.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self'; frame-ancestors 'none'";

async fn index() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        INDEX_HTML,
    )
        .into_response()
}

/// The service worker, at the root so its scope is the whole viewer.
async fn service_worker() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        include_str!("../assets/sw.js"),
    )
        .into_response()
}

async fn asset(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, content_type, text)) => (
            [
                (header::CONTENT_TYPE, *content_type),
                (header::CONTENT_SECURITY_POLICY, CSP),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            *text,
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// The wall: every stream the user may see, with its bed, patient, live state (how long since
/// its last block, whether a bridge has it open), current JSOG level and who is watching it.
/// The wall's beds: every stream the user may see whose monitoring has not ended, those ended
/// in the last [`ENDED_SHOWN_MS`] (marked with `ended_ms`, for the wall's list of recently
/// ended beds), and stream `also` whatever its state (the chart open on an older ended bed).
#[derive(Deserialize)]
struct WallQuery {
    also: Option<i64>,
}

/// Beds whose monitoring ended this recently are listed with the wall (to open their charts).
const ENDED_SHOWN_MS: i64 = 24 * 3600 * 1000;

async fn wall(
    State(hub): State<Arc<Hub>>,
    AuthUser(user): AuthUser,
    Query(query): Query<WallQuery>,
) -> Response {
    struct Live {
        age_ms: Option<u128>,
        connected: bool,
        level: Option<Arc<serde_json::Value>>,
        next: u64,
    }
    let live: HashMap<i64, Live> = hub
        .streams()
        .iter()
        .map(|(id, s)| {
            (
                *id,
                Live {
                    age_ms: s.last_block_at.map(|t| t.elapsed().as_millis()),
                    connected: s.connections > 0,
                    level: s.latest_classifications.shown(),
                    next: s.committed.next_sample_seq(),
                },
            )
        })
        .collect();
    let watchers = hub.watchers();
    let clocks = hub.bridge_clocks();
    let lookup = tokio::task::spawn_blocking({
        let hub = hub.clone();
        move || -> Result<_> { Ok((hub.reader().streams()?, hub.records.stream_patients()?)) }
    })
    .await;
    let (records, patients) = match lookup {
        Ok(Ok(found)) => found,
        Ok(Err(error)) => return internal(error),
        Err(error) => return internal(error.into()),
    };
    let now = crate::utc_now_ms();
    let beds: Vec<serde_json::Value> = records
        .into_iter()
        .filter(|r| user.may_see(&r.identity.facility))
        .filter_map(|r| {
            let ended = hub.ended_at(r.id);
            let shown = ended.is_none_or(|at| now - at < ENDED_SHOWN_MS) || query.also == Some(r.id);
            shown.then_some((r, ended))
        })
        .map(|(r, ended)| {
            let l = live.get(&r.id);
            let (episode, patient, context) = patients
                .get(&r.id)
                .map_or((None, None, None), |(e, p, c)| (Some(*e), Some(p), Some(c)));
            json!({
                "id": r.id, "facility": r.identity.facility, "bed": r.identity.port,
                "bridge": r.identity.bridge, "device": r.device,
                "episode_start_utc_ms": r.identity.episode_start_utc_ms,
                "live": l.is_some(),
                "next_sample_seq": l.map(|l| l.next),
                "last_block_age_ms": l.and_then(|l| l.age_ms),
                "bridge_connected": l.is_some_and(|l| l.connected),
                "level": l.and_then(|l| l.level.as_deref()),
                "patient": patient, "episode_id": episode, "labour": context,
                "bridge_clock_offset_ms": clocks.get(&(r.identity.bridge.clone(), r.identity.facility.clone())),
                "watchers": watchers.get(&r.id).cloned().unwrap_or_default(),
                "ended_ms": ended,
            })
        })
        .collect();
    Json(beds).into_response()
}

#[derive(Deserialize)]
struct Login {
    username: String,
    password: String,
    /// The authenticator app's code, for a user with a second factor.
    #[serde(default)]
    code: Option<String>,
}

/// How long a sign-in waits for its turn at the password check before the answer is "busy".
pub const SIGNIN_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Runs `check` (which checks a password: argon2id, tens of milliseconds of a core) on a
/// blocking thread, one such check at a time: a flood of sign-ins queues here instead of
/// taking the cores from the streams. Past [`SIGNIN_WAIT`] in the queue, or if the check
/// fails, the response to send instead.
pub(crate) async fn with_password_check<T: Send + 'static>(
    hub: &Arc<Hub>,
    check: impl FnOnce(&Hub) -> Result<T> + Send + 'static,
) -> Result<T, Response> {
    password_check_within(hub, SIGNIN_WAIT, check).await
}

/// [`with_password_check`], waiting at most `wait` for the turn.
async fn password_check_within<T: Send + 'static>(
    hub: &Arc<Hub>,
    wait: std::time::Duration,
    check: impl FnOnce(&Hub) -> Result<T> + Send + 'static,
) -> Result<T, Response> {
    let Ok(Ok(_turn)) = tokio::time::timeout(wait, hub.password_checks.acquire()).await else {
        return Err((
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "5".to_owned())],
            Json(json!({"error": "sign-ins are busy; try again in a few seconds"})),
        )
            .into_response());
    };
    let checking = hub.clone();
    match tokio::task::spawn_blocking(move || check(&checking)).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(internal(error)),
        Err(error) => Err(internal(error.into())),
    }
}

async fn login(
    State(hub): State<Arc<Hub>>,
    extensions: axum::http::Extensions,
    Json(body): Json<Login>,
) -> Response {
    let now_ms = crate::utc_now_ms();
    // The address it comes from (served with connection info; absent for a router driven
    // in-process, which then counts by username alone).
    let address = extensions
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip().to_string());
    let guard = || {
        hub.signin_addresses
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    };
    if let Some(address) = &address
        && let signin_guard::Verdict::Locked { until_ms } = guard().check(address, now_ms)
    {
        let retry_after_s = ((until_ms - now_ms).max(0) + 999) / 1000;
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, retry_after_s.to_string())],
            Json(json!({
                "error": format!(
                    "too many failed sign-ins from this computer's network address: try again in {} min",
                    (retry_after_s + 59) / 60
                ),
                "retry_after_s": retry_after_s,
            })),
        )
            .into_response();
    }
    let signed = with_password_check(&hub, move |hub| {
        hub.accounts
            .sign_in(&body.username, &body.password, body.code.as_deref(), now_ms)
    })
    .await;
    if let (Some(address), Ok(Signin::Refused | Signin::Locked { .. })) = (&address, &signed)
        && let signin_guard::AfterFailure::LockedNow { .. } = guard().failed(address, now_ms)
    {
        tracing::warn!(%address, "too many failed sign-ins from one address: refused for 15 min");
        let _ = hub.accounts.audit(
            "-",
            "signin_address_locked",
            &format!(
                "{address}: {} failed sign-ins in 15 min",
                crate::SIGNIN_ADDRESS_GUARD.max_failures
            ),
        );
    }
    match signed {
        Ok(signed) => signin_answer(&hub, signed, now_ms),
        Err(response) => response,
    }
}

#[derive(Deserialize)]
struct Renewal {
    password: String,
    #[serde(default)]
    code: Option<String>,
}

/// `POST /api/me/renew`: a signed-in user signs in again before the session ends (the
/// viewer offers it in its last 30 minutes, so a monitoring wall is not signed out in the
/// middle of a shift): the same answers as `/api/login`, and a new cookie.
async fn renew(
    State(hub): State<Arc<Hub>>,
    AuthUser(user): AuthUser,
    headers: HeaderMap,
    Json(body): Json<Renewal>,
) -> Response {
    let now_ms = crate::utc_now_ms();
    let old_token = session_token(&headers).unwrap_or_default();
    let signed = with_password_check(&hub, move |hub| {
        hub.accounts.renew_session(
            &user,
            &old_token,
            &body.password,
            body.code.as_deref(),
            now_ms,
        )
    })
    .await;
    match signed {
        Ok(signed) => signin_answer(&hub, signed, now_ms),
        Err(response) => response,
    }
}

/// The answer to a sign-in (or a renewal) at `now_ms`: the session cookie on success.
fn signin_answer(hub: &Hub, signed: Signin, now_ms: i64) -> Response {
    match signed {
        Signin::SignedIn(user, token) => {
            let length_ms = hub.accounts.session_length_ms();
            (
                [(
                    header::SET_COOKIE,
                    format!(
                        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age={}",
                        length_ms / 1000
                    ),
                )],
                Json(json!({"user": user, "session_expires_ms": now_ms + length_ms})),
            )
                .into_response()
        }
        Signin::Refused => (StatusCode::UNAUTHORIZED, Json(json!({"error": "wrong username, password or code"}))).into_response(),
        Signin::CodeRequired => (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "enter the 6-digit code from your authenticator app", "code_required": true})),
        )
            .into_response(),
        Signin::Disabled => (
            StatusCode::FORBIDDEN,
            Json(json!({"error": "this account is disabled: ask an administrator", "disabled": true})),
        )
            .into_response(),
        Signin::SecondFactorMissing => (
            StatusCode::FORBIDDEN,
            Json(json!({"error": "this hub requires a second factor and you have none: ask an administrator to enrol you (mimamori user totp)", "second_factor_missing": true})),
        )
            .into_response(),
        Signin::Locked { until_ms } => {
            let retry_after_s = ((until_ms - now_ms).max(0) + 999) / 1000;
            (
                StatusCode::TOO_MANY_REQUESTS,
                [(header::RETRY_AFTER, retry_after_s.to_string())],
                Json(json!({
                    "error": format!(
                        "too many wrong passwords for this username: try again in {} min, or ask an administrator",
                        (retry_after_s + 59) / 60
                    ),
                    "retry_after_s": retry_after_s,
                })),
            )
                .into_response()
        }
    }
}

async fn logout(
    State(hub): State<Arc<Hub>>,
    AuthUser(user): AuthUser,
    headers: HeaderMap,
) -> Response {
    if let Some(token) = session_token(&headers) {
        let _ = hub.accounts.logout(&token);
        let _ = hub.accounts.audit(&user.username, "logout", "");
        hub.sessions_changed();
    }
    (
        [(
            header::SET_COOKIE,
            format!("{SESSION_COOKIE}=; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=0"),
        )],
        Json(json!({})),
    )
        .into_response()
}

async fn me(State(hub): State<Arc<Hub>>, AuthUser(user): AuthUser, headers: HeaderMap) -> Response {
    let token = session_token(&headers).unwrap_or_default();
    let expires = hub.accounts.session_expires(&token);
    match (hub.accounts.has_second_factor(&user), expires) {
        (Ok(second_factor), Ok(expires)) => Json(json!({
            "user": user,
            "second_factor": second_factor,
            "session_expires_ms": expires,
        }))
        .into_response(),
        (Err(error), _) | (_, Err(error)) => internal(error),
    }
}

#[derive(Deserialize)]
struct Password {
    password: String,
}

/// A signed-in user starts setting up their second factor, giving their password again: the
/// secret, its `otpauth://` URI and that URI as a QR code (SVG) for an authenticator app.
/// Nothing changes until a code from it is confirmed.
async fn start_second_factor(
    State(hub): State<Arc<Hub>>,
    AuthUser(user): AuthUser,
    Json(body): Json<Password>,
) -> Response {
    let username = user.username.clone();
    let started = with_password_check(&hub, move |hub| {
        hub.accounts
            .start_second_factor(&user, &body.password, crate::utc_now_ms())
    })
    .await;
    match started {
        Ok(Some(secret)) => {
            let uri = crate::totp::otpauth_uri(&secret, &username, "Mimamori");
            Json(json!({
                "secret": crate::totp::base32(&secret),
                "qr_svg": crate::totp::qr_svg(&uri),
                "uri": uri,
            }))
            .into_response()
        }
        Ok(None) => (
            StatusCode::FORBIDDEN,
            Json(json!({"error": "wrong password", "wrong_password": true})),
        )
            .into_response(),
        Err(response) => response,
    }
}

#[derive(Deserialize)]
struct Code {
    code: String,
}

/// Confirms the second factor being set up with a code from the app.
async fn confirm_second_factor(
    State(hub): State<Arc<Hub>>,
    AuthUser(user): AuthUser,
    Json(body): Json<Code>,
) -> Response {
    let now_ms = crate::utc_now_ms();
    match hub.accounts.confirm_second_factor(&user, &body.code, now_ms) {
        Ok(true) => Json(json!({"second_factor": true})).into_response(),
        Ok(false) => (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "that code does not match: check the app's time and try the next code"})),
        )
            .into_response(),
        Err(error) => internal(error),
    }
}

async fn status(State(hub): State<Arc<Hub>>, AuthUser(_): AuthUser) -> Response {
    Json(json!({"hub": hub.hub_id(), "counters": hub.counters()})).into_response()
}

async fn alerts(State(hub): State<Arc<Hub>>, AuthUser(user): AuthUser) -> Response {
    let visible: Vec<_> = hub
        .alerts()
        .into_iter()
        .rev()
        .filter(|a| user.may_see(a.subject.facility()))
        .take(500)
        .collect();
    Json(json!({"alerts": visible})).into_response()
}

/// A body that says why (an acknowledgement, a bed's monitoring ended): recorded and audited.
#[derive(Deserialize)]
struct WithReason {
    reason: String,
}

async fn acknowledge(
    State(hub): State<Arc<Hub>>,
    AuthUser(user): AuthUser,
    Path(id): Path<u64>,
    Json(body): Json<WithReason>,
) -> Response {
    let Some(alert) = hub.alerts().into_iter().find(|a| a.id == id) else {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "no such alert"})),
        )
            .into_response();
    };
    if !user.may_see(alert.subject.facility()) {
        return forbidden();
    }
    if body.reason.trim().is_empty() {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "say why (the reason is recorded)"})),
        )
            .into_response();
    }
    let Some(alert) = hub.acknowledge(id, &user.username, &body.reason) else {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "no such alert"})),
        )
            .into_response();
    };
    let _ = hub.accounts.audit(
        &user.username,
        "acknowledge_alert",
        &format!("{id}: {}", body.reason),
    );
    Json(json!({"alert": alert})).into_response()
}

/// Ends the monitoring of a bed (`POST /api/streams/{id}/end` with `{"reason"}`): anyone who may
/// see the stream; refused (409) while its monitor still sends, 400 without a reason; audited.
async fn end_monitoring(
    State(hub): State<Arc<Hub>>,
    AuthUser(user): AuthUser,
    Path(id): Path<i64>,
    Json(body): Json<WithReason>,
) -> Response {
    let checked = {
        let hub = hub.clone();
        let user = user.clone();
        tokio::task::spawn_blocking(move || check_stream(&hub, &user, id)).await
    };
    match checked {
        Ok(Ok(())) => {}
        Ok(Err(denied)) => return denied.into_response(),
        Err(error) => return internal(error.into()),
    }
    let ended = {
        let hub = hub.clone();
        let by = user.username.clone();
        let reason = body.reason.clone();
        tokio::task::spawn_blocking(move || hub.end_monitoring(id, &by, &reason)).await
    };
    match ended {
        Ok(Ok(at)) => {
            let _ = hub.accounts.audit(
                &user.username,
                "monitoring_ended",
                &format!("stream {id}: {}", body.reason.trim()),
            );
            Json(json!({"stream": id, "ended_ms": at})).into_response()
        }
        Ok(Err(error)) => {
            let status = match error {
                crate::EndMonitoringError::StillSending(_) => StatusCode::CONFLICT,
                crate::EndMonitoringError::NoSuchStream => StatusCode::NOT_FOUND,
                crate::EndMonitoringError::Records(_) => StatusCode::BAD_REQUEST,
            };
            (status, Json(json!({"error": error.to_string()}))).into_response()
        }
        Err(error) => internal(error.into()),
    }
}

#[derive(Deserialize)]
struct Snooze {
    minutes: i64,
    reason: String,
}

fn visible_alert(
    hub: &Hub,
    user: &User,
    id: u64,
) -> Result<crate::alerts::Alert, crate::api_records::Denied> {
    use crate::api_records::Denied;
    let Some(alert) = hub.alerts().into_iter().find(|a| a.id == id) else {
        return Err(Denied(StatusCode::NOT_FOUND, "no such alert".into()));
    };
    if !user.may_see(alert.subject.facility()) {
        return Err(Denied(
            StatusCode::FORBIDDEN,
            "not your facility's alert".into(),
        ));
    }
    Ok(alert)
}

async fn snooze(
    State(hub): State<Arc<Hub>>,
    AuthUser(user): AuthUser,
    Path(id): Path<u64>,
    Json(body): Json<Snooze>,
) -> Response {
    if let Err(denied) = visible_alert(&hub, &user, id) {
        return denied.into_response();
    }
    match hub.notifier.snooze(
        id,
        &user.username,
        &body.reason,
        body.minutes,
        crate::utc_now_ms(),
    ) {
        Ok(until) => {
            let _ = hub.accounts.audit(
                &user.username,
                "snooze_alert",
                &format!("{id}: {} min: {}", body.minutes, body.reason),
            );
            Json(json!({"alert": id, "snoozed_until_ms": until})).into_response()
        }
        Err(error) => (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": error.to_string()})),
        )
            .into_response(),
    }
}

async fn alert_log(
    State(hub): State<Arc<Hub>>,
    AuthUser(user): AuthUser,
    Path(id): Path<u64>,
) -> Response {
    if let Err(denied) = visible_alert(&hub, &user, id) {
        return denied.into_response();
    }
    match hub.notifier.log(id) {
        Ok(entries) => Json(json!({"alert": id, "log": entries})).into_response(),
        Err(error) => internal(error),
    }
}

async fn push_key(State(hub): State<Arc<Hub>>, AuthUser(_): AuthUser) -> Response {
    Json(json!({"public_key": hub.notifier.vapid_public_key()})).into_response()
}

async fn push_subscribe(
    State(hub): State<Arc<Hub>>,
    AuthUser(user): AuthUser,
    Json(subscription): Json<crate::notify::PushSubscription>,
) -> Response {
    match hub.notifier.subscribe(&user.username, &subscription) {
        Ok(id) => {
            let _ = hub
                .accounts
                .audit(&user.username, "push_subscribed", &id.to_string());
            (StatusCode::CREATED, Json(json!({"subscription": id}))).into_response()
        }
        Err(error) => (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": format!("{error:#}")})),
        )
            .into_response(),
    }
}

/// Rosters of the facilities the user may see; admins also get everyone's channels and the
/// webhook signing secret.
async fn oncall(State(hub): State<Arc<Hub>>, AuthUser(user): AuthUser) -> Response {
    match hub.notifier.oncall() {
        Ok((rosters, people)) => {
            let rosters: std::collections::BTreeMap<_, _> = rosters
                .into_iter()
                .filter(|(facility, _)| user.may_see(facility))
                .collect();
            if user.role == Role::Admin {
                Json(json!({"rosters": rosters, "people": people,
                            "webhook_secret": hub.notifier.webhook_secret_hex()}))
                .into_response()
            } else {
                Json(json!({"rosters": rosters})).into_response()
            }
        }
        Err(error) => internal(error),
    }
}

async fn set_roster(
    State(hub): State<Arc<Hub>>,
    AuthUser(user): AuthUser,
    Path(facility): Path<String>,
    Json(roster): Json<crate::alerts::dispatch::Roster>,
) -> Response {
    if user.role != Role::Admin {
        return (StatusCode::FORBIDDEN, Json(json!({"error": "admins only"}))).into_response();
    }
    if roster
        .shifts
        .iter()
        .any(|s| s.start_minute >= 1440 || s.end_minute > 1440)
    {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "shift minutes are 0..1440 of the local day"})),
        )
            .into_response();
    }
    match hub.notifier.set_roster(&facility, roster) {
        Ok(()) => {
            let _ = hub
                .accounts
                .audit(&user.username, "roster_changed", &facility);
            Json(json!({"facility": facility})).into_response()
        }
        Err(error) => internal(error),
    }
}

async fn set_channels(
    State(hub): State<Arc<Hub>>,
    AuthUser(user): AuthUser,
    Path(name): Path<String>,
    Json(channels): Json<Vec<crate::alerts::dispatch::Channel>>,
) -> Response {
    if user.role != Role::Admin && user.username != name {
        return forbidden();
    }
    match hub.notifier.set_channels(&name, channels) {
        Ok(()) => {
            let _ = hub
                .accounts
                .audit(&user.username, "channels_changed", &name);
            Json(json!({"person": name, "channels": hub.notifier.channels(&name).unwrap_or_default()}))
                .into_response()
        }
        Err(error) => internal(error),
    }
}

async fn streams(State(hub): State<Arc<Hub>>, AuthUser(user): AuthUser) -> Response {
    let live: HashMap<i64, u64> = hub
        .streams()
        .iter()
        .map(|(id, s)| (*id, s.committed.next_sample_seq()))
        .collect();
    let records = tokio::task::spawn_blocking(move || hub.reader().streams()).await;
    match records {
        Ok(Ok(records)) => Json(
            records
                .into_iter()
                .filter(|r| user.may_see(&r.identity.facility))
                .map(|r| {
                    json!({
                        "id": r.id, "facility": r.identity.facility, "bridge": r.identity.bridge,
                        "port": r.identity.port, "episode_start_utc_ms": r.identity.episode_start_utc_ms,
                        "device": r.device, "next_sample_seq": live.get(&r.id),
                    })
                })
                .collect::<Vec<_>>(),
        )
        .into_response(),
        Ok(Err(error)) => internal(error),
        Err(error) => internal(error.into()),
    }
}

#[derive(Deserialize)]
struct Range {
    from: Option<u64>,
    until: Option<u64>,
}

async fn samples(
    State(hub): State<Arc<Hub>>,
    AuthUser(user): AuthUser,
    Path(id): Path<i64>,
    Query(range): Query<Range>,
) -> Response {
    if let Err(denied) = check_stream(&hub, &user, id) {
        return denied.into_response();
    }
    let _ = hub
        .accounts
        .audit(&user.username, "view_history", &id.to_string());
    // At most a day per request, so no answer grows with the episode.
    const DAY_SAMPLES: u64 = 4 * 3600 * 24;
    let from = range.from.unwrap_or(0);
    let until = range.until.unwrap_or(from.saturating_add(DAY_SAMPLES));
    if until.saturating_sub(from) > DAY_SAMPLES {
        return (StatusCode::BAD_REQUEST, "at most 24 hours per request").into_response();
    }
    let blocks = tokio::task::spawn_blocking(move || hub.reader().blocks(id, from, until)).await;
    match blocks {
        Ok(Ok(blocks)) => Json(
            blocks
                .iter()
                .map(|b| json!({"first_seq": b.first_seq, "utc_ms": b.utc_ms, "values": b.samples.iter().map(|s| s.values).collect::<Vec<_>>()}))
                .collect::<Vec<_>>(),
        )
        .into_response(),
        Ok(Err(error)) => internal(error),
        Err(error) => internal(error.into()),
    }
}

#[derive(Deserialize)]
struct FindingQuery {
    kind: Option<String>,
    limit: Option<usize>,
}

async fn findings(
    State(hub): State<Arc<Hub>>,
    AuthUser(user): AuthUser,
    Path(id): Path<i64>,
    Query(query): Query<FindingQuery>,
) -> Response {
    if let Err(denied) = check_stream(&hub, &user, id) {
        return denied.into_response();
    }
    let limit = query.limit.unwrap_or(1000).min(10_000);
    match hub.records.findings(id, query.kind.as_deref(), limit) {
        Ok(found) => Json(json!({"stream": id, "findings": found})).into_response(),
        Err(error) => internal(error),
    }
}

/// The binary frame of a block.
pub fn samples_frame(stream: i64, block: &SampleBlock) -> Vec<u8> {
    let mut out = Vec::with_capacity(19 + block.samples.len() * 15);
    out.push(FRAME_SAMPLES);
    out.extend(stream.to_le_bytes());
    out.extend(block.first_seq.to_le_bytes());
    out.extend((block.samples.len().min(usize::from(u16::MAX)) as u16).to_le_bytes());
    for s in &block.samples {
        for v in s.values {
            out.extend(v.to_le_bytes());
        }
        for q in s.quality {
            out.push(match q {
                Quality::Unknown => 0,
                Quality::None => 1,
                Quality::Poor => 2,
                Quality::Fair => 3,
                Quality::Good => 4,
            });
        }
    }
    out
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum Request {
    Subscribe(i64),
    Unsubscribe(i64),
}

async fn ws(
    State(hub): State<Arc<Hub>>,
    AuthUser(user): AuthUser,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let token = session_token(&headers).unwrap_or_default();
    upgrade
        .max_message_size(64 * 1024)
        .on_upgrade(move |socket| viewer(hub, user, token, socket))
}

/// How often an open WebSocket checks that its session still stands (besides at every
/// sign-out, disabled account and new password of this hub: [`Hub::sessions_changed`]); a
/// session ended from `mimamori user` or by expiry closes within this.
pub const SESSION_RECHECK: std::time::Duration = std::time::Duration::from_secs(30);

/// The WebSocket close code for a session that has ended (the viewer shows the sign-in form).
pub const CLOSE_SIGNED_OUT: u16 = 4401;

/// Whether `token` is still `user`'s live session.
async fn session_stands(hub: &Arc<Hub>, token: &str, user: &User) -> bool {
    let checking = hub.clone();
    let token = token.to_owned();
    match tokio::task::spawn_blocking(move || checking.accounts.session(&token)).await {
        Ok(Ok(Some(now))) => now.id == user.id,
        Ok(Ok(None)) => false,
        // The database busy for a moment is not a sign-out: the next check decides.
        Ok(Err(_)) | Err(_) => true,
    }
}

async fn viewer(hub: Arc<Hub>, user: User, token: String, socket: WebSocket) {
    let (mut sink, mut requests) = socket.split();
    let (out_tx, mut out_rx) = tokio::sync::mpsc::channel::<WsMessage>(256);
    let writer = tokio::spawn(async move {
        while let Some(message) = out_rx.recv().await {
            if sink.send(message).await.is_err() {
                break;
            }
        }
    });
    // Alerts for every facility the user may see, whatever the subscriptions.
    let alerts_task = {
        let mut feed = hub.alert_feed.subscribe();
        let out = out_tx.clone();
        let user = user.clone();
        tokio::spawn(async move {
            loop {
                match feed.recv().await {
                    Ok(alert) if user.may_see(alert.subject.facility()) => {
                        let text = json!({"alert": alert}).to_string();
                        if out.send(WsMessage::Text(text.into())).await.is_err() {
                            return;
                        }
                    }
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        })
    };
    let mut subscriptions: HashMap<i64, tokio::task::JoinHandle<()>> = HashMap::new();
    let connection = hub.next_connection();
    let watched = |subscriptions: &HashMap<i64, tokio::task::JoinHandle<()>>| {
        hub.watching(
            connection,
            &user.username,
            Some(subscriptions.keys().copied().collect()),
        );
    };
    let mut session_changes = hub.session_changes();
    let mut recheck = tokio::time::interval(SESSION_RECHECK);
    recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    recheck.tick().await;
    loop {
        // A request, or `None` when the session is to be checked again.
        let message = tokio::select! {
            message = requests.next() => match message {
                Some(Ok(message)) => Some(message),
                _ => break,
            },
            changed = session_changes.changed() => {
                // The hub gone: no session stands.
                if changed.is_err() {
                    break_signed_out(&out_tx).await;
                    break;
                }
                None
            }
            _ = recheck.tick() => None,
        };
        let Some(message) = message else {
            if !session_stands(&hub, &token, &user).await {
                break_signed_out(&out_tx).await;
                break;
            }
            continue;
        };
        let WsMessage::Text(text) = message else {
            continue;
        };
        let request: Request = match serde_json::from_str(&text) {
            Ok(r) => r,
            Err(error) => {
                let _ = out_tx
                    .send(WsMessage::Text(
                        json!({"error": error.to_string()}).to_string().into(),
                    ))
                    .await;
                continue;
            }
        };
        match request {
            Request::Subscribe(id) => {
                if subscriptions.len() >= 64 {
                    let _ = out_tx
                        .send(WsMessage::Text(
                            json!({"error": "at most 64 subscriptions"})
                                .to_string()
                                .into(),
                        ))
                        .await;
                    continue;
                }
                let first = hub.streams().get(&id).map(|s| {
                    (
                        s.record.identity.facility.clone(),
                        s.recent(),
                        s.feed.subscribe(),
                    )
                });
                let Some((facility, recent, feed)) = first else {
                    let _ = out_tx
                        .send(WsMessage::Text(
                            json!({"error": "no such stream", "stream": id})
                                .to_string()
                                .into(),
                        ))
                        .await;
                    continue;
                };
                if !user.may_see(&facility) {
                    let _ = out_tx
                        .send(WsMessage::Text(
                            json!({"error": "forbidden", "stream": id})
                                .to_string()
                                .into(),
                        ))
                        .await;
                    continue;
                }
                let _ = hub
                    .accounts
                    .audit(&user.username, "view_stream", &id.to_string());
                let out = out_tx.clone();
                let hub = hub.clone();
                let task = tokio::spawn(forward(hub, id, recent, feed, out));
                if let Some(old) = subscriptions.insert(id, task) {
                    old.abort();
                }
                watched(&subscriptions);
            }
            Request::Unsubscribe(id) => {
                if let Some(task) = subscriptions.remove(&id) {
                    task.abort();
                }
                watched(&subscriptions);
            }
        }
    }
    hub.watching(connection, &user.username, None);
    for task in subscriptions.into_values() {
        task.abort();
    }
    alerts_task.abort();
    drop(out_tx);
    // The close frame queued on a sign-out goes out before the socket is dropped.
    let stop_writer = writer.abort_handle();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), writer).await;
    stop_writer.abort();
}

/// Queues the close frame that tells a viewer its session has ended.
async fn break_signed_out(out: &tokio::sync::mpsc::Sender<WsMessage>) {
    let _ = out
        .send(WsMessage::Close(Some(axum::extract::ws::CloseFrame {
            code: CLOSE_SIGNED_OUT,
            reason: "signed out".into(),
        })))
        .await;
}

async fn forward(
    hub: Arc<Hub>,
    id: i64,
    recent: crate::recent::Snapshot,
    mut feed: broadcast::Receiver<Live>,
    out: tokio::sync::mpsc::Sender<WsMessage>,
) {
    let mut sent_until = 0u64;
    for block in recent.blocks_from(0) {
        sent_until = block.end_seq().unwrap_or(sent_until);
        if out
            .send(WsMessage::Binary(samples_frame(id, &block).into()))
            .await
            .is_err()
        {
            return;
        }
    }
    loop {
        let message = match feed.recv().await {
            Ok(Live::Block(block)) => {
                if block.first_seq < sent_until {
                    continue; // already in the first paint
                }
                sent_until = block.end_seq().unwrap_or(sent_until);
                WsMessage::Binary(samples_frame(id, &block).into())
            }
            Ok(Live::Gap { from, until }) => WsMessage::Text(
                json!({"stream": id, "gap": {"from": from, "until": until}})
                    .to_string()
                    .into(),
            ),
            Ok(Live::Finding(finding)) => WsMessage::Text(
                json!({"stream": id, "finding": &*finding})
                    .to_string()
                    .into(),
            ),
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                // Too slow: resynchronise from the recent window.
                tracing::warn!(stream = id, missed, "viewer lagging; resynchronising");
                let recent = hub
                    .streams()
                    .get(&id)
                    .map(|s| s.recent())
                    .unwrap_or_default();
                for block in recent.blocks_from(sent_until) {
                    sent_until = block.end_seq().unwrap_or(sent_until);
                    if out
                        .send(WsMessage::Binary(samples_frame(id, &block).into()))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        if out.send(message).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A password check that cannot get its turn in time (another holds it: sign-ins tried in
    /// bulk) is answered 503 with a `Retry-After`, without running; one that gets it runs.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_password_check_that_waits_too_long_for_its_turn_is_told_busy() {
        let dir = tempfile::tempdir().unwrap();
        let hub = Hub::open(&dir.path().join("hub.db"), "hub", "centre").unwrap();
        let wait = std::time::Duration::from_millis(50);
        let held = hub.password_checks.acquire().await.unwrap();
        let ran = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let running = ran.clone();
        let busy = password_check_within(&hub, wait, move |_| {
            running.store(true, std::sync::atomic::Ordering::SeqCst);
            Ok(())
        })
        .await
        .unwrap_err();
        assert_eq!(busy.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(busy.headers()[header::RETRY_AFTER], "5");
        assert!(!ran.load(std::sync::atomic::Ordering::SeqCst), "not run");
        drop(held);
        let answer = password_check_within(&hub, wait, |_| Ok(42)).await;
        assert_eq!(answer.ok(), Some(42));
    }
}
