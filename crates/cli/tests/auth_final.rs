//! A refused password is never retried nor sent again: a test user whose password is
//! wrong costs the directory exactly one failed authentication in a run, with
//! `--retry-for` or without, whichever check (the LDAP bind of ldap.user-auth or the XMPP
//! login that the lab's Prosody checks against the directory, or UDS's user request that
//! the CUCM stand-in checks against it) sends it first, as the
//! directory server's own log shows; and the JSON counts the authentications per account.

mod common;
use common::*;
use imp_verify_testlab::harness::{failed_binds, spec_with_wrong_password};
use imp_verify_testlab::Lab;

#[test]
fn a_wrong_password_is_refused_once_per_check_even_with_retry_for() {
    let lab = Lab::isolated();
    let dir = tempfile::tempdir().unwrap();
    let spec = spec_with_wrong_password(&lab, dir.path(), "alice");
    let alice = "uid=alice,ou=people,dc=lab,dc=test";

    let run = |extra: &[&str]| {
        let json_path = dir.path().join("r.json");
        let mut args = vec![
            "all",
            "--spec",
            spec.to_str().unwrap(),
            "--no-progress",
            "--color",
            "never",
            "--timeout",
            "4s",
            "--json",
            json_path.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let before = failed_binds(&lab, alice);
        let out = imp_verify(&args);
        let (o, e) = text(&out);
        assert_eq!(code(&out), 1, "{o}{e}");
        lab.assert_no_secret_in(&format!("{o}{e}"));
        (failed_binds(&lab, alice) - before, json(&json_path), o)
    };
    let (once, report, _) = run(&[]);
    assert_eq!(once, 1, "the directory saw {once} failed binds of alice");
    let (with_retries, retried, o) = run(&["--retry-for", "10s"]);
    assert_eq!(
        with_retries, once,
        "with --retry-for the directory saw {with_retries} failed binds of alice, without {once}"
    );
    for r in [&report, &retried] {
        for (id, target) in [
            ("ldap.user-auth", "alice"),
            ("xmpp.login", "alice on imp1.lab.test"),
        ] {
            let c = checks(r, id)
                .into_iter()
                .find(|c| c["target"] == target)
                .unwrap_or_else(|| panic!("no {id} [{target}]"));
            assert_eq!(c["status"], "fail", "{c}");
            assert_eq!(c["attempts"], 1, "{id} was retried: {c}");
        }
    }
    // The report counts each account's authentications: alice's accounts (the LDAP
    // DN, the XMPP address, the UDS user) have one refusal in all, the same with retries
    // as without.
    let alices = |r: &serde_json::Value| -> Vec<(String, u64, u64)> {
        r["summary"]["authentications"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(k, _)| k.contains("alice"))
            .map(|(k, v)| {
                (
                    k.clone(),
                    v["attempts"].as_u64().unwrap(),
                    v["refused"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    for r in [&report, &retried] {
        let total: u64 = alices(r).iter().map(|a| a.2).sum();
        assert_eq!(total, 1, "{}", r["summary"]["authentications"]);
    }
    // The terminal report names the refused account, and says it was not retried.
    let (account, attempts, _) = alices(&retried).into_iter().find(|a| a.2 == 1).unwrap();
    assert!(
        o.contains(&format!(
            "{account}: {attempts} authentication(s), 1 refused (not retried)"
        )),
        "{o}"
    );
}
