//! Every malformed spec under fixtures/specs/bad is rejected at the place its first
//! line names (`# expect: LINE:COL: text`), with a message containing that text.

use imp_verify_core::Spec;
use std::collections::BTreeMap;
use std::path::PathBuf;

fn bad_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/specs/bad")
}

#[test]
fn each_bad_spec_is_rejected_where_it_says() {
    let mut env = BTreeMap::new();
    env.insert("HOME".to_string(), "not-a-secret-really".to_string());
    let mut n = 0;
    let mut failures = Vec::new();
    for entry in std::fs::read_dir(bad_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        n += 1;
        let text = std::fs::read(&path).unwrap();
        let first = String::from_utf8_lossy(&text)
            .lines()
            .next()
            .unwrap_or("")
            .to_string();
        let expect = first
            .strip_prefix("# expect: ")
            .expect("first line is `# expect: L:C: text`");
        let mut parts = expect.splitn(3, ':');
        let line: usize = parts.next().unwrap().trim().parse().unwrap();
        let col: usize = parts.next().unwrap().trim().parse().unwrap();
        let want = parts.next().unwrap_or("").trim();
        match Spec::load_with_env(&path, &env) {
            Ok(_) => failures.push(format!("{}: accepted", path.display())),
            Err(errors) => {
                let e = &errors.0[0];
                let ok = e.line == line && e.column == col && e.message.contains(want);
                if !ok {
                    failures.push(format!(
                        "{}: expected {line}:{col} containing {want:?}, got {}:{}: {}",
                        path.file_name().unwrap().to_string_lossy(),
                        e.line,
                        e.column,
                        e.message
                    ));
                }
                assert!(
                    errors
                        .to_string()
                        .contains(&format!("{}:{line}:{col}: error: ", path.display()))
                        || !ok
                );
                for value in password_values(&String::from_utf8_lossy(&text)) {
                    if errors.to_string().contains(&value) {
                        failures.push(format!(
                            "{}: the error shows the value of a password field",
                            path.display()
                        ));
                    }
                }
            }
        }
    }
    assert!(n >= 10, "only {n} bad specs");
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn the_example_specs_are_valid() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/specs");
    let mut env = BTreeMap::new();
    for v in [
        "IMPV_LDAP_PASSWORD",
        "IMPV_ALICE_PASSWORD",
        "IMPV_PARTNER_PASSWORD",
    ] {
        env.insert(v.to_string(), "x-not-a-real-password".to_string());
    }
    // example.toml names files that exist only on a real deployment; check everything else.
    let errors = Spec::load_with_env(&dir.join("example.toml"), &env).unwrap_err();
    for e in &errors.0 {
        assert!(
            e.message.contains("is not a readable file")
                || e.message.contains("(password_file) cannot be opened"),
            "unexpected error in example.toml: {e}"
        );
    }
}

/// The values of the `password*` fields of a spec that no error shows: every one but
/// a variable's name written as names are (`IMPV_X`) and a file's path (with a `/` or a
/// `.`), which are no secrets; a word in either could be a password written there by
/// mistake, and stays hidden.
fn password_values(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .filter(|(k, _)| k.trim().contains("password"))
        .filter_map(|(k, v)| {
            let v = v.trim().trim_start_matches('[').trim_end_matches(']');
            let v = v.trim_matches('"').to_string();
            let k = k.trim();
            let name = k == "password_env"
                && v.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
                && v.starts_with(|c: char| c.is_ascii_uppercase() || c == '_');
            let path = k == "password_file" && (v.contains('/') || v.contains('.'));
            (!v.is_empty() && !name && !path).then_some(v)
        })
        .collect()
}

#[test]
fn errors_name_the_variable_and_the_file_and_hide_passwords() {
    let text = "workflow = \"A\"\ndomains = [\"example.com\"]\n[[clusters]]\nname = \"c\"\ndomain = \"example.com\"\n[[clusters.nodes]]\nfqdn = \"imp1.example.com\"\nrole = \"imp\"\n[[test_users]]\nuser_id = \"a\"\nhome_node = \"imp1.example.com\"\npassword_env = \"IMPV_NOT_SET_HERE\"\n[[test_users]]\nuser_id = \"b\"\nhome_node = \"imp1.example.com\"\npassword_file = \"secrets/b.password\"\n[[test_users]]\nuser_id = \"c\"\nhome_node = \"imp1.example.com\"\npassword_env = \"Summer2026\"\n";
    let errors = Spec::parse(text, std::path::Path::new("s.toml"), &BTreeMap::new())
        .unwrap_err()
        .to_string();
    assert!(
        errors.contains("`IMPV_NOT_SET_HERE` (password_env) is not set"),
        "{errors}"
    );
    assert!(
        errors.contains("password_env = \"IMPV_NOT_SET_HERE\""),
        "{errors}"
    );
    assert!(
        errors.contains("`secrets/b.password` (password_file) cannot be opened"),
        "{errors}"
    );
    assert!(
        errors.contains("password_file = \"secrets/b.password\""),
        "{errors}"
    );
    // A word that could be a password, in the variable's field, stays hidden.
    assert!(!errors.contains("Summer2026"), "{errors}");
}
