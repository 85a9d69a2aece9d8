//! Coverage cannot drift from planning: for variants of the lab's spec (no test users,
//! one per node, no directory, no CA bundle, no federation, no trunk...), the checks the
//! real probes plan (less those coverage leaves out, as the binary does) are exactly
//! those `imp_verify_core::coverage` says are verified, check by check and node by node.
//! And the run of a spec with gaps names them, with their tasks, in its summary.

mod common;
use common::*;
use imp_verify_core::coverage::{Coverage, Effect};
use imp_verify_core::{build_plan, catalog, CheckKey, Probe, Selection, Spec};
use imp_verify_testlab::{harness, Lab};
use std::sync::Arc;

/// The binary's probes (crates/cli/src/main.rs), in its order.
fn probes(spec: &Spec) -> Vec<Box<dyn Probe>> {
    let net = imp_verify_net::Net::from_spec(spec);
    vec![
        Box::new(imp_probe_services::ServicesProbe::new(net.clone())),
        Box::new(imp_probe_dns::DnsProbe::new(net.clone())),
        Box::new(imp_probe_tls::TlsProbe::new(net.clone())),
        Box::new(imp_probe_ldap::LdapProbe::new(net.clone())),
        Box::new(imp_probe_xmpp::XmppProbe::new(
            net.clone(),
            Some(Arc::new(imp_probe_ldap::LdapDirectory::new(net.clone()))),
        )),
        Box::new(imp_probe_uds::UdsProbe::new(net.clone())),
        Box::new(imp_probe_sip::SipProbe::new(net)),
    ]
}

/// `text` without the tables whose header is one of `headers` (to the next header).
fn drop_tables(text: &str, headers: &[&str]) -> String {
    let mut out = String::new();
    let mut dropping = false;
    for line in text.lines() {
        if line.starts_with('[') {
            dropping = headers.contains(&line.trim());
        }
        if !dropping {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// `text` without the lines that start with one of `prefixes`.
fn drop_lines(text: &str, prefixes: &[&str]) -> String {
    text.lines()
        .filter(|l| !prefixes.iter().any(|p| l.starts_with(p)))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// The test users but the first of each node (alice on imp1, carol on imp2).
fn one_user_a_node(text: &str) -> String {
    let mut out = String::new();
    let mut skip = false;
    for block in text.split_inclusive('\n') {
        if block.starts_with('[') {
            skip = false;
        }
        if block.starts_with("user_id = \"bob\"") || block.starts_with("user_id = \"dave\"") {
            skip = true;
            // Take the table's header back out of the output.
            out.truncate(out.trim_end_matches("[[test_users]]\n").len());
        }
        if !skip {
            out.push_str(block);
        }
    }
    out
}

fn check_agreement(name: &str, spec: &Spec) -> Coverage {
    let spec = Arc::new(spec.clone());
    let mut plan = build_plan(&spec, &probes(&spec), &Selection::default())
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let coverage = Coverage::of(&spec);
    coverage.leave_out(&mut plan);
    let keys: Vec<CheckKey> = plan.checks.iter().map(|c| c.key.clone()).collect();
    for def in catalog::CHECKS
        .iter()
        .filter(|d| d.applies_to(spec.workflow))
    {
        let planned: Vec<&CheckKey> = keys.iter().filter(|k| k.id == def.id).collect();
        let whole = coverage.nowhere.contains(&def.id)
            || coverage.not_applicable.iter().any(|(id, _)| *id == def.id);
        if whole {
            assert!(
                planned.is_empty(),
                "{name}: coverage says {} is not verified, yet it is planned: {planned:?}",
                def.id
            );
        } else {
            assert!(
                !planned.is_empty(),
                "{name}: {} is not planned, and coverage does not say why: {:#?}",
                def.id,
                coverage.gaps
            );
        }
        for g in coverage.gaps.iter().filter(|g| g.checks.contains(&def.id)) {
            let in_scope = |k: &&&CheckKey| g.scope.iter().any(|s| k.target.contains(s.as_str()));
            match g.effect {
                Effect::Skipped => assert!(
                    planned.iter().any(|k| in_scope(&k)),
                    "{name}: {} is said to skip itself on {:?}, but is not planned there",
                    def.id,
                    g.scope
                ),
                _ if !g.scope.is_empty() => assert!(
                    !planned.iter().any(|k| in_scope(&k)),
                    "{name}: coverage says {} is not verified on {:?}, yet it is planned: {planned:?}",
                    def.id,
                    g.scope
                ),
                _ => {}
            }
        }
    }
    coverage
}

#[test]
fn coverage_agrees_with_what_the_probes_plan() {
    let lab = Lab::shared();
    let text = std::fs::read_to_string(lab.spec()).unwrap();
    let variants: Vec<(&str, String)> = vec![
        ("the lab", text.clone()),
        (
            "no test users",
            drop_lines(
                &drop_tables(&text, &["[[test_users]]"]),
                &["local_user", "presentity"],
            ),
        ),
        ("one test user a node", one_user_a_node(&text)),
        (
            "no directory",
            drop_tables(&text, &["[ldap]", "[[ldap.servers]]"]),
        ),
        ("no CA bundle", drop_lines(&text, &["ca_bundle"])),
        (
            "no federation",
            drop_tables(&text, &["[[federation]]", "[[sip_federation]]"]),
        ),
        (
            "XMPP federation only",
            drop_tables(&text, &["[[sip_federation]]"]),
        ),
        ("no trunk", drop_tables(&text, &["[clusters.sip_trunk]"])),
        (
            "a trunk without TLS",
            text.replace(
                "transports = [\"udp\", \"tcp\", \"tls\"]",
                "transports = [\"udp\", \"tcp\"]",
            ),
        ),
        (
            "no presentity, no presence gateway",
            drop_lines(&text, &["presentity", "presence_gateway"]),
        ),
        (
            "no redundancy group",
            drop_tables(&text, &["[[clusters.redundancy_groups]]"]),
        ),
        ("no contacts", drop_lines(&text, &["contacts"])),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (name, variant) in variants {
        let path = harness::spec_variant(lab, dir.path(), |_| variant.clone());
        let spec = Spec::load(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        let coverage = check_agreement(name, &spec);
        // Federating over XMPP only leaves nothing unverified: SIP federation is not
        // deployed, not a gap.
        if name == "the lab" || name == "XMPP federation only" {
            assert!(
                coverage.gaps.is_empty(),
                "{name} verifies everything: {:#?}",
                coverage.gaps
            );
            assert!(coverage.tasks_not_verified().is_empty());
        } else {
            assert!(!coverage.gaps.is_empty(), "{name}: no gap");
        }
    }
    // The SIP federation peer without a client certificate: the inbound check is
    // planned and skips itself, as coverage says.
    let path = harness::spec_variant(lab, dir.path(), |t| {
        let at = t.find("[[sip_federation]]").unwrap();
        let (head, tail) = t.split_at(at);
        format!("{head}{}", drop_lines(tail, &["client_cert", "client_key"]))
    });
    let coverage = check_agreement(
        "SIP federation without a client certificate",
        &Spec::load(&path).unwrap(),
    );
    assert!(coverage
        .gaps
        .iter()
        .any(|g| g.effect == Effect::Skipped && g.checks == ["sip.federation-in"]));
}

#[test]
fn a_run_of_a_spec_with_gaps_names_them_and_the_tasks() {
    let lab = Lab::shared();
    let dir = tempfile::tempdir().unwrap();
    let path = harness::spec_variant(lab, dir.path(), |t| {
        drop_lines(
            &drop_tables(&t, &["[[test_users]]"]),
            &["local_user", "presentity"],
        )
    });
    let run = run_json(&[
        "all",
        "--spec",
        path.to_str().unwrap(),
        "--no-progress",
        "--color",
        "never",
        "--only",
        "area:xmpp,area:ldap",
    ]);
    assert_eq!(run.code, 0, "{}", run.out);
    assert!(run.out.contains("Not verified"), "{}", run.out);
    assert!(
        run.out.contains("no test user homed on imp2.lab.test"),
        "{}",
        run.out
    );
    // No login anywhere: task C.7 (verify cluster communication and client login) has
    // no check left, and the summary says so.
    let summary = run
        .out
        .lines()
        .rfind(|l| l.contains(" check(s): "))
        .unwrap();
    assert!(summary.contains("; not verified: C.7"), "{summary}");
    let gaps = run.report["coverage"]["gaps"].as_array().unwrap();
    assert!(gaps.iter().any(|g| g["checks"]
        .as_array()
        .unwrap()
        .contains(&serde_json::json!("xmpp.login"))));
}
