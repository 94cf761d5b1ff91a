//! API routes for patients, episodes, advice, notes, labour observations and attachments. Every route checks the
//! session and the patient's facility (`User::may_see`) and audits what it shows or changes.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use crate::Hub;
use crate::accounts::{Role, User};
use crate::api::AuthUser;
use crate::records::{AdviceAction, LabourObservation, NewPatient};

/// A JSON `{"error": message}` answer with `status`.
pub(crate) fn error(status: StatusCode, message: impl std::fmt::Display) -> Response {
    (status, Json(json!({"error": message.to_string()}))).into_response()
}

/// Why something may not be shown: the status and the reason, answered as JSON.
pub(crate) struct Denied(pub(crate) StatusCode, pub(crate) String);

impl IntoResponse for Denied {
    fn into_response(self) -> Response {
        error(self.0, self.1)
    }
}

/// The patient, if it exists and the user may see its facility.
fn visible_patient(hub: &Hub, user: &User, id: i64) -> Result<crate::records::Patient, Denied> {
    match hub.records.patient(id) {
        Ok(Some(p)) if user.may_see(&p.details.facility) => Ok(p),
        Ok(Some(_)) => Err(Denied(
            StatusCode::FORBIDDEN,
            "not your facility's patient".into(),
        )),
        Ok(None) => Err(Denied(StatusCode::NOT_FOUND, "no such patient".into())),
        Err(e) => Err(Denied(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}"))),
    }
}

fn visible_episode(
    hub: &Hub,
    user: &User,
    episode: i64,
) -> Result<crate::records::Patient, Denied> {
    match hub.records.episode_patient(episode) {
        Ok(Some(patient)) => visible_patient(hub, user, patient),
        Ok(None) => Err(Denied(StatusCode::NOT_FOUND, "no such episode".into())),
        Err(e) => Err(Denied(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}"))),
    }
}

pub(crate) async fn list_patients(
    State(hub): State<Arc<Hub>>,
    AuthUser(user): AuthUser,
) -> Response {
    match hub.records.patients() {
        Ok(all) => Json(
            all.into_iter()
                .filter(|p| user.may_see(&p.details.facility))
                .collect::<Vec<_>>(),
        )
        .into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")),
    }
}

pub(crate) async fn add_patient(
    State(hub): State<Arc<Hub>>,
    AuthUser(user): AuthUser,
    Json(patient): Json<NewPatient>,
) -> Response {
    if !user.may_see(&patient.facility) {
        return error(StatusCode::FORBIDDEN, "not your facility");
    }
    match hub.records.add_patient(&patient) {
        Ok(id) => {
            let _ = hub
                .accounts
                .audit(&user.username, "patient_added", &id.to_string());
            (StatusCode::CREATED, Json(json!({"id": id}))).into_response()
        }
        Err(e) => error(StatusCode::BAD_REQUEST, format!("{e:#}")),
    }
}

pub(crate) async fn get_patient(
    State(hub): State<Arc<Hub>>,
    AuthUser(user): AuthUser,
    Path(id): Path<i64>,
) -> Response {
    let patient = match visible_patient(&hub, &user, id) {
        Ok(p) => p,
        Err(denied) => return denied.into_response(),
    };
    let _ = hub
        .accounts
        .audit(&user.username, "view_patient", &id.to_string());
    let episodes = hub.records.episodes(id).unwrap_or_default();
    let attachments = hub.records.attachments(id).unwrap_or_default();
    Json(json!({"patient": patient, "episodes": episodes, "attachments": attachments}))
        .into_response()
}

#[derive(Deserialize)]
pub(crate) struct NewEpisode {
    stream_id: Option<i64>,
}

pub(crate) async fn add_episode(
    State(hub): State<Arc<Hub>>,
    AuthUser(user): AuthUser,
    Path(id): Path<i64>,
    Json(body): Json<NewEpisode>,
) -> Response {
    let patient = match visible_patient(&hub, &user, id) {
        Ok(p) => p,
        Err(denied) => return denied.into_response(),
    };
    if let Some(stream) = body.stream_id {
        let facility = hub
            .streams()
            .get(&stream)
            .map(|s| s.record.identity.facility.clone());
        if facility.as_deref() != Some(patient.details.facility.as_str()) {
            return error(
                StatusCode::BAD_REQUEST,
                "the stream is not one of the patient's facility",
            );
        }
    }
    match hub.records.add_episode(id, body.stream_id) {
        Ok(episode) => {
            if let Some(stream) = body.stream_id {
                hub.tell_gestational_weeks(stream, patient.details.gestational_weeks);
            }
            let _ = hub.accounts.audit(
                &user.username,
                "episode_started",
                &format!("patient {id}, episode {episode}"),
            );
            (StatusCode::CREATED, Json(json!({"id": episode}))).into_response()
        }
        Err(e) => error(StatusCode::BAD_REQUEST, format!("{e:#}")),
    }
}

#[derive(Deserialize)]
pub(crate) struct NewAdvice {
    action: AdviceAction,
    #[serde(default)]
    text: String,
    /// The bedside carer the patient's identity and situation were confirmed with (required
    /// for advice that escalates: `AdviceAction::escalates`).
    #[serde(default)]
    confirmed_with: Option<String>,
}

pub(crate) async fn add_advice(
    State(hub): State<Arc<Hub>>,
    AuthUser(user): AuthUser,
    Path(episode): Path<i64>,
    Json(body): Json<NewAdvice>,
) -> Response {
    if let Err(denied) = visible_episode(&hub, &user, episode) {
        return denied.into_response();
    }
    if !(user.at_centre || user.role == Role::Admin) || user.role == Role::FacilityStaff {
        return error(
            StatusCode::FORBIDDEN,
            "advice comes from the centre's obstetricians and midwives",
        );
    }
    match hub.records.add_advice(
        episode,
        &user.username,
        body.action,
        &body.text,
        body.confirmed_with.as_deref(),
    ) {
        Ok(id) => {
            let confirmed = body
                .confirmed_with
                .as_deref()
                .map(|c| format!(" (confirmed with {})", c.trim()))
                .unwrap_or_default();
            let _ = hub.accounts.audit(
                &user.username,
                "advice",
                &format!(
                    "episode {episode}: {:?} {}{confirmed}",
                    body.action, body.text
                ),
            );
            (StatusCode::CREATED, Json(json!({"id": id}))).into_response()
        }
        Err(e) => error(StatusCode::BAD_REQUEST, format!("{e:#}")),
    }
}

#[derive(Deserialize)]
pub(crate) struct NewNote {
    text: String,
}

pub(crate) async fn add_note(
    State(hub): State<Arc<Hub>>,
    AuthUser(user): AuthUser,
    Path(episode): Path<i64>,
    Json(body): Json<NewNote>,
) -> Response {
    if let Err(denied) = visible_episode(&hub, &user, episode) {
        return denied.into_response();
    }
    match hub.records.add_note(episode, &user.username, &body.text) {
        Ok(id) => {
            let _ = hub
                .accounts
                .audit(&user.username, "note", &format!("episode {episode}"));
            (StatusCode::CREATED, Json(json!({"id": id}))).into_response()
        }
        Err(e) => error(StatusCode::BAD_REQUEST, format!("{e:#}")),
    }
}

/// A labour observation from the bedside (`POST /api/episodes/{id}/observations`): anyone who
/// may see the episode records one (the facility's staff, the centre); a value out of range, or
/// none at all, is refused with the reason. `observed_ms` gives when it was made, where that
/// was earlier (within [`crate::records::OBSERVED_BACK_MS`]); without it, now.
pub(crate) async fn add_observation(
    State(hub): State<Arc<Hub>>,
    AuthUser(user): AuthUser,
    Path(episode): Path<i64>,
    Json(mut body): Json<serde_json::Value>,
) -> Response {
    if let Err(denied) = visible_episode(&hub, &user, episode) {
        return denied.into_response();
    }
    let observed_ms = match body.as_object_mut().and_then(|o| o.remove("observed_ms")) {
        None | Some(serde_json::Value::Null) => None,
        Some(at) => match at.as_i64() {
            Some(at) => Some(at),
            None => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "observed_ms: milliseconds since the Unix epoch",
                );
            }
        },
    };
    let observed: LabourObservation = match serde_json::from_value(body) {
        Ok(observed) => observed,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    match hub
        .records
        .add_observation(episode, &user.username, &observed, observed_ms)
    {
        Ok(id) => {
            let _ = hub.accounts.audit(
                &user.username,
                "observation",
                &format!(
                    "episode {episode}: {}{}",
                    serde_json::to_string(&observed).unwrap_or_default(),
                    observed_ms
                        .map(|at| format!(" observed at {at}"))
                        .unwrap_or_default()
                ),
            );
            (StatusCode::CREATED, Json(json!({"id": id}))).into_response()
        }
        Err(e) => error(StatusCode::BAD_REQUEST, format!("{e:#}")),
    }
}

#[derive(Deserialize)]
pub(crate) struct Retract {
    reason: String,
}

/// Withdraws a labour observation as entered in error (`POST
/// /api/episodes/{id}/observations/{observation}/retract` with `{"reason"}`): anyone who may see
/// the episode; it stays listed, struck through, and leaves the labour's context; audited.
pub(crate) async fn retract_observation(
    State(hub): State<Arc<Hub>>,
    AuthUser(user): AuthUser,
    Path((episode, observation)): Path<(i64, i64)>,
    Json(body): Json<Retract>,
) -> Response {
    if let Err(denied) = visible_episode(&hub, &user, episode) {
        return denied.into_response();
    }
    match hub
        .records
        .retract_observation(episode, observation, &user.username, &body.reason)
    {
        Ok(()) => {
            let _ = hub.accounts.audit(
                &user.username,
                "observation_retracted",
                &format!(
                    "episode {episode}, observation {observation}: {}",
                    body.reason.trim()
                ),
            );
            Json(json!({"retracted": observation})).into_response()
        }
        Err(e) => error(StatusCode::BAD_REQUEST, format!("{e:#}")),
    }
}

#[derive(Deserialize)]
pub(crate) struct AttachmentName {
    name: Option<String>,
}

pub(crate) async fn add_attachment(
    State(hub): State<Arc<Hub>>,
    AuthUser(user): AuthUser,
    Path(id): Path<i64>,
    Query(query): Query<AttachmentName>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(denied) = visible_patient(&hub, &user, id) {
        return denied.into_response();
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let name = query.name.unwrap_or_default();
    match hub
        .records
        .add_attachment(id, &name, content_type, &body, &user.username)
    {
        Ok(attachment) => {
            let _ = hub.accounts.audit(
                &user.username,
                "attachment_added",
                &format!("patient {id}, attachment {attachment}"),
            );
            (StatusCode::CREATED, Json(json!({"id": attachment}))).into_response()
        }
        Err(e) => error(StatusCode::BAD_REQUEST, format!("{e:#}")),
    }
}

pub(crate) async fn get_attachment(
    State(hub): State<Arc<Hub>>,
    AuthUser(user): AuthUser,
    Path(id): Path<i64>,
) -> Response {
    let crate::records::Attachment {
        patient_id: patient,
        name,
        content_type,
        bytes,
    } = match hub.records.attachment(id) {
        Ok(Some(found)) => found,
        Ok(None) => return error(StatusCode::NOT_FOUND, "no such attachment"),
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")),
    };
    if let Err(denied) = visible_patient(&hub, &user, patient) {
        return denied.into_response();
    }
    let _ = hub
        .accounts
        .audit(&user.username, "view_attachment", &id.to_string());
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        bytes,
    )
        .into_response()
}
