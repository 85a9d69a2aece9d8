//! How a spec's secrets are loaded and kept: password files are small regular files
//! (a FIFO or a device is refused at once), a file others can read warns, a
//! `password_env` variable leaves the environment once read, a password that is part of
//! the spec's text warns, a structure-only load reads no secret and no file, and the
//! runner shows no secret in a target.

use imp_verify_core::plan::Plan;
use imp_verify_core::spec::{LdapSecurity, LoadMode, ProcessEnv, Workflow};
use imp_verify_core::{run, Event, Outcome, PlannedCheck, RunOptions, Secret, Spec};
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

const HEAD: &str = r#"
workflow = "C"
domains = ["example.com"]

[tls]
ca_bundle = "absent/ca.pem"

[[clusters]]
name = "c1"
domain = "example.com"

[[clusters.nodes]]
fqdn = "imp1.example.com"
role = "imp"

[[clusters.nodes]]
fqdn = "cucm1.example.com"
role = "cucm"

[clusters.sip_trunk]
srv_name = "imp-cluster.example.com"
transports = ["tls"]
client_cert = "absent/cucm.crt"
client_key = "absent/cucm.key"
"#;

fn write_spec(dir: &Path, users: &str) -> PathBuf {
    let p = dir.join("spec.toml");
    std::fs::write(&p, format!("{HEAD}{users}")).unwrap();
    p
}

fn user(id: &str, source: &str) -> String {
    format!("\n[[test_users]]\nuser_id = \"{id}\"\nhome_node = \"imp1.example.com\"\n{source}\n")
}

/// A spec whose only problems are those of its users (the TLS files exist).
fn spec_with_files(dir: &Path, users: &str) -> PathBuf {
    std::fs::create_dir_all(dir.join("absent")).unwrap();
    for f in ["ca.pem", "cucm.crt", "cucm.key"] {
        std::fs::write(dir.join("absent").join(f), "x").unwrap();
    }
    write_spec(dir, users)
}

fn secret_file(dir: &Path, name: &str, content: &str, mode: u32) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, content).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    p
}

#[test]
fn a_fifo_as_password_file_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pw.fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let spec = spec_with_files(dir.path(), &user("alice", "password_file = \"pw.fifo\""));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(Spec::load_with_env(&spec, &BTreeMap::new()));
    });
    let result = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("loading a spec whose password file is a FIFO does not wait for a writer");
    let errors = result.unwrap_err();
    assert_eq!(errors.0.len(), 1, "{errors}");
    assert!(
        errors.0[0]
            .message
            .contains("is a device, FIFO or socket, not a regular file"),
        "{errors}"
    );
}

#[test]
fn a_password_file_others_can_read_warns_and_a_private_one_does_not() {
    let dir = tempfile::tempdir().unwrap();
    secret_file(dir.path(), "alice.pw", "Opaque-9f3e\n", 0o644);
    secret_file(dir.path(), "bob.pw", "Opaque-77aa\n", 0o600);
    secret_file(dir.path(), "carol.pw", "Opaque-c4r0\n", 0o640);
    let users = [
        user("alice", "password_file = \"alice.pw\""),
        user("bob", "password_file = \"bob.pw\""),
        user("carol", "password_file = \"carol.pw\""),
    ]
    .concat();
    let spec = spec_with_files(dir.path(), &users);
    let spec = Spec::load_with_env(&spec, &BTreeMap::new()).unwrap();
    let warnings: Vec<String> = spec.warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(
        warnings[0]
            .contains("test user `alice`: the password file is readable by every user (mode 0644)"),
        "{warnings:?}"
    );
    assert!(
        warnings[1]
            .contains("test user `carol`: the password file is readable by its group (mode 0640)"),
        "{warnings:?}"
    );
    assert!(warnings.iter().all(|w| !w.contains("Opaque")));
    // The trailing newline is not part of the password.
    assert_eq!(spec.test_users[1].password().expose(), "Opaque-77aa");
}

#[test]
fn a_password_variable_leaves_the_environment_once_read() {
    let dir = tempfile::tempdir().unwrap();
    let var = "IMPV_SPEC_TEST_SHARED_PASSWORD";
    let users = [
        user("alice", &format!("password_env = \"{var}\"")),
        user("bob", &format!("password_env = \"{var}\"")),
    ]
    .concat();
    let spec = spec_with_files(dir.path(), &users);
    // This is the only test of the binary that touches the environment.
    std::env::set_var(var, "Opaque-env-5521");
    let spec = Spec::load(&spec).unwrap();
    assert!(
        std::env::var(var).is_err(),
        "the variable is gone once read"
    );
    // Both users that name it got it.
    for u in &spec.test_users {
        assert_eq!(u.password().expose(), "Opaque-env-5521");
    }
    assert_eq!(spec.secret_values().len(), 2);
}

#[test]
fn a_password_that_is_part_of_the_specs_text_warns_without_saying_where() {
    let dir = tempfile::tempdir().unwrap();
    secret_file(dir.path(), "alice.pw", "example", 0o600);
    let spec = spec_with_files(dir.path(), &user("alice", "password_file = \"alice.pw\""));
    let spec = Spec::load_with_env(&spec, &BTreeMap::new()).unwrap();
    assert_eq!(spec.warnings.len(), 1, "{:?}", spec.warnings);
    let w = spec.warnings[0].to_string();
    assert!(
        w.contains("the password of test user `alice` is part of"),
        "{w}"
    );
    assert!(!w.contains("example"), "{w}");
    // A password that is no part of the text does not warn.
    secret_file(dir.path(), "alice.pw", "Zq8-unrelated", 0o600);
    let spec = spec_with_files(dir.path(), &user("alice", "password_file = \"alice.pw\""));
    let spec = Spec::load_with_env(&spec, &BTreeMap::new()).unwrap();
    assert!(spec.warnings.is_empty(), "{:?}", spec.warnings);
}

#[test]
fn a_structure_load_reads_no_secret_and_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let users = [
        user("alice", "password_file = \"absent/alice.pw\""),
        user("bob", "password_env = \"IMPV_SPEC_TEST_SURELY_UNSET\""),
    ]
    .concat();
    let federation = "\n[[federation]]\ndomain = \"partner.example\"\ntest_contact = \"erin@partner.example\"\npassword_file = \"absent/erin.pw\"\n\n[ldap]\nbind_dn = \"cn=svc\"\nbase = \"dc=example\"\npassword_file = \"absent/ldap.pw\"\n[[ldap.servers]]\nurl = \"ldaps://[::1]:636\"\n";
    let path = write_spec(dir.path(), &format!("{users}{federation}"));
    let full = Spec::load_with_env(&path, &BTreeMap::new()).unwrap_err();
    // The CA bundle, both trunk files, four passwords.
    assert_eq!(full.0.len(), 7, "{full}");
    let spec = Spec::load_mode(&path, LoadMode::Structure, &ProcessEnv).unwrap();
    assert_eq!(spec.mode, LoadMode::Structure);
    assert!(spec.secret_values().is_empty());
    assert!(!spec.test_users[0].password().is_read());
    let ldap = spec.ldap.as_ref().unwrap();
    assert_eq!(ldap.servers[0].security, LdapSecurity::Ldaps);
    assert_eq!(ldap.servers[0].host, "::1");
    assert_eq!(ldap.servers[0].connect_url(), "ldaps://[::1]:636");
    // The structure is still checked, and so is the form of a password source.
    let bad = write_spec(
        dir.path(),
        &[
            user("alice", "password_env = \"not a name\""),
            user("alice", "password_file = \"x\""),
        ]
        .concat(),
    );
    let errors = Spec::load_structure(&bad).unwrap_err();
    let text = errors.to_string();
    assert!(
        text.contains("`password_env` must name an environment variable"),
        "{text}"
    );
    assert!(text.contains("test user `alice` is listed twice"), "{text}");
    assert!(!text.contains("not a name"), "{text}");
}

#[tokio::test]
async fn targets_are_scrubbed_in_every_event_and_in_the_report() {
    let check = PlannedCheck::new("xmpp.login", "Opaque-tgt on imp1.example.com", |_| async {
        Outcome::pass("logged in")
    });
    let dependent = PlannedCheck::new("xmpp.im", "imp1.example.com", |_| async {
        Outcome::pass("delivered")
    })
    .after(check.key.clone());
    let plan = Plan {
        workflow: Workflow::A,
        checks: vec![check, dependent],
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let report = run(
        plan,
        PathBuf::from("spec.toml"),
        RunOptions::default(),
        vec![Secret::new("Opaque-tgt")],
        tokio_util::sync::CancellationToken::new(),
        tx,
    )
    .await;
    let mut events: Vec<Event> = Vec::new();
    while let Ok(e) = rx.try_recv() {
        events.push(e);
    }
    let all = format!("{report:?} {events:?}");
    assert!(!all.contains("Opaque-tgt"), "{all}");
    assert!(all.contains("*** on imp1.example.com"), "{all}");
    // The dependency still held: the dependent ran and passed.
    assert!(report
        .results
        .iter()
        .all(|r| r.outcome.status == imp_verify_core::Status::Pass));
}
