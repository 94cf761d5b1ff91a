//! `mimamori user`: accounts made and enrolled in the second factor from the command line, as an
//! administrator does at the hub's machine.

use std::io::Write;
use std::process::{Command, Stdio};

fn mimamori(args: &[&str], stdin: &[u8]) -> (bool, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mimamori"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `user totp` prints a secret and an `otpauth://` URI that pyotp (an authenticator
/// implementation nobody here wrote) reads as the same secret, time-based, 6 digits, 30 s;
/// the hub then takes pyotp's code for that user. `--remove` takes the second factor away; an
/// unknown user is an error, not a new account.
#[test]
fn user_totp_prints_what_an_authenticator_app_reads_and_the_hub_takes_its_code() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("hub.db");
    let db = db.to_str().unwrap();
    let (ok, _, err) = mimamori(
        &[
            "user",
            "add",
            "--db",
            db,
            "ob-remote",
            "--role",
            "obstetrician",
            "--facility",
            "centre",
        ],
        b"a long password\n",
    );
    assert!(ok, "{err}");
    let (ok, out, err) = mimamori(&["user", "totp", "--db", db, "ob-remote"], b"");
    assert!(ok, "{err}");
    let secret = out
        .lines()
        .find_map(|l| l.strip_prefix("secret "))
        .expect("a secret line");
    let uri = out
        .lines()
        .find_map(|l| l.strip_prefix("uri "))
        .expect("a uri line");
    assert_eq!(secret.len(), 32, "160 bits in base32: {secret}");
    let python = std::env::var_os("MIMAMORI_PYTHON").unwrap_or_else(|| "python3".into());
    let read = Command::new(python)
        .args([
            "-c",
            "import pyotp, sys; t = pyotp.parse_uri(sys.argv[1]); \
             print(t.secret, t.digits, t.interval, t.digest().name, t.name, t.issuer); print(t.now())",
            uri,
        ])
        .output()
        .unwrap();
    assert!(
        read.status.success(),
        "{}",
        String::from_utf8_lossy(&read.stderr)
    );
    let read = String::from_utf8(read.stdout).unwrap();
    let mut lines = read.lines();
    assert_eq!(
        lines.next().unwrap(),
        format!("{secret} 6 30 sha1 ob-remote Mimamori")
    );
    let code = lines.next().unwrap().to_owned();
    // The hub takes pyotp's code for this user.
    let accounts = ctg_hub::accounts::Accounts::open(std::path::Path::new(db), "centre").unwrap();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    assert!(matches!(
        accounts
            .sign_in("ob-remote", "a long password", None, now_ms)
            .unwrap(),
        ctg_hub::accounts::Signin::CodeRequired
    ));
    assert!(matches!(
        accounts
            .sign_in("ob-remote", "a long password", Some(&code), now_ms)
            .unwrap(),
        ctg_hub::accounts::Signin::SignedIn(..)
    ));
    // Removed: the password alone signs in again.
    let (ok, out, err) = mimamori(&["user", "totp", "--db", db, "ob-remote", "--remove"], b"");
    assert!(ok && out.contains("removed"), "{out}{err}");
    assert!(matches!(
        accounts
            .sign_in("ob-remote", "a long password", None, now_ms)
            .unwrap(),
        ctg_hub::accounts::Signin::SignedIn(..)
    ));
    let (ok, _, err) = mimamori(&["user", "totp", "--db", db, "nobody"], b"");
    assert!(!ok && err.contains("no user \"nobody\""), "{err}");
}

/// `user list`, `disable`, `enable`, `password` and `unlock`, as the IT person runs them at the
/// hub's machine: someone who has left is disabled (sign-in refused, sessions ended), the last
/// administrator stays, a forgotten password is replaced, a locked account is unlocked; the
/// list shows each state.
#[test]
fn user_disable_enable_and_password_change_what_sign_in_allows_and_the_list_shows_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("hub.db");
    let db = db.to_str().unwrap();
    for (name, role) in [("admin", "admin"), ("mw-a", "midwife")] {
        let (ok, _, err) = mimamori(
            &[
                "user",
                "add",
                "--db",
                db,
                name,
                "--role",
                role,
                "--facility",
                "clinic-a",
            ],
            b"a long password\n",
        );
        assert!(ok, "{err}");
    }
    let accounts = ctg_hub::accounts::Accounts::open(std::path::Path::new(db), "centre").unwrap();
    let (_, session) = accounts
        .login("mw-a", "a long password")
        .unwrap()
        .expect("signs in");

    let (ok, out, err) = mimamori(&["user", "disable", "--db", db, "mw-a"], b"");
    assert!(ok && out.contains("user mw-a disabled"), "{out}{err}");
    assert_eq!(accounts.session(&session).unwrap(), None, "session ended");
    assert!(accounts.login("mw-a", "a long password").unwrap().is_none());
    let (ok, out, _) = mimamori(&["user", "list", "--db", db], b"");
    assert!(ok);
    assert!(line_of(&out, "mw-a").contains("disabled 20"), "{out}");
    assert!(line_of(&out, "mw-a").contains(" UTC"), "{out}");
    assert!(
        line_of(&out, "admin").contains("enabled") && line_of(&out, "admin").ends_with("never"),
        "{out}"
    );
    assert!(out.contains("2 accounts, 1 disabled, 0 locked"), "{out}");

    let (ok, _, err) = mimamori(&["user", "disable", "--db", db, "admin"], b"");
    assert!(!ok && err.contains("last enabled administrator"), "{err}");
    let (ok, _, err) = mimamori(&["user", "enable", "--db", db, "nobody"], b"");
    assert!(!ok && err.contains("no user \"nobody\""), "{err}");

    let (ok, _, err) = mimamori(&["user", "enable", "--db", db, "mw-a"], b"");
    assert!(ok, "{err}");
    let (ok, _, err) = mimamori(&["user", "password", "--db", db, "mw-a"], b"short\n");
    assert!(!ok && err.contains("at least 8 characters"), "{err}");
    let (ok, _, err) = mimamori(
        &["user", "password", "--db", db, "mw-a"],
        b"remembered at last\n",
    );
    assert!(ok, "{err}");
    assert!(accounts.login("mw-a", "a long password").unwrap().is_none());
    assert!(
        accounts
            .login("mw-a", "remembered at last")
            .unwrap()
            .is_some()
    );
    let (_, out, _) = mimamori(&["user", "list", "--db", db], b"");
    assert!(line_of(&out, "mw-a").contains("enabled"), "{out}");
    assert!(!line_of(&out, "mw-a").ends_with("never"), "{out}");

    // Five wrong passwords in the running hub lock the account; the list (another process)
    // shows the lock, `unlock` lifts it, and the hub lets the right password in again.
    for _ in 0..5 {
        assert!(accounts.login("mw-a", "a wild guess").unwrap().is_none());
    }
    assert!(
        accounts
            .login("mw-a", "remembered at last")
            .unwrap()
            .is_none(),
        "locked"
    );
    let (_, out, _) = mimamori(&["user", "list", "--db", db], b"");
    assert!(line_of(&out, "mw-a").contains("locked to 20"), "{out}");
    assert!(out.contains("2 accounts, 0 disabled, 1 locked"), "{out}");
    let (ok, out, err) = mimamori(&["user", "unlock", "--db", db, "mw-a"], b"");
    assert!(
        ok && out.contains("user mw-a: sign-in lock lifted"),
        "{out}{err}"
    );
    let (ok, out, _) = mimamori(&["user", "unlock", "--db", db, "mw-a"], b"");
    assert!(ok && out.contains("was not locked"), "{out}");
    let (ok, _, err) = mimamori(&["user", "unlock", "--db", db, "nobody"], b"");
    assert!(!ok && err.contains("no user \"nobody\""), "{err}");
    assert!(
        accounts
            .login("mw-a", "remembered at last")
            .unwrap()
            .is_some()
    );
}

fn line_of(out: &str, name: &str) -> String {
    out.lines()
        .find(|l| l.starts_with(&format!("{name} ")))
        .unwrap_or_else(|| panic!("{name} listed in {out}"))
        .to_owned()
}
