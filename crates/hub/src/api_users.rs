//! API routes for managing accounts: the administrators' users page (list, add, disable,
//! enable, unlock, remove a lost second factor, a new password), their audit-log page, and
//! every user's own password.
//! Every change is audited by [`crate::accounts::Accounts`]; each one that ends sessions tells
//! open WebSockets to check theirs again ([`crate::Hub::sessions_changed`]).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use crate::Hub;
use crate::accounts::{Role, User};
use crate::api::{AuthUser, internal, session_token, with_password_check};
use crate::api_records::error;

/// 403 for anyone but an administrator.
fn refused_unless_admin(user: &User) -> Option<Response> {
    (user.role != Role::Admin).then(|| error(StatusCode::FORBIDDEN, "admins only"))
}

/// Runs an account change off the reactor (SQLite, and argon2id for a new password): 200 with
/// `answer` when it is done, 400 with the reason when the accounts refuse it (no such user,
/// the last administrator, a password too short, …).
async fn change(
    hub: &Arc<Hub>,
    change: impl FnOnce(&Hub) -> anyhow::Result<()> + Send + 'static,
    answer: serde_json::Value,
) -> Response {
    let changing = hub.clone();
    match tokio::task::spawn_blocking(move || change(&changing)).await {
        Ok(Ok(())) => {
            hub.sessions_changed();
            Json(answer).into_response()
        }
        Ok(Err(refused)) => error(StatusCode::BAD_REQUEST, format!("{refused:#}")),
        Err(failed) => internal(failed.into()),
    }
}

/// `GET /api/users`: every account (admins).
pub(crate) async fn list_users(State(hub): State<Arc<Hub>>, AuthUser(user): AuthUser) -> Response {
    if let Some(denied) = refused_unless_admin(&user) {
        return denied;
    }
    let listing = hub.clone();
    match tokio::task::spawn_blocking(move || listing.accounts.list_users(crate::utc_now_ms()))
        .await
    {
        Ok(Ok(users)) => Json(json!({"users": users})).into_response(),
        Ok(Err(failed)) => internal(failed),
        Err(failed) => internal(failed.into()),
    }
}

#[derive(Deserialize)]
pub(crate) struct NewUser {
    username: String,
    password: String,
    role: String,
    facility: String,
}

/// `POST /api/users`: adds an account (admins).
pub(crate) async fn add_user(
    State(hub): State<Arc<Hub>>,
    AuthUser(user): AuthUser,
    Json(body): Json<NewUser>,
) -> Response {
    if let Some(denied) = refused_unless_admin(&user) {
        return denied;
    }
    let role = match Role::parse(&body.role) {
        Ok(role) => role,
        Err(refused) => return error(StatusCode::BAD_REQUEST, refused),
    };
    let actor = user.username.clone();
    let result = tokio::task::spawn_blocking(move || {
        let id =
            hub.accounts
                .add_user(&body.username, &body.password, role, body.facility.trim())?;
        hub.accounts.audit(&actor, "user_added", &body.username)?;
        Ok::<_, anyhow::Error>(id)
    })
    .await;
    match result {
        Ok(Ok(id)) => (StatusCode::CREATED, Json(json!({"id": id}))).into_response(),
        Ok(Err(refused)) => error(StatusCode::BAD_REQUEST, format!("{refused:#}")),
        Err(failed) => internal(failed.into()),
    }
}

/// `POST /api/users/{name}/{action}` (admins), one of:
/// - `disable`: someone who has left; their sessions end now;
/// - `enable`: a disabled account again;
/// - `unlock`: lifts a sign-in lock (answers whether there was one);
/// - `remove-second-factor`: a lost or replaced phone; the user signs in with the password
///   alone (unless the hub requires a second factor) and sets up a new one on the account page.
pub(crate) async fn account_action(
    State(hub): State<Arc<Hub>>,
    AuthUser(user): AuthUser,
    Path((name, action)): Path<(String, String)>,
) -> Response {
    if let Some(denied) = refused_unless_admin(&user) {
        return denied;
    }
    let by = user.username;
    match action.as_str() {
        "unlock" => match hub.accounts.unlock(&name, &by) {
            Ok(was_locked) => {
                Json(json!({"username": name, "was_locked": was_locked})).into_response()
            }
            Err(failed) => internal(failed),
        },
        "disable" | "enable" => {
            let disable = action == "disable";
            let answer = json!({"username": name, "disabled": disable});
            change(
                &hub,
                move |hub| {
                    if disable {
                        hub.accounts.disable_user(&name, &by)
                    } else {
                        hub.accounts.enable_user(&name, &by)
                    }
                },
                answer,
            )
            .await
        }
        "remove-second-factor" => {
            let answer = json!({"username": name, "second_factor": false});
            change(
                &hub,
                move |hub| hub.accounts.remove_second_factor(&name, &by),
                answer,
            )
            .await
        }
        other => error(
            StatusCode::NOT_FOUND,
            format!("no account action {other:?}: disable, enable, unlock, remove-second-factor"),
        ),
    }
}

#[derive(Deserialize)]
pub(crate) struct NewPassword {
    password: String,
}

/// `POST /api/users/{name}/password`: a new password for someone who forgot theirs (admins);
/// their sessions end.
pub(crate) async fn reset_password(
    State(hub): State<Arc<Hub>>,
    AuthUser(user): AuthUser,
    Path(name): Path<String>,
    Json(body): Json<NewPassword>,
) -> Response {
    if let Some(denied) = refused_unless_admin(&user) {
        return denied;
    }
    let answer = json!({"username": name});
    change(
        &hub,
        move |hub| {
            hub.accounts
                .reset_password(&name, &body.password, &user.username)
        },
        answer,
    )
    .await
}

#[derive(Deserialize)]
pub(crate) struct PasswordChange {
    current: String,
    new: String,
}

/// `POST /api/me/password`: a user's own new password, with the current one. This session
/// stays; the account's others end.
pub(crate) async fn change_own_password(
    State(hub): State<Arc<Hub>>,
    AuthUser(user): AuthUser,
    headers: HeaderMap,
    Json(body): Json<PasswordChange>,
) -> Response {
    if let Err(refused) = crate::accounts::check_new_password(&user.username, &body.new) {
        return error(StatusCode::BAD_REQUEST, refused);
    }
    let keep = session_token(&headers).unwrap_or_default();
    let changed = with_password_check(&hub, move |hub| {
        hub.accounts
            .change_password(&user, &body.current, &body.new, &keep, crate::utc_now_ms())
    })
    .await;
    match changed {
        Ok(true) => {
            hub.sessions_changed();
            Json(json!({"changed": true})).into_response()
        }
        Ok(false) => (
            StatusCode::FORBIDDEN,
            Json(json!({"error": "wrong password", "wrong_password": true})),
        )
            .into_response(),
        Err(response) => response,
    }
}

#[derive(Deserialize)]
pub(crate) struct AuditParams {
    before: Option<i64>,
    actor: Option<String>,
    action: Option<String>,
    limit: Option<usize>,
}

/// The most entries one page of the audit log holds.
const AUDIT_PAGE_MAX: usize = 1000;

/// `GET /api/audit?before=ID&actor=NAME&action=ACTION&limit=N` (admins): a page of the audit
/// log, newest first (at most 1,000; 1,000 by default), and whether there is more before it.
/// The first page (no `before`) also says whether the whole chain verifies (a walk of every
/// entry, so not again for each older page: `null` there).
pub(crate) async fn audit(
    State(hub): State<Arc<Hub>>,
    AuthUser(user): AuthUser,
    Query(params): Query<AuditParams>,
) -> Response {
    if let Some(denied) = refused_unless_admin(&user) {
        return denied;
    }
    let query = crate::accounts::AuditQuery {
        before_id: params.before,
        actor: params.actor,
        action: params.action,
        limit: params
            .limit
            .unwrap_or(AUDIT_PAGE_MAX)
            .clamp(1, AUDIT_PAGE_MAX),
    };
    let reading = hub.clone();
    let read = tokio::task::spawn_blocking(move || {
        let entries = reading.accounts.audit_search(&query)?;
        let first_page = query.before_id.is_none();
        let verified = first_page.then(|| reading.accounts.verify_audit().is_ok());
        Ok::<_, anyhow::Error>((entries.len() == query.limit, entries, verified))
    })
    .await;
    match read {
        Ok(Ok((more, entries, verified))) => {
            Json(json!({"entries": entries, "verified": verified, "more": more})).into_response()
        }
        Ok(Err(failed)) => internal(failed),
        Err(failed) => internal(failed.into()),
    }
}
