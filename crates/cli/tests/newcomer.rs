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
