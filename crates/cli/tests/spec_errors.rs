//! A malformed spec stops imp-verify before any probe runs: the error names file,
//! line and column, and the exit code is 2; no error or warning shows a password. What
//! the spec may hold that is not an error works: `list` on a spec whose secrets are not
//! on this machine, an IPv6 literal in an LDAP URL.

mod common;
use common::*;

fn bad_specs() -> Vec<(std::path::PathBuf, String)> {
    let dir = root().join("fixtures/specs/bad");
    let mut v: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .map(|p| {
            let first = String::from_utf8_lossy(&std::fs::read(&p).unwrap())
                .lines()
                .next()
                .unwrap()
                .to_string();
            let expect = first.strip_prefix("# expect: ").unwrap().to_string();
            (p, expect)
        })
        .collect();
    v.sort();
    v
}

#[test]
fn check_spec_reports_each_mistake_with_its_place_and_exits_2() {
    let specs = bad_specs();
    assert!(specs.len() >= 10);
    for (path, expect) in specs {
        let (place, what) = expect.split_at(expect.find(": ").unwrap());
        let what = what.trim_start_matches(": ").trim();
        let out = imp_verify(&["check-spec", "--spec", path.to_str().unwrap()]);
        let (_, err) = text(&out);
        assert_eq!(code(&out), 2, "{}: {err}", path.display());
        let located = format!("{}:{place}: error: ", path.display());
        assert!(
            err.contains(&located),
            "{}: expected {located:?} in:\n{err}",
            path.display()
        );
        assert!(
            err.contains(what),
            "{}: expected {what:?} in:\n{err}",
            path.display()
        );
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn a_bad_spec_stops_a_run_before_any_probe_and_writes_no_report() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let spec = root().join("fixtures/specs/bad/dangling-group-node.toml");
    let out = imp_verify(&[
        "all",
        "--spec",
        spec.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 2);
    assert!(text(&out).1.contains("nothing was checked"));
    assert!(!json.exists(), "no report for a run that did not start");
}

#[test]
fn a_missing_spec_file_is_a_clear_error() {
    let out = imp_verify(&["check-spec", "--spec", "/nonexistent/imp-verify.toml"]);
    assert_eq!(code(&out), 2);
    assert!(text(&out)
        .1
        .contains("/nonexistent/imp-verify.toml: error: cannot read the spec"));
}

#[test]
fn usage_errors_exit_2() {
    let out = imp_verify(&["all", "--timeout", "soon"]);
    assert_eq!(code(&out), 2);
    // A valid spec, a bad selection: the selection is the error.
    let spec = imp_verify_testlab::Lab::shared().spec();
    let out = imp_verify(&[
        "all",
        "--only",
        "task:Z.9",
        "--spec",
        spec.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 2);
    assert!(
        text(&out).1.contains("unknown task `Z.9`"),
        "{:?}",
        text(&out)
    );
    let out = imp_verify(&[
        "all",
        "--skip",
        "nosuch.check.*",
        "--spec",
        spec.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 2);
    assert!(
        text(&out).1.contains("matches no check id"),
        "{:?}",
        text(&out)
    );
    // Nothing selected is an error, not a green run.
    let out = imp_verify(&[
        "all",
        "--only",
        "dns.srv.collab-edge",
        "--spec",
        spec.to_str().unwrap(),
    ]);
    assert_eq!(
        code(&out),
        2,
        "collab-edge is not planned without remote access"
    );
    assert!(
        text(&out).1.contains("nothing to check"),
        "{:?}",
        text(&out)
    );
    let out = imp_verify(&["frobnicate"]);
    assert_eq!(code(&out), 2);
}

/// The lab's spec with `alice`'s `password_file` line replaced by `replacement`
/// (`{pw}` in it stands for alice's real password), written to `dir`.
fn lab_spec_with_alice(
    lab: &imp_verify_testlab::Lab,
    dir: &std::path::Path,
    replacement: &str,
) -> std::path::PathBuf {
    let text = std::fs::read_to_string(lab.spec()).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("password_file") && l.contains("/alice.password"))
        .expect("the lab spec gives alice a password file")
        .to_string();
    let new = text.replace(&line, &replacement.replace("{pw}", &lab.secret("alice")));
    assert_ne!(new, text);
    let path = dir.join("spec.toml");
    std::fs::write(&path, new).unwrap();
    path
}

#[test]
fn no_spec_error_shows_a_lab_password() {
    let lab = imp_verify_testlab::Lab::shared();
    let dir = tempfile::tempdir().unwrap();
    let pw_line = |text: &str| text.lines().position(|l| l.contains("{pw}"));
    for replacement in [
        // Written inline, alone or beside its file.
        "password = \"{pw}\"",
        "password_file = \"/nonexistent/alice.password\"\npassword = \"{pw}\"",
        // Written where a variable's name or a file's path goes.
        "password_env = \"{pw}\"",
        "password_env = \"{pw} \"",
        "password_file = \"{pw}\"",
        // Syntax and type errors on the line that holds it.
        "password_env = \"{pw}",
        "password_env = [\"{pw}\"]",
        "password_file = {pw}",
    ] {
        let spec = lab_spec_with_alice(lab, dir.path(), replacement);
        let json = dir.path().join("r.json");
        let junit = dir.path().join("r.xml");
        for args in [
            vec!["check-spec", "--spec", spec.to_str().unwrap()],
            vec![
                "all",
                "--spec",
                spec.to_str().unwrap(),
                "--json",
                json.to_str().unwrap(),
                "--junit",
                junit.to_str().unwrap(),
            ],
            vec!["list", "--spec", spec.to_str().unwrap()],
        ] {
            let out = imp_verify(&args);
            let (stdout, stderr) = text(&out);
            lab.assert_no_secret_in(&stdout);
            lab.assert_no_secret_in(&stderr);
            assert!(
                !json.exists() && !junit.exists(),
                "no report of a run that did not start"
            );
            if args[0] == "list" && code(&out) == 0 {
                continue; // a file that cannot be read is no concern of `list`
            }
            assert_eq!(code(&out), 2, "{replacement}: {stderr}");
            let written = std::fs::read_to_string(&spec).unwrap();
            let line = pw_line(replacement).unwrap()
                + written
                    .lines()
                    .position(|l| l.starts_with("user_id = \"alice\""))
                    .unwrap()
                + 3;
            assert!(
                stderr.contains(&format!("{}:{line}:", spec.display())),
                "{replacement}: expected line {line} in {stderr}"
            );
            lab.assert_no_secret_in(&stdout);
            lab.assert_no_secret_in(&stderr);
        }
    }
}

#[test]
fn a_password_file_others_can_read_is_a_warning_that_shows_no_password() {
    use std::os::unix::fs::PermissionsExt;
    let lab = imp_verify_testlab::Lab::shared();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("alice.password");
    std::fs::write(&file, lab.secret("alice")).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let spec = lab_spec_with_alice(lab, dir.path(), "password_file = \"alice.password\"");
    let out = imp_verify(&["check-spec", "--spec", spec.to_str().unwrap()]);
    let (stdout, stderr) = text(&out);
    assert_eq!(code(&out), 0, "{stderr}");
    assert!(
        stderr.contains(
            "warning: test user `alice`: the password file is readable by every user (mode 0644)"
        ),
        "{stderr}"
    );
    lab.assert_no_secret_in(&stdout);
    lab.assert_no_secret_in(&stderr);
}

#[test]
fn list_reads_no_password_and_no_certificate() {
    // example.toml names variables that are not set and files that do not exist here.
    let spec = root().join("fixtures/specs/example.toml");
    let run = |cmd: &str| {
        std::process::Command::new(bin())
            .args([cmd, "--spec", spec.to_str().unwrap()])
            .env_remove("IMPV_LDAP_PASSWORD")
            .env_remove("IMPV_ALICE_PASSWORD")
            .env_remove("IMPV_PARTNER_PASSWORD")
            .output()
            .unwrap()
    };
    let out = run("check-spec");
    assert_eq!(
        code(&out),
        2,
        "check-spec needs the secrets: {:?}",
        text(&out)
    );
    let out = run("list");
    let (stdout, stderr) = text(&out);
    assert_eq!(code(&out), 0, "{stderr}");
    assert!(stdout.contains("check(s) for workflow B"), "{stdout}");
    assert!(stdout.contains("ldap.bind"), "{stdout}");
    // A structural mistake is still an error.
    let dup = root().join("fixtures/specs/bad/duplicate-domain.toml");
    let out = imp_verify(&["list", "--spec", dup.to_str().unwrap()]);
    assert_eq!(code(&out), 2);
    assert!(text(&out)
        .1
        .contains("domain `Example.com` is listed twice"));
}

/// Relays every connection to `listen` on to `to` (both ways), in threads that end
/// with their connections.
fn relay(listen: std::net::TcpListener, to: std::net::SocketAddr) {
    std::thread::spawn(move || {
        for client in listen.incoming().flatten() {
            let Ok(server) = std::net::TcpStream::connect(to) else {
                continue;
            };
            for (mut from, mut into) in [
                (client.try_clone().unwrap(), server.try_clone().unwrap()),
                (server, client),
            ] {
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut from, &mut into);
                    let _ = into.shutdown(std::net::Shutdown::Write);
                });
            }
        }
    });
}

#[test]
fn an_ipv6_literal_in_an_ldap_url_works() {
    let lab = imp_verify_testlab::Lab::shared();
    let Ok(listener) = std::net::TcpListener::bind("[::1]:0") else {
        eprintln!("no IPv6 loopback on this machine: nothing to test");
        return;
    };
    let port = listener.local_addr().unwrap().port();
    relay(listener, std::net::SocketAddr::new(lab.ip(1), 389));
    let lab_spec = std::fs::read_to_string(lab.spec()).unwrap();
    let start = lab_spec.find("[[ldap.servers]]").unwrap();
    let end = lab_spec[start..].find("[[test_users]]").unwrap() + start;
    let servers =
        format!("[[ldap.servers]]\nurl = \"ldap://[::1]:{port}\"\nallow_cleartext = true\n\n");
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("spec.toml");
    std::fs::write(
        &spec,
        format!("{}{servers}{}", &lab_spec[..start], &lab_spec[end..]),
    )
    .unwrap();
    let json = dir.path().join("r.json");
    let out = imp_verify(&[
        "all",
        "--spec",
        spec.to_str().unwrap(),
        "--only",
        "ldap.connect",
        "--only",
        "ldap.bind",
        "--only",
        "services.port",
        "--json",
        json.to_str().unwrap(),
    ]);
    let (stdout, stderr) = text(&out);
    let report = common::json(&json);
    let port_check = checks(&report, "services.port")
        .into_iter()
        .find(|c| c["target"] == format!("[::1]:{port} (ldap)").as_str())
        .unwrap_or_else(|| panic!("a port check of the [::1] server: {stdout}"));
    assert_eq!(port_check["status"], "pass", "{port_check}\n{stdout}");
    let connect = &checks(&report, "ldap.connect")[0];
    assert_eq!(connect["status"], "warn", "{connect}\n{stderr}");
    assert!(
        connect["message"]
            .as_str()
            .unwrap()
            .starts_with(&format!("ldap://[::1]:{port} answers in cleartext")),
        "{connect}"
    );
    // The lab's directory takes no bind in cleartext: its own answer came back over
    // the IPv6 connection.
    let bind = &checks(&report, "ldap.bind")[0];
    assert!(
        bind["evidence"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["key"] == "result_code" && e["value"] == "13 confidentialityRequired"),
        "{bind}"
    );
    lab.assert_no_secret_in(&stdout);
    lab.assert_no_secret_in(&stderr);
}
