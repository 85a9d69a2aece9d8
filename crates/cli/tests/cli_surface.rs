//! The command line around a run: option ranges, report paths checked before the first
//! check, signals (SIGTERM and SIGHUP act like Ctrl-C), shell completions, the man
//! page, and an example in every command's --help.

mod common;
use common::*;
use imp_verify_testlab::Lab;
use std::net::UdpSocket;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn timeout_and_concurrency_outside_their_ranges_are_usage_errors() {
    for (flag, value) in [
        ("--timeout", "0s"),
        ("--timeout", "99ms"),
        ("--timeout", "61m"),
        ("--timeout", "100000000000h"),
        ("--concurrency", "0"),
        ("--concurrency", "1025"),
        ("--concurrency", "2305843009213693952"),
    ] {
        let out = imp_verify(&["all", "--spec", "/nonexistent.toml", flag, value]);
        let (o, e) = text(&out);
        assert_eq!(code(&out), 2, "{flag} {value}: {o}{e}");
        assert!(e.contains(flag) && e.contains(value), "{flag} {value}: {e}");
    }
    // The ends of the ranges are taken.
    let lab = Lab::shared();
    let out = imp_verify(&[
        "services",
        "--spec",
        lab.spec().to_str().unwrap(),
        "--only",
        "services.port",
        "--timeout",
        "100ms",
        "--concurrency",
        "1",
        "--quiet",
    ]);
    assert_eq!(code(&out), 0, "{:?}", text(&out));
    let out = imp_verify(&[
        "services",
        "--spec",
        lab.spec().to_str().unwrap(),
        "--timeout",
        "1h",
        "--concurrency",
        "1024",
        "--quiet",
    ]);
    assert_eq!(code(&out), 0, "{:?}", text(&out));
}

#[test]
fn a_report_path_that_cannot_be_written_stops_before_any_check() {
    let lab = Lab::shared();
    let dir = tempfile::tempdir().unwrap();
    for (flag, bad) in [
        ("--json", dir.path().join("missing/r.json")),
        ("--junit", dir.path().join("no/such/j.xml")),
        ("--html", dir.path().to_path_buf()),
    ] {
        let started = Instant::now();
        // Another report, to a good path, given first.
        let (good_flag, good) = match flag {
            "--json" => ("--html", dir.path().join("r.html")),
            _ => ("--json", dir.path().join("r.json")),
        };
        let out = imp_verify(&[
            "all",
            "--spec",
            lab.spec().to_str().unwrap(),
            good_flag,
            good.to_str().unwrap(),
            flag,
            bad.to_str().unwrap(),
        ]);
        let (o, e) = text(&out);
        assert_eq!(code(&out), 2, "{flag}: {o}{e}");
        assert!(
            e.contains(&bad.display().to_string()),
            "names the path: {e}"
        );
        assert!(e.contains("nothing was checked"), "{e}");
        assert!(o.is_empty(), "no check ran: {o}");
        assert!(!good.exists(), "no other report was written either");
        assert!(started.elapsed() < Duration::from_secs(20));
    }
}

/// A spec whose only DNS server never answers: its run waits until interrupted.
fn stalled_spec(dir: &Path, dns: &str) -> std::path::PathBuf {
    let spec = dir.join("spec.toml");
    std::fs::write(
        &spec,
        format!(
            "workflow = \"A\"\ndomains = [\"example.test\"]\n[dns]\nservers = [\"{dns}\"]\ntimeout = \"10m\"\n\
             [[clusters]]\nname = \"c\"\ndomain = \"example.test\"\n[[clusters.nodes]]\nfqdn = \"imp1.example.test\"\nrole = \"imp\"\n"
        ),
    )
    .unwrap();
    spec
}

fn interrupted_by(signals: &[&str]) -> (std::process::Output, serde_json::Value, bool) {
    let sock = UdpSocket::bind("127.0.0.9:0").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let spec = stalled_spec(dir.path(), &sock.local_addr().unwrap().to_string());
    let json_path = dir.path().join("r.json");
    let junit_path = dir.path().join("j.xml");
    let child = Command::new(bin())
        .args(["all", "--spec", spec.to_str().unwrap(), "--timeout", "1h"])
        .args(["--json", json_path.to_str().unwrap()])
        .args(["--junit", junit_path.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    for s in signals {
        let kill = Command::new("kill")
            .args([&format!("-{s}"), &child.id().to_string()])
            .status()
            .unwrap();
        assert!(kill.success());
    }
    let started = Instant::now();
    let out = child.wait_with_output().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "the signal ended the run"
    );
    let report = if json_path.exists() {
        json(&json_path)
    } else {
        serde_json::Value::Null
    };
    (out, report, junit_path.exists())
}

#[test]
fn sigterm_and_sighup_stop_the_run_like_ctrl_c_and_the_reports_are_written() {
    for sig in ["TERM", "HUP"] {
        let (out, report, junit) = interrupted_by(&[sig]);
        let (o, e) = text(&out);
        assert_eq!(out.status.code(), Some(3), "SIG{sig}: {o}{e}");
        assert!(e.contains(&format!("SIG{sig}")), "{e}");
        assert_eq!(report["stopped"], "interrupted", "SIG{sig}");
        assert_eq!(report["checks"][0]["status"], "skip");
        assert!(junit, "SIG{sig}: the JUnit report is written too");
        assert!(o.contains("(interrupted)"), "{o}");
    }
}

#[test]
fn a_second_signal_exits_at_once() {
    let (out, _, _) = interrupted_by(&["TERM", "TERM"]);
    let (o, e) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{o}{e}");
    // Either the second signal came while the reports were being written (it exits at
    // once, saying so), or after the run had ended; never swallowed with a hang.
    assert!(e.contains("SIGTERM"), "{e}");
}

#[test]
fn shell_completions_and_the_man_page() {
    let out = imp_verify(&["completions", "bash"]);
    assert_eq!(code(&out), 0);
    let (bash, _) = text(&out);
    assert!(
        bash.contains("--baseline") && bash.contains("check-spec"),
        "{bash}"
    );
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("imp-verify.bash");
    std::fs::write(&script, &bash).unwrap();
    let syntax = Command::new("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .unwrap();
    assert!(syntax.status.success(), "{:?}", text(&syntax));
    // Sourcing it registers the completion function.
    let defined = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source {} && complete -p imp-verify",
            script.display()
        ))
        .output()
        .unwrap();
    assert!(
        text(&defined).0.contains("imp-verify"),
        "{:?}",
        text(&defined)
    );

    let (zsh, _) = text(&imp_verify(&["completions", "zsh"]));
    assert!(zsh.starts_with("#compdef imp-verify"), "{zsh}");
    assert!(zsh.contains("--fail-on-regression"));
    let (fish, _) = text(&imp_verify(&["completions", "fish"]));
    assert!(fish.contains("complete -c imp-verify"), "{fish}");
    assert!(fish.contains("-l html"), "{fish}");

    let out = imp_verify(&["man", "--dir", dir.path().to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{:?}", text(&out));
    let all = dir.path().join("imp-verify-all.1");
    let rendered = Command::new("groff")
        .args(["-man", "-Tutf8"])
        .arg(&all)
        .output()
        .expect("groff (man-db's renderer)");
    let page = String::from_utf8_lossy(&rendered.stdout);
    assert!(page.contains("baseline"), "{page}");
    assert!(page.contains("Examples:"), "{page}");
    let (main_page, _) = text(&imp_verify(&["man"]));
    assert!(main_page.contains(".TH imp-verify 1"), "{main_page}");
}

#[test]
fn every_command_shows_an_example_in_its_help() {
    for cmd in [
        "all",
        "services",
        "dns",
        "tls",
        "ldap",
        "xmpp",
        "sip",
        "ha",
        "list",
        "check-spec",
        "completions",
        "man",
    ] {
        let out = imp_verify(&[cmd, "--help"]);
        let (o, _) = text(&out);
        assert_eq!(code(&out), 0, "{cmd}");
        let examples = o
            .split_once("Example")
            .unwrap_or_else(|| panic!("{cmd} --help has no example:\n{o}"))
            .1;
        assert!(
            examples.contains(&format!("imp-verify {cmd}")),
            "{cmd}: {examples}"
        );
    }
}
