//! The newcomer's path (issue 24.6): what surprised a first user, each fixed and kept
//! so. Completions in a real bash (and zsh, fish parse them), a closed standard output,
//! options a command ignores, the last line of every non-zero exit, `-` as standard
//! output, `--only area:ha`, columns that fit the terminal, the spec's reference.

mod common;
use common::*;
use std::io::Read;
use std::process::{Command, Stdio};

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// What bash's completion of `line` (the cursor at its end) offers, the function
/// sourced from `imp-verify completions bash` and called as bash calls it.
fn bash_complete(line: &str) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("imp-verify.bash");
    let out = imp_verify(&["completions", "bash"]);
    assert_eq!(code(&out), 0);
    std::fs::write(&script, &out.stdout).unwrap();
    // The words as bash splits them (COMP_WORDBREAKS has `:`), the current one last.
    let program = r#"source "$1"
COMP_LINE="$2"; COMP_POINT=${#COMP_LINE}
read -ra COMP_WORDS <<< "$(sed 's/:/ : /g' <<< "$COMP_LINE")"
[[ "$COMP_LINE" == *" " || "$COMP_LINE" == *":" ]] && COMP_WORDS+=("")
COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
cur="${COMP_WORDS[COMP_CWORD]}"; prev="${COMP_WORDS[COMP_CWORD-1]}"
_imp__verify imp-verify "$cur" "$prev"
printf '%s\n' "${COMPREPLY[@]}""#;
    let out = Command::new("bash")
        .args(["-c", program, "bash"])
        .arg(&script)
        .arg(line)
        .output()
        .expect("bash runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn bash_completes_options_after_a_subcommand_and_patterns() {
    let got = bash_complete("imp-verify all --sk");
    assert_eq!(got, ["--skip"]);
    let got = bash_complete("imp-verify all --only task:");
    assert!(got.contains(&"C.10".to_string()), "{got:?}");
    assert!(got.iter().all(|w| !w.contains(':')), "{got:?}");
    let got = bash_complete("imp-verify list --only area:");
    assert!(got.contains(&"ha".to_string()), "{got:?}");
    let got = bash_complete("imp-verify check-spec --sp");
    assert_eq!(got, ["--spec"]);
}

#[test]
fn zsh_and_fish_read_their_completion_scripts() {
    for (shell, check) in [("zsh", vec!["-n"]), ("fish", vec!["--no-execute"])] {
        if !have(shell) {
            panic!("{shell} is not installed: scripts/setup installs it");
        }
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("script");
        std::fs::write(&script, imp_verify(&["completions", shell]).stdout).unwrap();
        let out = Command::new(shell)
            .args(&check)
            .arg(&script)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{shell}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Runs `imp-verify ARGS` with its standard output closed by the reader at once.
fn closed_stdout(args: &[&str]) -> (i32, String) {
    let mut child = Command::new(bin())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let status = child.wait().unwrap();
    (status.code().expect("exited, not killed"), err)
}

#[test]
fn a_closed_standard_output_ends_quietly() {
    let example = root().join("fixtures/specs/example.toml");
    let example = example.to_str().unwrap();
    for args in [
        vec!["list", "--catalog"],
        vec!["list", "--spec", example],
        vec!["completions", "bash"],
        vec!["completions", "zsh"],
        vec!["man"],
        vec!["spec-reference"],
        vec!["spec-reference", "--example"],
        vec!["--help"],
        vec!["all", "--help"],
        vec!["--version"],
    ] {
        let (code, err) = closed_stdout(&args);
        assert_eq!(code, 0, "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

#[test]
fn options_a_command_ignores_are_refused() {
    for args in [
        vec!["discover", "example.com", "--spec", "x.toml"],
        vec!["completions", "bash", "--spec", "x.toml"],
        vec!["man", "--spec", "x.toml"],
        vec!["spec-reference", "--spec", "x.toml"],
    ] {
        let out = imp_verify(&args);
        let (_, e) = text(&out);
        assert_eq!(code(&out), 2, "{args:?}: {e}");
        assert!(e.contains("--spec"), "{args:?}: {e}");
        assert!(
            e.trim_end()
                .lines()
                .last()
                .unwrap()
                .starts_with("imp-verify: error:"),
            "{args:?}: {e}"
        );
    }
}

#[test]
fn the_catalog_fits_the_terminal_and_its_columns_line_up() {
    let out = Command::new(bin())
        .args(["list", "--catalog"])
        .env("COLUMNS", "100")
        .output()
        .unwrap();
    let (o, _) = text(&out);
    let lines: Vec<&str> = o.lines().collect();
    assert!(lines.iter().all(|l| l.chars().count() <= 100), "{o}");
    // Every row's area starts where the header's does, however long the id.
    let at = lines[0].find("AREA").unwrap();
    for l in &lines[1..] {
        let id = l.split_whitespace().next().unwrap();
        assert!(l[id.len()..at].trim().is_empty(), "{l}");
        assert_ne!(&l[at..at + 1], " ", "{l}");
    }
}

#[test]
fn the_spec_reference_is_the_example_s_documentation() {
    let out = imp_verify(&["spec-reference"]);
    let (o, _) = text(&out);
    assert_eq!(code(&out), 0);
    assert!(o.contains("[clusters.sip_trunk]\n"), "{o}");
    assert!(o.contains("  presence_gateway\n"), "{o}");
    assert!(o.contains("default: \"2s\""), "{o}");
    let example = std::fs::read_to_string(root().join("fixtures/specs/example.toml")).unwrap();
    assert_eq!(
        text(&imp_verify(&["spec-reference", "--example"])).0,
        example
    );
    let dir = tempfile::tempdir().unwrap();
    let out = imp_verify(&["man", "--dir", dir.path().to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{:?}", text(&out));
    let page = std::fs::read_to_string(dir.path().join("imp-verify.toml.5")).unwrap();
    assert!(page.starts_with(".TH IMP-VERIFY.TOML 5"), "{page}");
    assert!(dir.path().join("imp-verify-spec-reference.1").exists());
}

fn lab_spec() -> String {
    imp_verify_testlab::Lab::shared()
        .spec()
        .to_str()
        .unwrap()
        .to_string()
}

#[test]
fn dash_is_standard_output_for_every_report() {
    let spec = lab_spec();
    let base = [
        "all",
        "--spec",
        spec.as_str(),
        "--only",
        "dns.node",
        "--no-progress",
    ];
    for (flag, starts) in [
        ("--json", "{"),
        ("--junit", "<?xml"),
        ("--html", "<!DOCTYPE html>"),
    ] {
        let mut args = base.to_vec();
        args.extend([flag, "-"]);
        let out = imp_verify(&args);
        let (o, e) = text(&out);
        assert_eq!(code(&out), 0, "{flag}: {e}");
        assert!(o.starts_with(starts), "{flag}: {o}");
        // The terminal report went to standard error, and no file `-` was written.
        assert!(e.contains("3 check(s): 3 passed"), "{flag}: {e}");
        assert!(!std::path::Path::new("-").exists());
    }
    let json = imp_verify(&[&base[..], &["--json", "-"]].concat());
    let doc: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON on stdout");
    assert_eq!(doc["summary"]["total"], 3);
    let two = imp_verify(&[&base[..], &["--json", "-", "--junit", "-"]].concat());
    assert_eq!(code(&two), 2);
}

#[test]
fn every_non_zero_exit_says_why_in_its_last_line() {
    let lab = imp_verify_testlab::Lab::shared();
    let dir = tempfile::tempdir().unwrap();
    let last = |o: &std::process::Output| {
        let (_, e) = text(o);
        e.trim_end().lines().last().unwrap_or("").to_string()
    };
    // A cleartext directory server the spec allows: ldap.connect warns.
    let warns = imp_verify_testlab::harness::spec_variant(lab, dir.path(), |t| {
        t.replace(
            "url = \"ldap://ldap.lab.test:389\"\nstarttls = true",
            "url = \"ldap://ldap.lab.test:389\"\nallow_cleartext = true",
        )
    });
    let warns = warns.to_str().unwrap();
    let run = |extra: &[&str]| {
        let mut a = vec![
            "all",
            "--spec",
            warns,
            "--only",
            "ldap.connect",
            "--no-progress",
        ];
        a.extend_from_slice(extra);
        imp_verify(&a)
    };
    assert_eq!(code(&run(&[])), 0, "{:?}", text(&run(&[])));
    let strict = run(&["--strict"]);
    assert_eq!(code(&strict), 1, "{:?}", text(&strict));
    assert_eq!(
        last(&strict),
        "imp-verify: exit 1: 1 check(s) warned, and --strict makes warnings fail"
    );
    // A failed check, retried: its attempts are shown, and the last line says it failed.
    let wrong = harness_wrong_address(lab, dir.path());
    let failed = imp_verify(&[
        "all",
        "--spec",
        &wrong,
        "--only",
        "dns.node",
        "--no-progress",
        "--retry-for",
        "2s",
    ]);
    assert_eq!(code(&failed), 1);
    assert_eq!(last(&failed), "imp-verify: exit 1: 1 check(s) failed");
    let (o, _) = text(&failed);
    let line = o.lines().find(|l| l.contains("FAIL dns.node")).unwrap();
    assert!(line.ends_with(" attempts)"), "{line}");
    // Usage and spec errors, nothing to check.
    let usage = imp_verify(&["all", "--concurrency", "0"]);
    assert_eq!(code(&usage), 2);
    assert!(
        last(&usage).starts_with("imp-verify: error:"),
        "{}",
        last(&usage)
    );
    let spec = lab_spec();
    let nothing = imp_verify(&["all", "--spec", &spec, "--only", "task:A.1"]);
    assert_eq!(code(&nothing), 2);
    assert!(
        last(&nothing).contains("nothing to check"),
        "{}",
        last(&nothing)
    );
}

/// The lab's spec with imp1's address wrong: dns.node of imp1 fails.
fn harness_wrong_address(lab: &imp_verify_testlab::Lab, dir: &std::path::Path) -> String {
    let sub = dir.join("wrong");
    std::fs::create_dir_all(&sub).unwrap();
    let ip = lab.ip(2).to_string();
    imp_verify_testlab::harness::spec_variant(lab, &sub, |t| {
        t.replacen(
            &format!("address = \"{ip}\""),
            "address = \"192.0.2.99\"",
            1,
        )
    })
    .to_str()
    .unwrap()
    .to_string()
}

#[test]
fn only_area_ha_selects_the_high_availability_checks() {
    let spec = lab_spec();
    let out = imp_verify(&["list", "--spec", &spec, "--only", "area:ha"]);
    let (o, e) = text(&out);
    assert_eq!(code(&out), 0, "{e}");
    for id in ["xmpp.ha", "dns.srv.sip-trunk", "services.port"] {
        assert!(
            o.lines().any(|l| l.starts_with(id)),
            "{id} not selected:\n{o}"
        );
    }
    assert!(!o.lines().any(|l| l.starts_with("xmpp.muc")), "{o}");
}
