//! The viewer's files as the hub serves them: everything the page loads is embedded and served
//! with its type, scripts only from the hub (no inline script allowed by the CSP), unknown names
//! are 404, and the Japanese and English word lists have the same keys.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn get(port: u16, path: &str) -> (u16, String, String) {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: l\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).await.unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head.to_ascii_lowercase(), body.to_owned())
}

#[tokio::test]
async fn the_page_and_every_file_it_loads_are_served_with_a_strict_policy() {
    let dir = tempfile::tempdir().unwrap();
    let hub = ctg_hub::Hub::open(&dir.path().join("hub.db"), "test", "centre").unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, ctg_hub::api::router(hub)).await });

    let (status, head, page) = get(port, "/").await;
    assert_eq!(status, 200);
    assert!(head.contains("content-type: text/html"));
    let csp = head
        .lines()
        .find(|l| l.starts_with("content-security-policy:"))
        .expect("a CSP");
    let script_src = csp.split(';').find(|d| d.contains("script-src")).unwrap();
    assert!(!script_src.contains("unsafe-inline"), "{csp}");
    assert!(!page.contains("<script>"), "no inline script in the page");
    // Everything the page and the modules reference.
    let mut files = vec!["/assets/app.js", "/assets/style.css"];
    for f in ["/assets/app.js", "/assets/style.css"] {
        assert!(page.contains(f), "the page loads {f}");
    }
    let (_, _, app) = get(port, "/assets/app.js").await;
    for module in ["./i18n.js", "./paper.js"] {
        assert!(app.contains(module));
    }
    files.extend(["/assets/i18n.js", "/assets/paper.js"]);
    for f in files {
        let (status, head, body) = get(port, f).await;
        assert_eq!(status, 200, "{f}");
        let wanted = if f.ends_with(".js") {
            "text/javascript"
        } else {
            "text/css"
        };
        assert!(head.contains(wanted), "{f}: {head}");
        assert!(head.contains("x-content-type-options: nosniff"));
        assert!(body.len() > 1000, "{f} is the real file");
    }
    let (status, head, worker) = get(port, "/sw.js").await;
    assert_eq!(status, 200);
    assert!(head.contains("text/javascript") && worker.contains("showNotification"));
    assert_eq!(get(port, "/assets/../Cargo.toml").await.0, 404);
    assert_eq!(get(port, "/assets/nothing.js").await.0, 404);

    // The word lists: one key set for both languages.
    let (_, _, words) = get(port, "/assets/i18n.js").await;
    let section = |start: &str, end: &str| -> Vec<String> {
        let from = words.find(start).unwrap() + start.len();
        let until = from + words[from..].find(end).unwrap();
        let mut keys: Vec<String> = words[from..until]
            .lines()
            .filter_map(|l| l.trim().split_once(':').map(|(k, _)| k.trim().to_owned()))
            .filter(|k| !k.is_empty() && !k.starts_with("//"))
            .collect();
        keys.sort();
        keys
    };
    let ja = section("  ja: {", "\n  },");
    let en = section("  en: {", "\n  },");
    assert!(ja.len() > 80, "{}", ja.len());
    assert_eq!(ja, en, "Japanese and English have the same words");
}
