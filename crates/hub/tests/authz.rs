//! The authorization matrix: roles × facilities × routes, over real HTTP and a real WebSocket
//! against the hub's router; and the audit chain those requests leave behind.

use std::collections::BTreeSet;
use std::sync::Arc;

use ctg_hub::Hub;
use ctg_hub::accounts::Role;
use ctg_hub::store::Write;
use ctg_proto::model::{DeviceInfo, DeviceProtocol, Sample, SampleBlock, StreamIdentity};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// A plain HTTP/1.1 request; (status, set-cookie value, JSON body).
async fn http(
    port: u16,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    body: Option<&str>,
) -> (u16, Option<String>, Value) {
    let body = body.unwrap_or("").as_bytes();
    http_bytes(port, method, path, cookie, "application/json", body).await
}

/// A request with a raw body of a given content type.
async fn http_bytes(
    port: u16,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    content_type: &str,
    body: &[u8],
) -> (u16, Option<String>, Value) {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let cookie = cookie
        .map(|c| format!("Cookie: {c}\r\n"))
        .unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{cookie}Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status: u16 = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let set_cookie = head
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
        .map(|l| {
            l.split_once(':')
                .unwrap()
                .1
                .trim()
                .split(';')
                .next()
                .unwrap()
                .to_owned()
        });
    (
        status,
        set_cookie,
        serde_json::from_str(body).unwrap_or(Value::Null),
    )
}

/// Serves the hub's API on a free loopback port; the port.
async fn serve(hub: &Arc<Hub>) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let serving = hub.clone();
    tokio::spawn(async move { axum::serve(listener, ctg_hub::api::router(serving)).await });
    port
}

fn identity(facility: &str) -> StreamIdentity {
    StreamIdentity {
        facility: facility.into(),
        bridge: "b".into(),
        port: "bed-1".into(),
        episode_start_utc_ms: 1,
    }
}

/// What one WebSocket subscription gets back first: samples, or an error.
type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A WebSocket to the hub on `port` (with a session cookie) that asked for `stream`.
async fn subscribed(port: u16, cookie: Option<&str>, stream: i64) -> Result<Socket, String> {
    let mut request = format!("ws://127.0.0.1:{port}/api/ws")
        .into_client_request()
        .unwrap();
    if let Some(cookie) = cookie {
        request
            .headers_mut()
            .insert("Cookie", cookie.parse().unwrap());
    }
    let (mut ws, _) = tokio_tungstenite::connect_async(request)
        .await
        .map_err(|e| e.to_string())?;
    ws.send(Message::Text(format!("{{\"subscribe\": {stream}}}").into()))
        .await
        .unwrap();
    Ok(ws)
}

async fn subscribe(port: u16, cookie: Option<&str>, stream: i64) -> Result<&'static str, String> {
    let mut ws = subscribed(port, cookie, stream).await?;
    match tokio::time::timeout(std::time::Duration::from_secs(5), ws.next()).await {
        Ok(Some(Ok(Message::Binary(_)))) => Ok("samples"),
        Ok(Some(Ok(Message::Text(text)))) => Err(text.to_string()),
        other => Err(format!("{other:?}")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_lets_each_user_see_exactly_what_their_facility_may() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("hub.db");
    let hub: Arc<Hub> = Hub::open(&db, "hub", "centre").unwrap();
    let device = DeviceInfo::unidentified(DeviceProtocol::Series50);
    let mut ids = Vec::new();
    for facility in ["clinic-a", "clinic-b"] {
        let (record, _, _) = hub.open_stream(&identity(facility), &device).await.unwrap();
        let block = SampleBlock {
            samples: vec![
                Sample {
                    values: [560, 0, 0, 0, 20],
                    ..Sample::default()
                };
                4
            ],
            ..SampleBlock::default()
        };
        assert!(hub.claim_block(record.id, &block));
        hub.commit(vec![Write::Block(record.id, block)])
            .await
            .unwrap();
        ids.push(record.id);
    }
    let (a, b) = (ids[0], ids[1]);
    for (user, role, facility) in [
        ("admin", Role::Admin, "centre"),
        ("ob-centre", Role::Obstetrician, "centre"),
        ("mw-a", Role::Midwife, "clinic-a"),
        ("staff-a", Role::FacilityStaff, "clinic-a"),
        ("staff-b", Role::FacilityStaff, "clinic-b"),
    ] {
        hub.accounts
            .add_user(user, "a long password", role, facility)
            .unwrap();
    }
    // Patients, episodes and attachments at both facilities.
    let mut patients = Vec::new();
    let mut episodes = Vec::new();
    let mut attachments = Vec::new();
    for (facility, stream) in [("clinic-a", a), ("clinic-b", b)] {
        let patient = hub
            .records
            .add_patient(&ctg_hub::records::NewPatient {
                facility: facility.into(),
                patient_ref: format!("MRN-{facility}"),
                name: format!("patient at {facility}"),
                gestational_weeks: Some(39),
                gestational_days: Some(0),
                parity: Some(1),
                notes: String::new(),
            })
            .unwrap();
        episodes.push(hub.records.add_episode(patient, Some(stream)).unwrap());
        attachments.push(
            hub.records
                .add_attachment(
                    patient,
                    "scan.png",
                    "image/png",
                    b"\x89PNG\r\n\x1a\nimage",
                    "admin",
                )
                .unwrap(),
        );
        patients.push(patient);
    }
    let port = serve(&hub).await;

    // Nobody signed in: 401 everywhere, and no WebSocket.
    for (method, path) in [
        ("GET", "/api/me".to_string()),
        ("GET", "/api/streams".into()),
        ("GET", "/api/wall".into()),
        ("GET", format!("/api/streams/{a}/samples")),
        ("GET", "/api/audit".into()),
        ("GET", "/api/status".into()),
        ("POST", "/api/users".into()),
        ("GET", "/api/patients".into()),
        ("GET", format!("/api/patients/{}", patients[0])),
        ("GET", format!("/api/attachments/{}", attachments[0])),
        ("POST", format!("/api/episodes/{}/advice", episodes[0])),
        ("GET", "/api/alerts".into()),
    ] {
        let (status, _, _) = http(port, method, &path, None, Some("{}")).await;
        assert_eq!(status, 401, "{method} {path} without a session");
    }
    assert!(subscribe(port, None, a).await.is_err());
    let (status, _, _) = http(
        port,
        "POST",
        "/api/login",
        None,
        Some(r#"{"username":"mw-a","password":"wrong one"}"#),
    )
    .await;
    assert_eq!(status, 401);
    let (status, _, _) = http(
        port,
        "GET",
        "/api/me",
        Some("mimamori_session=forged"),
        None,
    )
    .await;
    assert_eq!(status, 401);

    // Each user: which streams they list, read, and watch; admin-only routes.
    let expectations: [(&str, &[i64], bool); 5] = [
        ("admin", &[a, b], true),
        ("ob-centre", &[a, b], false),
        ("mw-a", &[a], false),
        ("staff-a", &[a], false),
        ("staff-b", &[b], false),
    ];
    for (user, visible, admin) in expectations {
        let login = format!(r#"{{"username":"{user}","password":"a long password"}}"#);
        let (status, cookie, _) = http(port, "POST", "/api/login", None, Some(&login)).await;
        assert_eq!(status, 200, "{user} signs in");
        let cookie = cookie.unwrap();
        let (_, _, listed) = http(port, "GET", "/api/streams", Some(&cookie), None).await;
        let listed: BTreeSet<i64> = listed
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_i64().unwrap())
            .collect();
        assert_eq!(listed, visible.iter().copied().collect(), "{user} lists");
        let (_, _, wall) = http(port, "GET", "/api/wall", Some(&cookie), None).await;
        let on_wall: BTreeSet<i64> = wall
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_i64().unwrap())
            .collect();
        assert_eq!(on_wall, visible.iter().copied().collect(), "{user}'s wall");
        // The wall carries each bed's labour context (after the first user recorded one).
        if user != "admin" {
            for bed in wall.as_array().unwrap() {
                assert_eq!(bed["labour"]["dilation_cm"]["value"], 6.0, "{bed}");
                assert_eq!(bed["labour"]["temperature_c"]["value"], 38.2, "{bed}");
            }
        }
        for id in [a, b] {
            let may = visible.contains(&id);
            let (status, _, body) = http(
                port,
                "GET",
                &format!("/api/streams/{id}/samples"),
                Some(&cookie),
                None,
            )
            .await;
            assert_eq!(
                status,
                if may { 200 } else { 403 },
                "{user} reads stream {id}"
            );
            if may {
                assert_eq!(body.as_array().unwrap().len(), 1);
            }
            let (status, _, _) = http(
                port,
                "GET",
                &format!("/api/streams/{id}/findings"),
                Some(&cookie),
                None,
            )
            .await;
            assert_eq!(
                status,
                if may { 200 } else { 403 },
                "{user} reads findings of stream {id}"
            );
            let watched = subscribe(port, Some(&cookie), id).await;
            if may {
                assert_eq!(watched, Ok("samples"), "{user} watches stream {id}");
            } else {
                let error = watched.unwrap_err();
                assert!(
                    error.contains("forbidden"),
                    "{user} watches stream {id}: {error}"
                );
            }
        }
        // Patients, their attachments and episodes: the same facility rule.
        let (_, _, listed) = http(port, "GET", "/api/patients", Some(&cookie), None).await;
        let listed: Vec<i64> = listed
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_i64().unwrap())
            .collect();
        for (i, facility_stream) in [a, b].into_iter().enumerate() {
            let may = visible.contains(&facility_stream);
            assert_eq!(
                listed.contains(&patients[i]),
                may,
                "{user} lists patient {i}"
            );
            let expect = if may { 200 } else { 403 };
            let (status, _, _) = http(
                port,
                "GET",
                &format!("/api/patients/{}", patients[i]),
                Some(&cookie),
                None,
            )
            .await;
            assert_eq!(status, expect, "{user} reads patient {i}");
            let (status, _, _) = http(
                port,
                "GET",
                &format!("/api/attachments/{}", attachments[i]),
                Some(&cookie),
                None,
            )
            .await;
            assert_eq!(status, expect, "{user} reads attachment {i}");
            let (status, _, _) = http_bytes(
                port,
                "POST",
                &format!("/api/patients/{}/attachments?name=n.txt", patients[i]),
                Some(&cookie),
                "text/plain",
                b"lab result",
            )
            .await;
            assert_eq!(
                status,
                if may { 201 } else { 403 },
                "{user} attaches to patient {i}"
            );
            let (status, _, _) = http(
                port,
                "POST",
                &format!("/api/episodes/{}/notes", episodes[i]),
                Some(&cookie),
                Some(r#"{"text":"note"}"#),
            )
            .await;
            assert_eq!(
                status,
                if may { 201 } else { 403 },
                "{user} writes a note on episode {i}"
            );
            // Labour observations: whoever may see the episode records them; a value out of
            // range is refused with the reason.
            let (status, _, _) = http(
                port,
                "POST",
                &format!("/api/episodes/{}/observations", episodes[i]),
                Some(&cookie),
                Some(r#"{"dilation_cm":6,"oxytocin_mu_min":4,"temperature_c":38.2}"#),
            )
            .await;
            assert_eq!(
                status,
                if may { 201 } else { 403 },
                "{user} records an observation on episode {i}"
            );
            if may {
                let (status, _, body) = http(
                    port,
                    "POST",
                    &format!("/api/episodes/{}/observations", episodes[i]),
                    Some(&cookie),
                    Some(r#"{"dilation_cm":12}"#),
                )
                .await;
                assert_eq!(status, 400, "{user}: 12 cm");
                assert!(
                    body["error"]
                        .as_str()
                        .unwrap()
                        .contains("dilation (cm) must be 0–10"),
                    "{body}"
                );
                // An examination written up afterwards gives its time; a time that is not one,
                // or a key that is not a field, is refused.
                let earlier = ctg_hub::utc_now_ms() - 30 * 60_000;
                for (body, want) in [
                    (
                        format!(r#"{{"dilation_cm":5,"observed_ms":{earlier}}}"#),
                        201,
                    ),
                    (r#"{"dilation_cm":5,"observed_ms":"09:30"}"#.to_owned(), 400),
                    (r#"{"dilation_cm":5,"dilatation":5}"#.to_owned(), 400),
                ] {
                    let (status, _, answer) = http(
                        port,
                        "POST",
                        &format!("/api/episodes/{}/observations", episodes[i]),
                        Some(&cookie),
                        Some(&body),
                    )
                    .await;
                    assert_eq!(status, want, "{user}: {body}: {answer}");
                }
                // One entered in error is withdrawn, saying why (not twice).
                let (_, _, made) = http(
                    port,
                    "POST",
                    &format!("/api/episodes/{}/observations", episodes[i]),
                    Some(&cookie),
                    Some(r#"{"dilation_cm":9}"#),
                )
                .await;
                let retract = format!(
                    "/api/episodes/{}/observations/{}/retract",
                    episodes[i], made["id"]
                );
                for (body, want) in [
                    (r#"{"reason":" "}"#, 400),
                    (r#"{"reason":"wrong patient"}"#, 200),
                    (r#"{"reason":"again"}"#, 400),
                ] {
                    let (status, _, answer) =
                        http(port, "POST", &retract, Some(&cookie), Some(body)).await;
                    assert_eq!(status, want, "{user}: {body}: {answer}");
                }
            } else {
                let (status, _, _) = http(
                    port,
                    "POST",
                    &format!("/api/episodes/{}/observations/1/retract", episodes[i]),
                    Some(&cookie),
                    Some(r#"{"reason":"not mine"}"#),
                )
                .await;
                assert_eq!(status, 403, "{user} withdraws on episode {i}");
            }
            // Advice comes from the centre only.
            let centre = user == "admin" || user == "ob-centre";
            let (status, _, _) = http(
                port,
                "POST",
                &format!("/api/episodes/{}/advice", episodes[i]),
                Some(&cookie),
                Some(r#"{"action":"conservative_measures","text":"left lateral"}"#),
            )
            .await;
            assert_eq!(
                status,
                if !may {
                    403
                } else if centre {
                    201
                } else {
                    403
                },
                "{user} advises on episode {i}"
            );
            if may && centre {
                // An escalation names the bedside carer it was confirmed with.
                let (status, _, body) = http(
                    port,
                    "POST",
                    &format!("/api/episodes/{}/advice", episodes[i]),
                    Some(&cookie),
                    Some(r#"{"action":"maternal_transport","text":"to the centre"}"#),
                )
                .await;
                assert_eq!(status, 400, "{user}: an unconfirmed transfer");
                assert!(
                    body["error"].as_str().unwrap().contains("bedside carer"),
                    "{body}"
                );
                let (status, _, _) = http(
                    port,
                    "POST",
                    &format!("/api/episodes/{}/advice", episodes[i]),
                    Some(&cookie),
                    Some(
                        r#"{"action":"maternal_transport","text":"to the centre","confirmed_with":"midwife Sato"}"#,
                    ),
                )
                .await;
                assert_eq!(status, 201, "{user}: a confirmed transfer");
            }
        }
        // An HTML page posing as an image is refused.
        if visible.contains(&a) {
            let (status, _, _) = http_bytes(
                port,
                "POST",
                &format!("/api/patients/{}/attachments", patients[0]),
                Some(&cookie),
                "image/png",
                b"<html><script>alert(1)</script>",
            )
            .await;
            assert_eq!(status, 400, "{user} uploads a disguised page");
        }
        let (status, _, _) = http(port, "GET", "/api/audit", Some(&cookie), None).await;
        assert_eq!(
            status,
            if admin { 200 } else { 403 },
            "{user} reads the audit log"
        );
        let new_user = format!(
            r#"{{"username":"new-{user}","password":"a long password","role":"midwife","facility":"clinic-a"}}"#
        );
        let (status, _, _) = http(port, "POST", "/api/users", Some(&cookie), Some(&new_user)).await;
        assert_eq!(status, if admin { 201 } else { 403 }, "{user} adds a user");
        let (status, _, _) = http(port, "POST", "/api/logout", Some(&cookie), None).await;
        assert_eq!(status, 200);
        let (status, _, _) = http(port, "GET", "/api/me", Some(&cookie), None).await;
        assert_eq!(status, 401, "{user}'s session ends at logout");
    }

    // Everything above is in the audit log, and the chain holds.
    let accounts = ctg_hub::accounts::Accounts::open(&db, "centre").unwrap();
    let entries = accounts.verify_audit().unwrap();
    let log = accounts.audit_log(10_000).unwrap();
    assert_eq!(log.len() as u64, entries);
    let count = |action: &str| log.iter().filter(|e| e.action == action).count();
    assert_eq!(count("login_failed"), 1);
    assert_eq!(count("login"), 5);
    assert_eq!(count("view_history"), 7, "one per permitted history read");
    assert_eq!(count("view_stream"), 7, "one per permitted subscription");
    assert_eq!(count("user_added"), 1);
    assert_eq!(
        count("advice"),
        8,
        "two centre users × two episodes × (measures, confirmed transfer)"
    );
    assert!(
        log.iter()
            .any(|e| e.action == "advice" && e.target.ends_with("(confirmed with midwife Sato)"))
    );
    assert_eq!(
        count("observation"),
        21,
        "three per permitted episode: one, one written up afterwards, one withdrawn (admin 2 × 3, \
         ob 2 × 3, three facility users 3 each)"
    );
    assert_eq!(
        log.iter()
            .filter(|e| e.action == "observation" && e.target.contains(" observed at "))
            .count(),
        7,
        "the audit says when one written up afterwards was made"
    );
    assert_eq!(
        count("observation_retracted"),
        7,
        "one per permitted episode"
    );
    assert_eq!(count("view_patient"), 7);
}

/// Sign-in over HTTP as the safety guideline asks of repeated wrong passwords: after five in a
/// row a username is refused (429, with when to try again) even with the right password, an
/// unknown username the same, other users untouched; the lock is audited once, the refused
/// attempts during it not at all; an administrator lifts it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_wrong_passwords_lock_a_username_until_it_expires_or_an_admin_lifts_it() {
    let dir = tempfile::tempdir().unwrap();
    let hub: Arc<Hub> = Hub::open(&dir.path().join("hub.db"), "hub", "centre").unwrap();
    for (user, role) in [
        ("admin", Role::Admin),
        ("mw-a", Role::Midwife),
        ("mw-b", Role::Midwife),
    ] {
        hub.accounts
            .add_user(user, "a long password", role, "centre")
            .unwrap();
    }
    let port = serve(&hub).await;
    let sign_in = |username: &'static str, password: &'static str| async move {
        let body = serde_json::json!({"username": username, "password": password}).to_string();
        http(port, "POST", "/api/login", None, Some(&body)).await
    };

    for username in ["mw-a", "nobody"] {
        for n in 0..5 {
            let (status, cookie, _) = sign_in(username, "not the password").await;
            assert_eq!(
                (status, cookie),
                (401, None),
                "{username}: wrong password {n}"
            );
        }
        // Locked: the right password is not even checked.
        let (status, cookie, body) = sign_in(username, "a long password").await;
        assert_eq!((status, cookie), (429, None), "{username}: {body}");
        let retry = body["retry_after_s"].as_i64().unwrap();
        assert!((890..=900).contains(&retry), "{retry} s");
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .contains("try again in 15 min"),
            "{body}"
        );
    }
    // A known and an unknown username answer alike; others sign in as ever.
    let (status, cookie, _) = sign_in("mw-b", "a long password").await;
    assert_eq!(status, 200);
    let mw_b = cookie.unwrap();
    let (status, admin_cookie, _) = sign_in("admin", "a long password").await;
    assert_eq!(status, 200);
    let admin = admin_cookie.unwrap();

    let audit = hub.accounts.audit_log(1000).unwrap();
    let count = |action: &str, target: &str| {
        audit
            .iter()
            .filter(|e| e.action == action && e.target.starts_with(target))
            .count()
    };
    assert_eq!(count("login_failed", "mw-a"), 5);
    assert_eq!(count("login_locked", "mw-a "), 1);
    assert_eq!(count("login_locked", "nobody "), 1);
    assert_eq!(count("login", "centre"), 2, "mw-b and admin only");
    assert_eq!(hub.accounts.signins_refused_while_locked(), 2);
    // Every attempt but the two refused by a lock checked a password hash, the unknown
    // username's too (so its answer takes as long as a known one's).
    assert_eq!(hub.accounts.password_checks(), 5 + 5 + 2);

    // Only an administrator lifts a lock.
    let (status, _, _) = http(port, "POST", "/api/users/mw-a/unlock", Some(&mw_b), None).await;
    assert_eq!(status, 403);
    let (status, _, body) = http(port, "POST", "/api/users/mw-a/unlock", Some(&admin), None).await;
    assert_eq!((status, body["was_locked"].as_bool()), (200, Some(true)));
    let (status, _, _) = sign_in("mw-a", "a long password").await;
    assert_eq!(status, 200, "unlocked");
    let audit = hub.accounts.audit_log(1000).unwrap();
    assert!(
        audit
            .iter()
            .any(|e| e.action == "login_unlocked" && e.actor == "admin"),
        "the unlock is audited with who did it"
    );
    // A username of a megabyte is refused like any other and written into the audit log cut
    // short (the log is append-only: what an attempt may write into it is bounded).
    let huge = "x".repeat(1 << 20);
    let body = serde_json::json!({"username": huge, "password": "p"}).to_string();
    let (status, _, _) = http(port, "POST", "/api/login", None, Some(&body)).await;
    assert_eq!(status, 401);
    let audit = hub.accounts.audit_log(1000).unwrap();
    let written = audit
        .iter()
        .rev()
        .find(|e| e.action == "login_failed")
        .unwrap();
    assert!(written.target.len() <= 84 && written.target.ends_with('…'));
    hub.accounts.verify_audit().unwrap();
}

/// A code from pyotp (an authenticator implementation nobody here wrote) for the `otpauth://`
/// URI the hub hands out, `ahead_s` seconds from now.
fn pyotp_code(uri: &str, ahead_s: u32) -> String {
    let python = std::env::var_os("MIMAMORI_PYTHON").unwrap_or_else(|| "python3".into());
    let out = std::process::Command::new(python)
        .args([
            "-c",
            "import pyotp, sys, time; print(pyotp.parse_uri(sys.argv[1]).at(time.time() + int(sys.argv[2])))",
            uri,
            &ahead_s.to_string(),
        ])
        .output()
        .expect("python");
    assert!(
        out.status.success(),
        "pyotp: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// The second factor over HTTP: a user enrolled is asked for the authenticator's code after
/// the right password, signs in with the code pyotp computes from the URI the hub gave, and
/// cannot use that code twice; a wrong code is refused and audited; with the second factor
/// required, a user without one is refused while the enrolled one signs in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_with_a_second_factor_signs_in_with_the_authenticators_code_once() {
    let dir = tempfile::tempdir().unwrap();
    let hub: Arc<Hub> = Hub::open(&dir.path().join("hub.db"), "hub", "centre").unwrap();
    for user in ["ob-remote", "mw-a"] {
        hub.accounts
            .add_user(user, "a long password", Role::Obstetrician, "centre")
            .unwrap();
    }
    let secret = hub
        .accounts
        .enrol_second_factor("ob-remote", "admin")
        .unwrap();
    let uri = ctg_hub::totp::otpauth_uri(&secret, "ob-remote", "Mimamori");
    let port = serve(&hub).await;
    let sign_in = |username: &'static str, code: Option<String>| async move {
        let body =
            serde_json::json!({"username": username, "password": "a long password", "code": code})
                .to_string();
        http(port, "POST", "/api/login", None, Some(&body)).await
    };

    // The right password alone: asked for the code, no session.
    let (status, cookie, body) = sign_in("ob-remote", None).await;
    assert_eq!(
        (status, cookie, body["code_required"].as_bool()),
        (401, None, Some(true))
    );
    // A wrong code: refused.
    let code = pyotp_code(&uri, 0);
    let wrong = format!(
        "{:06}",
        (code.parse::<u32>().unwrap() + 500_000) % 1_000_000
    );
    let (status, cookie, _) = sign_in("ob-remote", Some(wrong)).await;
    assert_eq!((status, cookie), (401, None));
    // The authenticator's code: signed in.
    let (status, cookie, body) = sign_in("ob-remote", Some(code.clone())).await;
    assert_eq!(status, 200, "{body}");
    assert!(cookie.is_some());
    // The same code again (seen over a shoulder): refused.
    let (status, cookie, _) = sign_in("ob-remote", Some(code)).await;
    assert_eq!((status, cookie), (401, None), "a code is taken once");
    // A user without a second factor signs in with the password until the hub requires one.
    let (status, _, _) = sign_in("mw-a", None).await;
    assert_eq!(status, 200);
    hub.accounts.require_second_factor(true);
    let (status, cookie, body) = sign_in("mw-a", None).await;
    assert_eq!(
        (status, cookie, body["second_factor_missing"].as_bool()),
        (403, None, Some(true))
    );
    // The next 30-s step's code (accepted a step early, for clock drift).
    let (status, _, body) = sign_in("ob-remote", Some(pyotp_code(&uri, 30))).await;
    assert_eq!(status, 200, "{body}");

    let audit = hub.accounts.audit_log(1000).unwrap();
    let actions: Vec<(&str, &str)> = audit
        .iter()
        .map(|e| (e.action.as_str(), e.target.as_str()))
        .filter(|(a, _)| a.starts_with("totp") || a.starts_with("login"))
        .collect();
    assert_eq!(
        actions,
        [
            ("totp_enrolled", "ob-remote"),
            ("login_failed", "ob-remote (code)"),
            ("login", "centre"),
            ("login_failed", "ob-remote (code)"),
            ("login", "centre"),
            ("login_refused", "mw-a (no second factor)"),
            ("login", "centre"),
        ]
    );
}

/// A signed-in user sets up their own second factor from the viewer's account page, giving
/// the password again: the hub gives a secret, its URI and a QR code; nothing changes until a
/// code from that secret is confirmed (a wrong one is refused); then every sign-in asks for a
/// code, the confirming code itself not taken again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_sets_up_their_own_second_factor_and_it_takes_effect_once_confirmed() {
    let dir = tempfile::tempdir().unwrap();
    let hub: Arc<Hub> = Hub::open(&dir.path().join("hub.db"), "hub", "centre").unwrap();
    hub.accounts
        .add_user("mw-a", "a long password", Role::Midwife, "clinic-a")
        .unwrap();
    let port = serve(&hub).await;
    let sign_in = |code: Option<String>| async move {
        let body =
            serde_json::json!({"username": "mw-a", "password": "a long password", "code": code})
                .to_string();
        http(port, "POST", "/api/login", None, Some(&body)).await
    };
    let (status, cookie, _) = sign_in(None).await;
    assert_eq!(status, 200);
    let cookie = cookie.unwrap();
    let (_, _, me) = http(port, "GET", "/api/me", Some(&cookie), None).await;
    assert_eq!(me["second_factor"], false);
    // Not without a session.
    let start = |cookie: Option<String>, password: &'static str| async move {
        let body = serde_json::json!({ "password": password }).to_string();
        http(
            port,
            "POST",
            "/api/me/second-factor",
            cookie.as_deref(),
            Some(&body),
        )
        .await
    };
    let (status, _, _) = start(None, "a long password").await;
    assert_eq!(status, 401);
    // The password is asked again: a session alone cannot replace the factor.
    let (status, _, body) = start(Some(cookie.clone()), "not it").await;
    assert_eq!(
        (status, body["wrong_password"].as_bool()),
        (403, Some(true))
    );
    // Guessing the password through the open session locks the username like sign-in does:
    // after 4 more wrong ones (5 in all) even the right one is refused here, until an admin
    // lifts it.
    for _ in 0..4 {
        assert_eq!(start(Some(cookie.clone()), "not it").await.0, 403);
    }
    let (status, _, _) = start(Some(cookie.clone()), "a long password").await;
    assert_eq!(status, 403, "locked");
    hub.accounts.unlock("mw-a", "admin").unwrap();

    let (status, _, started) = start(Some(cookie.clone()), "a long password").await;
    assert_eq!(status, 200);
    let uri = started["uri"].as_str().unwrap().to_owned();
    assert!(uri.contains(&format!("secret={}", started["secret"].as_str().unwrap())));
    assert!(started["qr_svg"].as_str().unwrap().starts_with("<?xml"));
    // Pending: the password alone still signs in.
    let (status, _, _) = sign_in(None).await;
    assert_eq!(status, 200, "nothing changes before the confirmation");
    let code = pyotp_code(&uri, 0);
    let wrong = format!(
        "{:06}",
        (code.parse::<u32>().unwrap() + 500_000) % 1_000_000
    );
    let confirm = |code: String| {
        let cookie = cookie.clone();
        async move {
            let body = serde_json::json!({ "code": code }).to_string();
            http(
                port,
                "POST",
                "/api/me/second-factor/confirm",
                Some(&cookie),
                Some(&body),
            )
            .await
        }
    };
    assert_eq!(confirm(wrong).await.0, 400);
    assert_eq!(confirm(code.clone()).await.0, 200);
    let (_, _, me) = http(port, "GET", "/api/me", Some(&cookie), None).await;
    assert_eq!(me["second_factor"], true);

    let (status, _, body) = sign_in(None).await;
    assert_eq!((status, body["code_required"].as_bool()), (401, Some(true)));
    let (status, _, _) = sign_in(Some(code)).await;
    assert_eq!(status, 401, "the confirming code is used");
    let (status, _, body) = sign_in(Some(pyotp_code(&uri, 30))).await;
    assert_eq!(status, 200, "{body}");
    let audit = hub.accounts.audit_log(100).unwrap();
    for action in ["totp_refused", "totp_started", "totp_enrolled"] {
        assert!(
            audit
                .iter()
                .any(|e| e.action == action && e.actor == "mw-a"),
            "{action} audited"
        );
    }
}

/// The administrators' account management over HTTP: only an admin lists and changes
/// accounts; disabling someone ends their sessions and closes their open WebSocket at once;
/// the last administrator stays; a new password (an admin's reset or the user's own change)
/// ends the other sessions; every change is audited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_administrator_manages_accounts_and_a_disabled_user_is_signed_out_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let hub: Arc<Hub> = Hub::open(&dir.path().join("hub.db"), "hub", "centre").unwrap();
    for (user, role, facility) in [
        ("admin", Role::Admin, "centre"),
        ("mw-a", Role::Midwife, "clinic-a"),
    ] {
        hub.accounts
            .add_user(user, "a long password", role, facility)
            .unwrap();
    }
    hub.accounts.enrol_second_factor("admin", "admin").unwrap();
    hub.accounts.remove_second_factor("admin", "admin").unwrap();
    let port = serve(&hub).await;
    let sign_in = |user: &'static str, password: &'static str| async move {
        let body = serde_json::json!({"username": user, "password": password}).to_string();
        http(port, "POST", "/api/login", None, Some(&body)).await
    };
    let post = |cookie: String, path: String, body: Value| async move {
        http(port, "POST", &path, Some(&cookie), Some(&body.to_string())).await
    };
    let (_, admin, _) = sign_in("admin", "a long password").await;
    let admin = admin.unwrap();
    let (_, midwife, _) = sign_in("mw-a", "a long password").await;
    let midwife = midwife.unwrap();

    // Not for anyone else.
    assert_eq!(
        http(port, "GET", "/api/users", Some(&midwife), None)
            .await
            .0,
        403
    );
    for action in [
        "disable",
        "enable",
        "password",
        "unlock",
        "remove-second-factor",
    ] {
        let (status, _, _) = post(
            midwife.clone(),
            format!("/api/users/admin/{action}"),
            serde_json::json!({"password": "taken over now"}),
        )
        .await;
        assert_eq!(status, 403, "a midwife may not {action}");
    }
    let (status, _, listed) = http(port, "GET", "/api/users", Some(&admin), None).await;
    assert_eq!(status, 200);
    let users = listed["users"].as_array().unwrap();
    assert_eq!(users.len(), 2);
    assert_eq!(users[1]["username"], "mw-a");
    assert_eq!(users[1]["role"], "midwife");
    assert_eq!(users[1]["facility"], "clinic-a");
    assert!(users[1]["last_signin_ms"].as_i64().is_some());
    assert!(users[1]["disabled_ms"].is_null());

    // Her WebSocket is open when she is disabled: it closes as signed out, within seconds,
    // not at the next periodic check.
    let mut request = format!("ws://127.0.0.1:{port}/api/ws")
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("Cookie", midwife.parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let (status, _, _) = post(admin.clone(), "/api/users/mw-a/disable".into(), Value::Null).await;
    assert_eq!(status, 200);
    let closed = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                Some(Ok(_)) => continue,
                _ => return None,
            }
        }
    })
    .await
    .expect("the WebSocket closes within 5 s");
    assert_eq!(closed, Some(ctg_hub::api::CLOSE_SIGNED_OUT));
    assert_eq!(
        http(port, "GET", "/api/me", Some(&midwife), None).await.0,
        401
    );
    let (status, _, body) = sign_in("mw-a", "a long password").await;
    assert_eq!((status, body["disabled"].as_bool()), (403, Some(true)));
    let (status, _, body) = post(
        admin.clone(),
        "/api/users/admin/disable".into(),
        Value::Null,
    )
    .await;
    assert_eq!(status, 400, "the last administrator: {body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("last enabled administrator")
    );
    let (status, _, _) = post(admin.clone(), "/api/users/mw-a/enable".into(), Value::Null).await;
    assert_eq!(status, 200);
    // A lost phone: the admin removes her second factor; an unknown action is not found.
    hub.accounts.enrol_second_factor("mw-a", "admin").unwrap();
    let (status, _, _) = post(
        admin.clone(),
        "/api/users/mw-a/remove-second-factor".into(),
        Value::Null,
    )
    .await;
    assert_eq!(status, 200);
    let (_, _, listed) = http(port, "GET", "/api/users", Some(&admin), None).await;
    assert_eq!(listed["users"][1]["second_factor"], false);
    let (status, _, _) = post(admin.clone(), "/api/users/mw-a/promote".into(), Value::Null).await;
    assert_eq!(status, 404);

    // A new password from the admin: her sessions end, the new one signs in.
    let (_, before_reset, _) = sign_in("mw-a", "a long password").await;
    let before_reset = before_reset.unwrap();
    let (status, _, _) = post(
        admin.clone(),
        "/api/users/mw-a/password".into(),
        serde_json::json!({"password": "short"}),
    )
    .await;
    assert_eq!(status, 400, "too short");
    let (status, _, _) = post(
        admin.clone(),
        "/api/users/mw-a/password".into(),
        serde_json::json!({"password": "a fresh password"}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        http(port, "GET", "/api/me", Some(&before_reset), None)
            .await
            .0,
        401
    );
    let (_, here, _) = sign_in("mw-a", "a fresh password").await;
    let here = here.unwrap();
    let (_, elsewhere, _) = sign_in("mw-a", "a fresh password").await;
    let elsewhere = elsewhere.unwrap();

    // Her own change: the current password is asked; this session stays, the other ends.
    let change = |current: &'static str, new: &'static str| {
        post(
            here.clone(),
            "/api/me/password".into(),
            serde_json::json!({"current": current, "new": new}),
        )
    };
    assert_eq!(change("not the one", "only she knows").await.0, 403);
    assert_eq!(change("a fresh password", "mw-a").await.0, 400);
    assert_eq!(change("a fresh password", "only she knows").await.0, 200);
    assert_eq!(http(port, "GET", "/api/me", Some(&here), None).await.0, 200);
    assert_eq!(
        http(port, "GET", "/api/me", Some(&elsewhere), None).await.0,
        401
    );
    assert_eq!(sign_in("mw-a", "only she knows").await.0, 200);

    // An account added from the page follows the same password rules.
    let (status, _, _) = post(
        admin.clone(),
        "/api/users".into(),
        serde_json::json!({"username": "ob-b", "password": "short", "role": "obstetrician", "facility": "clinic-b"}),
    )
    .await;
    assert_eq!(status, 400);
    // The audit-log page: by actor and action, a page at a time, admins only.
    let (status, _, page) = http(
        port,
        "GET",
        "/api/audit?actor=admin&action=user_disabled",
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let entries = page["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{page}");
    assert_eq!(entries[0]["target"], "mw-a");
    assert_eq!(
        (page["verified"].as_bool(), page["more"].as_bool()),
        (Some(true), Some(false))
    );
    let (_, _, newest) = http(port, "GET", "/api/audit?limit=1", Some(&admin), None).await;
    assert_eq!(newest["more"].as_bool(), Some(true));
    let before = newest["entries"][0]["id"].as_i64().unwrap();
    let (_, _, older) = http(
        port,
        "GET",
        &format!("/api/audit?limit=2&before={before}"),
        Some(&admin),
        None,
    )
    .await;
    let ids: Vec<i64> = older["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [before - 1, before - 2]);
    let (_, here, _) = sign_in("mw-a", "only she knows").await;
    assert_eq!(
        http(port, "GET", "/api/audit", here.as_deref(), None)
            .await
            .0,
        403
    );
    let audit = hub.accounts.audit_log(200).unwrap();
    for (actor, action) in [
        ("admin", "user_disabled"),
        ("-", "login_refused"),
        ("admin", "user_enabled"),
        ("admin", "password_reset"),
        ("mw-a", "password_refused"),
        ("mw-a", "password_changed"),
    ] {
        assert!(
            audit.iter().any(|e| e.actor == actor && e.action == action),
            "{actor} {action} audited"
        );
    }
}

/// A session says when it ends, and a signed-in user renews it by signing in again from the
/// same page: the password (and the code, for a user with a second factor) as at sign-in; a
/// new cookie; the old one kept for two minutes so the page's connections can move.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_is_renewed_by_signing_in_again_before_it_ends() {
    let dir = tempfile::tempdir().unwrap();
    let hub: Arc<Hub> = Hub::open(&dir.path().join("hub.db"), "hub", "centre").unwrap();
    hub.accounts
        .add_user("mw-a", "a long password", Role::Midwife, "clinic-a")
        .unwrap();
    hub.accounts.set_session_hours(8).unwrap();
    let port = serve(&hub).await;
    let body = r#"{"username":"mw-a","password":"a long password"}"#;
    let before = ctg_hub::utc_now_ms();
    let (status, old, signed) = http(port, "POST", "/api/login", None, Some(body)).await;
    assert_eq!(status, 200);
    let old = old.unwrap();
    let ends = signed["session_expires_ms"].as_i64().unwrap();
    assert!((before + 8 * 3_600_000..before + 8 * 3_600_000 + 60_000).contains(&ends));
    let (_, _, me) = http(port, "GET", "/api/me", Some(&old), None).await;
    assert_eq!(me["session_expires_ms"].as_i64(), Some(ends));

    let renew = |password: &'static str| {
        let old = old.clone();
        async move {
            let body = serde_json::json!({ "password": password }).to_string();
            http(port, "POST", "/api/me/renew", Some(&old), Some(&body)).await
        }
    };
    let (status, cookie, _) = renew("not it").await;
    assert_eq!((status, cookie), (401, None));
    let (status, new, renewed) = renew("a long password").await;
    assert_eq!(status, 200, "{renewed}");
    let new = new.unwrap();
    assert_ne!(new, old);
    let (_, _, me_new) = http(port, "GET", "/api/me", Some(&new), None).await;
    assert!(me_new["session_expires_ms"].as_i64().unwrap() >= ends);
    let (status, _, me_old) = http(port, "GET", "/api/me", Some(&old), None).await;
    assert_eq!(status, 200, "the old cookie still works for a moment");
    assert!(
        me_old["session_expires_ms"].as_i64().unwrap()
            <= ctg_hub::utc_now_ms() + ctg_hub::accounts::RENEWED_SESSION_GRACE_MS
    );
    // Renewal is a sign-in: with a second factor, it asks for the code.
    hub.accounts.enrol_second_factor("mw-a", "admin").unwrap();
    let body = serde_json::json!({ "password": "a long password" }).to_string();
    let (status, _, asked) = http(port, "POST", "/api/me/renew", Some(&new), Some(&body)).await;
    assert_eq!(
        (status, asked["code_required"].as_bool()),
        (401, Some(true))
    );
    // Not without a session.
    let (status, _, _) = http(port, "POST", "/api/me/renew", None, Some(&body)).await;
    assert_eq!(status, 401);
}

/// A Series 50 monitor, as a stream's device.
fn series50() -> DeviceInfo {
    DeviceInfo::unidentified(DeviceProtocol::Series50)
}

/// Ending a bed's monitoring over HTTP: only whoever may see the stream, never while its
/// monitor still sends, never without a reason; the bed leaves the wall (also after a
/// restart), what its bridge backfills from before the ending leaves it off, and anything
/// recorded after the ending brings it back. Each step is audited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ending_a_beds_monitoring_takes_it_off_the_wall_until_its_monitor_sends_again() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("hub.db");
    let device = series50();
    let block = |first_seq: u64, utc_ms: i64| SampleBlock {
        first_seq,
        utc_ms,
        samples: vec![
            Sample {
                values: [560, 0, 0, 0, 20],
                ..Sample::default()
            };
            4
        ],
        ..SampleBlock::default()
    };
    let send = async |hub: &Arc<Hub>, stream: i64, block: SampleBlock| {
        assert!(hub.claim_block(stream, &block));
        hub.commit(vec![Write::Block(stream, block)]).await.unwrap();
    };
    let (sending, finished) = {
        let hub: Arc<Hub> = Hub::open(&db, "hub", "centre").unwrap();
        for (user, facility) in [("mw-a", "clinic-a"), ("staff-b", "clinic-b")] {
            hub.accounts
                .add_user(user, "a long password", Role::Midwife, facility)
                .unwrap();
        }
        let (sending, _, _) = hub
            .open_stream(&identity("clinic-a"), &device)
            .await
            .unwrap();
        send(&hub, sending.id, block(0, ctg_hub::utc_now_ms())).await;
        let finished = StreamIdentity {
            port: "bed-2".into(),
            ..identity("clinic-a")
        };
        let (finished, _, _) = hub.open_stream(&finished, &device).await.unwrap();
        let port = serve(&hub).await;
        let sign_in = async |user: &str| {
            let login = format!(r#"{{"username":"{user}","password":"a long password"}}"#);
            http(port, "POST", "/api/login", None, Some(&login))
                .await
                .1
                .unwrap()
        };
        let (mw_a, staff_b) = (sign_in("mw-a").await, sign_in("staff-b").await);
        let end = async |cookie: &str, stream: i64, reason: &str| {
            let body = format!(r#"{{"reason":"{reason}"}}"#);
            let path = format!("/api/streams/{stream}/end");
            let (status, _, answer) = http(port, "POST", &path, Some(cookie), Some(&body)).await;
            (status, answer)
        };
        let (status, answer) = end(&mw_a, sending.id, "delivered").await;
        assert_eq!(status, 409, "a monitor still sending: {answer}");
        assert!(
            answer["error"].as_str().unwrap().contains("still sending"),
            "{answer}"
        );
        assert_eq!(
            end(&staff_b, finished.id, "delivered").await.0,
            403,
            "another facility's bed"
        );
        assert_eq!(end(&mw_a, finished.id, " ").await.0, 400, "no reason");
        assert_eq!(end(&mw_a, 999, "delivered").await.0, 404);
        let (status, answer) = end(&mw_a, finished.id, "delivered 14:32").await;
        assert_eq!(status, 200, "{answer}");
        let (_, _, wall) = http(port, "GET", "/api/wall", Some(&mw_a), None).await;
        let beds: Vec<(i64, bool)> = wall
            .as_array()
            .unwrap()
            .iter()
            .map(|b| (b["id"].as_i64().unwrap(), b["ended_ms"].is_i64()))
            .collect();
        assert_eq!(
            beds,
            vec![(sending.id, false), (finished.id, true)],
            "the ended bed is marked (the wall lists it apart, for a day)"
        );
        (sending.id, finished.id)
    };

    // A day later (the ending moved back 25 hours in the database) and after a restart: not
    // listed with the wall any more, but its chart still finds it (`also`). Its bridge
    // backfills what it recorded before the ending: still off. It records again: back.
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute(
            "UPDATE stream_endings SET at_ms = at_ms - 25 * 3600 * 1000",
            [],
        )
        .unwrap();
    let hub: Arc<Hub> = Hub::open(&db, "hub", "centre").unwrap();
    let port = serve(&hub).await;
    let login = r#"{"username":"mw-a","password":"a long password"}"#;
    let mw_a = http(port, "POST", "/api/login", None, Some(login))
        .await
        .1
        .unwrap();
    let on_wall = async || -> Vec<i64> {
        let (_, _, wall) = http(port, "GET", "/api/wall", Some(&mw_a), None).await;
        let mut beds: Vec<i64> = wall
            .as_array()
            .unwrap()
            .iter()
            .filter(|b| b["ended_ms"].is_null())
            .map(|b| b["id"].as_i64().unwrap())
            .collect();
        beds.sort();
        beds
    };
    assert_eq!(on_wall().await, vec![sending]);
    let listed = async |path: &str| -> Vec<(i64, bool)> {
        let (_, _, wall) = http(port, "GET", path, Some(&mw_a), None).await;
        wall.as_array()
            .unwrap()
            .iter()
            .map(|b| (b["id"].as_i64().unwrap(), b["ended_ms"].is_i64()))
            .collect()
    };
    assert_eq!(listed("/api/wall").await, vec![(sending, false)]);
    assert_eq!(
        listed(&format!("/api/wall?also={finished}")).await,
        vec![(sending, false), (finished, true)]
    );
    let bed_2 = StreamIdentity {
        port: "bed-2".into(),
        ..identity("clinic-a")
    };
    let (reopened, _, _) = hub.open_stream(&bed_2, &device).await.unwrap();
    assert_eq!(reopened.id, finished);
    send(
        &hub,
        finished,
        block(0, ctg_hub::utc_now_ms() - 26 * 3_600_000),
    )
    .await;
    assert_eq!(
        on_wall().await,
        vec![sending],
        "a backfill from before the ending"
    );
    // The bridge's fill for the hours its monitor sent nothing (stamped after the ending):
    // not the monitor sending again.
    let filler = SampleBlock {
        flags: ctg_proto::model::BlockFlags(ctg_proto::model::BlockFlags::SAMPLES_INSERTED),
        samples: vec![
            Sample {
                values: [0; 5],
                quality: [ctg_proto::model::Quality::None; 5],
                ..Sample::default()
            };
            4
        ],
        ..block(4, ctg_hub::utc_now_ms() - 1_000)
    };
    assert!(filler.is_filler());
    send(&hub, finished, filler).await;
    assert_eq!(
        on_wall().await,
        vec![sending],
        "a time the monitor sent nothing"
    );
    send(&hub, finished, block(8, ctg_hub::utc_now_ms() + 1_000)).await;
    assert_eq!(
        on_wall().await,
        vec![sending, finished],
        "recorded after the ending"
    );
    let log = hub.accounts.audit_log(1_000).unwrap();
    for action in ["monitoring_ended", "monitoring_resumed"] {
        assert_eq!(
            log.iter().filter(|e| e.action == action).count(),
            1,
            "{action}"
        );
    }
    assert!(
        log.iter()
            .any(|e| e.action == "monitoring_ended" && e.target.ends_with("delivered 14:32"))
    );
}

/// Whether data came after a bed's monitoring ended is judged on the hub's clock: a bridge
/// whose clock is behind does not make new data look like a backfill (and keep a live bed off
/// the wall), nor does one ahead make a backfill look new.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_after_an_ending_is_judged_on_the_hubs_clock() {
    let dir = tempfile::tempdir().unwrap();
    let hub: Arc<Hub> = Hub::open(&dir.path().join("hub.db"), "hub", "centre").unwrap();
    let device = series50();
    let (stream, _, _) = hub
        .open_stream(&identity("clinic-a"), &device)
        .await
        .unwrap();
    hub.end_monitoring(stream.id, "mw-a", "delivered").unwrap();
    // The bridge's clock runs 100 s behind the hub's.
    for _ in 0..3 {
        hub.bridge_clock("b", "clinic-a", ctg_hub::utc_now_ms() - 100_000);
    }
    let mut seq = 0;
    let mut send = async |bridge_utc_ms: i64| {
        let block = SampleBlock {
            first_seq: seq,
            utc_ms: bridge_utc_ms,
            samples: vec![
                Sample {
                    values: [560, 0, 0, 0, 20],
                    ..Sample::default()
                };
                4
            ],
            ..SampleBlock::default()
        };
        seq += 4;
        assert!(hub.claim_block(stream.id, &block));
        hub.commit(vec![Write::Block(stream.id, block)])
            .await
            .unwrap();
    };
    // Recorded 150 s before the ending (by the hub's clock): a backfill.
    send(ctg_hub::utc_now_ms() - 250_000).await;
    assert!(hub.is_ended(stream.id), "a backfill keeps it ended");
    // Stamped 60 s ago by the bridge's clock: 40 s after the ending by the hub's.
    send(ctg_hub::utc_now_ms() - 60_000).await;
    assert!(!hub.is_ended(stream.id), "recorded after the ending: back");
}

/// A bridge's fill for a time its monitor sent nothing (possibly days of no signal, sent in one
/// go when the monitor comes back) reaches a live viewer as the gap it is, not as samples for
/// the browser to hold; the samples before and after it come as samples.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_is_told_a_monitors_silence_as_a_gap_not_sent_its_samples() {
    let dir = tempfile::tempdir().unwrap();
    let hub: Arc<Hub> = Hub::open(&dir.path().join("hub.db"), "hub", "centre").unwrap();
    hub.accounts
        .add_user("mw-a", "a long password", Role::Midwife, "clinic-a")
        .unwrap();
    let (stream, _, _) = hub
        .open_stream(&identity("clinic-a"), &series50())
        .await
        .unwrap();
    let port = serve(&hub).await;
    let login = r#"{"username":"mw-a","password":"a long password"}"#;
    let cookie = http(port, "POST", "/api/login", None, Some(login))
        .await
        .1
        .unwrap();
    let mut ws = subscribed(port, Some(&cookie), stream.id).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let now = ctg_hub::utc_now_ms();
    let samples = |value: u16, quality, n| {
        vec![
            Sample {
                values: [value, 0, 0, 0, 0],
                quality: [quality; 5],
                ..Sample::default()
            };
            n
        ]
    };
    use ctg_proto::model::{BlockFlags, Quality};
    let blocks = [
        SampleBlock {
            first_seq: 0,
            utc_ms: now - 3_700_000,
            samples: samples(560, Quality::Good, 4),
            ..SampleBlock::default()
        },
        SampleBlock {
            first_seq: 4,
            utc_ms: now - 3_699_000,
            flags: BlockFlags(BlockFlags::SAMPLES_INSERTED),
            samples: samples(0, Quality::None, 2_400),
            ..SampleBlock::default()
        },
        SampleBlock {
            first_seq: 2_404,
            utc_ms: now - 1_000,
            samples: samples(560, Quality::Good, 4),
            ..SampleBlock::default()
        },
    ];
    for block in blocks {
        assert!(hub.claim_block(stream.id, &block));
        hub.commit(vec![Write::Block(stream.id, block)])
            .await
            .unwrap();
    }
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let message = tokio::time::timeout(std::time::Duration::from_secs(5), ws.next())
            .await
            .expect("the viewer hears of all three")
            .unwrap()
            .unwrap();
        match message {
            // kind 1, stream, first_seq (u64 at byte 9), count (u16 at byte 17).
            Message::Binary(frame) => seen.push(format!(
                "samples {}+{}",
                u64::from_le_bytes(frame[9..17].try_into().unwrap()),
                u16::from_le_bytes(frame[17..19].try_into().unwrap())
            )),
            Message::Text(text) => {
                let json: Value = serde_json::from_str(&text).unwrap();
                if let Some(gap) = json.get("gap") {
                    seen.push(format!("gap {}..{}", gap["from"], gap["until"]));
                }
            }
            _ => {}
        }
    }
    assert_eq!(seen, ["samples 0+4", "gap 4..2404", "samples 2404+4"]);
}

/// Failed sign-ins are also counted per network address: past 30 in 15 minutes (spread over
/// usernames, each short of its own lock) the address is refused without a password check,
/// also for a right password, and the audit log says so once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_failed_sign_ins_from_one_address_refuse_it_for_a_while() {
    let dir = tempfile::tempdir().unwrap();
    let hub: Arc<Hub> = Hub::open(&dir.path().join("hub.db"), "hub", "centre").unwrap();
    hub.accounts
        .add_user("mw-a", "a long password", Role::Midwife, "clinic-a")
        .unwrap();
    // Served as the hub serves: with each connection's address.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let serving = hub.clone();
    tokio::spawn(async move {
        axum::serve(
            listener,
            ctg_hub::api::router(serving)
                .into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
    });
    let sign_in = async |user: &str, password: &str| -> (u16, Value) {
        let body = format!(r#"{{"username":"{user}","password":"{password}"}}"#);
        let (status, _, answer) = http(port, "POST", "/api/login", None, Some(&body)).await;
        (status, answer)
    };
    for i in 0..ctg_hub::SIGNIN_ADDRESS_GUARD.max_failures {
        // Four tries each at guessed usernames: none of them locked on its own.
        let (status, answer) = sign_in(&format!("guess-{}", i / 4), "wrong").await;
        assert_eq!(status, 401, "try {i}: {answer}");
    }
    let (status, answer) = sign_in("mw-a", "a long password").await;
    assert_eq!(status, 429, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("network address"),
        "{answer}"
    );
    let log = hub.accounts.audit_log(1_000).unwrap();
    assert_eq!(
        log.iter()
            .filter(|e| e.action == "signin_address_locked")
            .count(),
        1
    );
}
