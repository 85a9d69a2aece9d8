//! `imp-verify discover`: a first spec from the lab's DNS and certificates. The spec it
//! writes, once the test fills its TODOs with the lab's values, passes `check-spec` and
//! every check of `all`; the faults (no records, a stopped XMPP node, a missing trunk
//! SRV name, a silent DNS server) are told as they are.

mod common;
use common::*;
use imp_verify_testlab::Lab;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn dns_of(lab: &Lab) -> String {
    format!("{}:53", lab.ip(0))
}

fn discover(lab: &Lab, out: &Path, extra: &[&str]) -> std::process::Output {
    let dns = dns_of(lab);
    let mut args = vec![
        "discover",
        "lab.test",
        "--dns-server",
        dns.as_str(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    imp_verify(&args)
}

/// The discovered spec with its TODOs filled in from the lab: the CA bundle, CUCM's
/// trunk certificate, the presentity, and the lab spec's own [ldap], [[test_users]] and
/// [[federation]] (what DNS cannot say).
fn fill(lab: &Lab, discovered: &str) -> String {
    let dir = lab.spec().parent().unwrap().to_path_buf();
    let pki = |f: &str| dir.join("pki").join(f).display().to_string();
    let mut filled = discovered.to_string();
    for (todo, value) in [
        (
            "# ca_bundle = \"ca-bundle.pem\"",
            format!("ca_bundle = \"{}\"", pki("ca.crt")),
        ),
        (
            "# client_cert = \"cucm-trunk.crt\"",
            format!("client_cert = \"{}\"", pki("cucm.lab.test.crt")),
        ),
        (
            "# client_key = \"cucm-trunk.key\"",
            format!("client_key = \"{}\"", pki("cucm.lab.test.key")),
        ),
        ("# presentity = \"alice\"", "presentity = \"alice\"".into()),
        // With CUCM's certificate given, the trunk's TLS transport goes in too.
        (
            "transports = [\"udp\", \"tcp\"]\n",
            "transports = [\"udp\", \"tcp\", \"tls\"]\n".into(),
        ),
    ] {
        assert!(filled.contains(todo), "no `{todo}` TODO in:\n{discovered}");
        filled = filled.replace(todo, &value);
    }
    let lab_spec = std::fs::read_to_string(lab.spec()).unwrap();
    let tail = &lab_spec[lab_spec.find("\n[ldap]").expect("the lab spec has [ldap]")..];
    filled.push_str(tail);
    filled
}

#[test]
fn discover_writes_a_spec_of_the_lab_that_passes_once_filled_in() {
    let lab = Lab::shared();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("discovered.toml");
    let run = discover(lab, &out, &[]);
    let (o, e) = text(&run);
    assert_eq!(code(&run), 0, "{o}{e}");
    // Not a terminal: no progress lines; one summary line.
    assert!(!e.contains("discover: asking"), "{e}");
    assert!(
        e.contains("2 IM&P node(s), 1 CUCM node(s), 1 redundancy group(s)"),
        "{e}"
    );
    let spec = std::fs::read_to_string(&out).unwrap();
    lab.assert_no_secret_in(&spec);
    let ip = |n: u8| lab.ip(n).to_string();
    for want in [
        "workflow = \"C\"".to_string(),
        "domains = [\"lab.test\"]".into(),
        format!("servers = [\"{}\"]", dns_of(lab)),
        "fqdn = \"imp1.lab.test\"".into(),
        format!("address = \"{}\"", ip(2)),
        format!("address = \"{}\"", ip(3)),
        format!("address = \"{}\"", ip(4)),
        "role = \"cucm\"".into(),
        "nodes = [\"imp1.lab.test\", \"imp2.lab.test\"]".into(),
        // The trunk's SRV name, found among the certificates' names.
        "srv_name = \"imp-cluster.lab.test\"".into(),
        "transports = [\"udp\", \"tcp\", \"tls\"]".into(),
        // The SIP TLS certificates' subjects.
        "tls_peer_subjects = [\"imp1.lab.test\", \"imp2.lab.test\"]".into(),
        "presence_gateway = \"cucm.lab.test\"".into(),
        // The CA is named by its issuer, the file left to fill in.
        "CN=imp-verify lab CA".into(),
        // XMPP certificates confirm the node names and the domain.
        "covers the node name; names the domain".into(),
        // What DNS cannot say, with its documentation.
        "# TODO: _ldap._tcp.lab.test has no record".into(),
        "# bind_dn = ".into(),
        "# [[test_users]]".into(),
        "#   The IM&P node the user is assigned to".into(),
        "# home_node = \"imp2.lab.test\"".into(),
        "# password_env = \"IMPV_USER1_PASSWORD\"".into(),
        "GUESS".into(),
    ] {
        assert!(spec.contains(&want), "`{want}` missing from:\n{spec}");
    }
    // As written, it is valid: check-spec warns of what it leaves unverified, and a
    // run passes what it can check and names each TODO as not verified (the path from
    // discover to a first report takes no edit).
    let check = imp_verify(&["check-spec", "--spec", out.to_str().unwrap()]);
    let (o, e) = text(&check);
    assert_eq!(code(&check), 0, "{o}{e}");
    for warned in [
        "tls.ca_bundle",
        "no [ldap] directory",
        "no test user homed on imp1.lab.test",
        "lists no \"tls\" transport",
    ] {
        assert!(
            e.contains(warned) || e.contains("ca_bundle"),
            "`{warned}` not warned: {e}"
        );
    }
    let first = run_json(&[
        "all",
        "--spec",
        out.to_str().unwrap(),
        "--no-progress",
        "--color",
        "never",
    ]);
    assert_eq!(first.code, 0, "{}", first.out);
    assert_eq!(first.report["summary"]["fail"], 0, "{}", first.out);
    for todo in [
        "no CA bundle",
        "no [ldap] directory",
        "no test user homed on imp2.lab.test",
        "names no presentity",
        "lists no \"tls\" transport",
        "no federated domain",
    ] {
        assert!(
            first.out.contains(todo),
            "`{todo}` is not named as not verified:\n{}",
            first.out
        );
    }
    let fields: Vec<&str> = first.report["coverage"]["gaps"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|g| g["field"].as_str())
        .collect();
    for field in [
        "tls.ca_bundle",
        "ldap",
        "test_users",
        "clusters.sip_trunk.presentity",
        "clusters.sip_trunk.transports",
        "federation",
    ] {
        assert!(fields.contains(&field), "{field} not in {fields:?}");
    }

    // Filled in from the lab, it is valid and every check passes.
    let filled_path = dir.path().join("filled.toml");
    std::fs::write(&filled_path, fill(lab, &spec)).unwrap();
    let check = imp_verify(&["check-spec", "--spec", filled_path.to_str().unwrap()]);
    assert_eq!(code(&check), 0, "{:?}", text(&check));
    let json_path = dir.path().join("all.json");
    let all = imp_verify(&[
        "all",
        "--spec",
        filled_path.to_str().unwrap(),
        "--json",
        json_path.to_str().unwrap(),
    ]);
    let (o, e) = text(&all);
    assert_eq!(code(&all), 0, "{o}{e}");
    let report = json(&json_path);
    let counts = &report["summary"];
    assert_eq!(counts["fail"], 0, "{o}");
    assert_eq!(counts["skip"], 0, "{o}");
    assert_eq!(counts["pass"], counts["total"], "{o}");
    // As many checks as the lab's own hand-written spec makes.
    let reference = imp_verify(&["list", "--spec", lab.spec().to_str().unwrap()]);
    let discovered = imp_verify(&["list", "--spec", filled_path.to_str().unwrap()]);
    let first = |o: &std::process::Output| text(o).0.lines().next().unwrap_or("").to_string();
    assert_eq!(first(&discovered), first(&reference));
}

#[test]
fn an_existing_file_is_kept_without_force() {
    let lab = Lab::shared();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("spec.toml");
    std::fs::write(&out, "mine").unwrap();
    let run = discover(lab, &out, &[]);
    assert_eq!(code(&run), 2);
    assert!(
        text(&run).1.contains(&format!("{} exists", out.display())),
        "{:?}",
        text(&run)
    );
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "mine");
    let run = discover(lab, &out, &["--force"]);
    assert_eq!(code(&run), 0, "{:?}", text(&run));
    assert!(std::fs::read_to_string(&out)
        .unwrap()
        .contains("srv_name = \"imp-cluster.lab.test\""));
}

#[test]
fn a_domain_without_records_is_a_clear_error() {
    let lab = Lab::shared();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("spec.toml");
    let dns = dns_of(lab);
    let run = imp_verify(&[
        "discover",
        "nothing.lab.test",
        "--dns-server",
        &dns,
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code(&run), 1);
    let e = text(&run).1;
    assert!(
        e.contains("nothing.lab.test has none of the service records"),
        "{e}"
    );
    assert!(e.contains("_xmpp-client._tcp.nothing.lab.test"), "{e}");
    assert!(!out.exists(), "no spec for a domain without records");
    // A domain the server does not serve: its refusal is the news, not an absence.
    let run = imp_verify(&["discover", "example.org", "--dns-server", &dns]);
    assert_eq!(code(&run), 1);
    let e = text(&run).1;
    assert!(e.contains("no service record could be read"), "{e}");
    assert!(e.contains("REFUSED"), "{e}");
}

#[test]
fn a_silent_dns_server_ends_discovery_within_its_timeout() {
    // A UDP socket that reads questions and never answers.
    let silent = std::net::UdpSocket::bind("127.0.0.9:0").unwrap();
    let addr = silent.local_addr().unwrap().to_string();
    let started = Instant::now();
    let run = imp_verify(&[
        "discover",
        "lab.test",
        "--dns-server",
        &addr,
        "--timeout",
        "1s",
    ]);
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(code(&run), 1, "{:?}", text(&run));
    let e = text(&run).1;
    assert!(e.contains("no service record could be read"), "{e}");
    assert!(e.contains(&addr), "{e}");
}

#[test]
fn a_stopped_node_stays_listed_a_missing_trunk_name_is_a_todo_and_ldap_is_found() {
    let lab = Lab::isolated();
    lab.stop("imp2-xmpp");
    // The trunk's SRV name goes, a directory record comes; SIP federation's record
    // lists imp1 only.
    lab.edit_zone("lab.test", |z| {
        let mut lines: Vec<&str> = z
            .lines()
            .filter(|l| !l.contains(".imp-cluster"))
            .filter(|l| !(l.starts_with("_sipfederationtls") && l.contains("imp2")))
            .collect();
        lines.push("_ldap._tcp SRV 10 0 389 ldap.lab.test.");
        lines.join("\n")
    });
    let dir = tempfile::tempdir().unwrap();
    let out: PathBuf = dir.path().join("spec.toml");
    let run = discover(&lab, &out, &[]);
    let (o, e) = text(&run);
    assert_eq!(code(&run), 0, "{o}{e}");
    assert!(e.contains("certificate(s) unreadable"), "{e}");
    let spec = std::fs::read_to_string(&out).unwrap();
    // imp2 is still a node, its XMPP port still listed (its checks must fail), its
    // certificate marked unreadable.
    assert!(spec.contains("fqdn = \"imp2.lab.test\""), "{spec}");
    assert!(
        spec.contains("# certificate on xmpp-c2s 5222: UNREADABLE"),
        "{spec}"
    );
    assert!(
        spec.contains("xmpp-c2s (5222) did NOT answer during discovery"),
        "{spec}"
    );
    let imp2 = &spec[spec.find("fqdn = \"imp2.lab.test\"").unwrap()..];
    let services = imp2.lines().find(|l| l.starts_with("services = ")).unwrap();
    assert!(services.contains("\"xmpp-c2s\""), "{services}");
    // Its SIP side still answers: its SIP certificate was read.
    assert!(
        imp2.starts_with("fqdn")
            && spec.contains("certificate on sip-tls 5061: O=imp-verify lab, CN=imp2.lab.test"),
        "{spec}"
    );
    // No trunk SRV name: a commented TODO with its documentation, and the names tried.
    assert!(!spec.contains("\n[clusters.sip_trunk]"), "{spec}");
    assert!(
        spec.contains("# TODO: the trunk's SRV name was not found"),
        "{spec}"
    );
    assert!(spec.contains("imp-cluster.lab.test)."), "{spec}");
    assert!(spec.contains("# [clusters.sip_trunk]"), "{spec}");
    assert!(
        spec.contains("_sips._tcp records must list exactly the cluster's IM&P nodes"),
        "{spec}"
    );
    // The spec is still valid as written (nothing required is missing), and the grouping
    // falls back on _xmpp-client._tcp's equal priorities.
    let check = imp_verify(&["check-spec", "--spec", out.to_str().unwrap()]);
    assert_eq!(code(&check), 0, "{:?}\n{spec}", text(&check));
    assert!(
        spec.contains("equal priority 10 in _xmpp-client._tcp.lab.test"),
        "{spec}"
    );
    // And as written it already verifies: `ha` fails on the stopped node's port only.
    let ha = imp_verify(&["ha", "--spec", out.to_str().unwrap(), "--color", "never"]);
    let (o, e) = text(&ha);
    assert_eq!(code(&ha), 1, "{o}{e}");
    let failing: Vec<&str> = o.lines().filter(|l| l.contains("FAIL ")).collect();
    // (the stopped Prosody served both XMPP ports of imp2)
    assert!(
        o.contains("FAIL services.port        imp2.lab.test:5222"),
        "{o}"
    );
    assert!(
        failing
            .iter()
            .all(|l| l.contains("imp2.lab.test:5222") || l.contains("imp2.lab.test:5269")),
        "{o}"
    );
    // The directory of _ldap._tcp: LDAPS and StartTLS both show the directory's
    // certificate; the servers are written in the [ldap] TODO, bind DN and base left to fill.
    assert!(
        spec.contains("_ldap._tcp.lab.test: 10 0 389 ldap.lab.test."),
        "{spec}"
    );
    assert!(
        spec.contains("# url = \"ldaps://ldap.lab.test:636\""),
        "{spec}"
    );
    assert!(
        spec.contains("# url = \"ldap://ldap.lab.test:389\"\n# starttls = true"),
        "{spec}"
    );
    assert!(
        spec.contains("certificate on ldap 389: O=imp-verify lab, CN=ldap.lab.test"),
        "{spec}"
    );
    assert!(
        spec.contains("certificate on ldaps 636: O=imp-verify lab, CN=ldap.lab.test"),
        "{spec}"
    );
    assert!(spec.contains("# bind_dn = "), "{spec}");
    // The SIP federation target's certificate is read too, and its record noted.
    assert!(
        spec.contains(
            "#     certificate of imp1.lab.test:5061: O=imp-verify lab, CN=imp1.lab.test"
        ),
        "{spec}"
    );
    assert!(
        spec.contains(
            "# TODO: _sipfederationtls._tcp.lab.test exists (10 10 5061 imp1.lab.test.): the domain federates over SIP"
        ),
        "{spec}"
    );
    // The section to fill in, commented, with its documentation.
    assert!(spec.contains("\n# [[sip_federation]]\n"), "{spec}");
    assert!(
        spec.contains("#   configured on IM&P for it (at least one)."),
        "{spec}"
    );
}

#[test]
fn progress_shows_on_a_terminal_only() {
    let lab = Lab::shared();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("spec.toml");
    // util-linux's `script` gives the command a terminal.
    let command = format!(
        "{} discover lab.test --dns-server {} --out {}",
        bin().display(),
        dns_of(lab),
        out.display()
    );
    let run = std::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .output()
        .expect("util-linux `script` runs");
    let seen = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{seen}");
    assert!(
        seen.contains("discover: asking") && seen.contains("opening 13 port(s)"),
        "{seen}"
    );
    // Without a terminal (the other tests), the same run prints no progress.
    let run = discover(lab, &out, &["--force"]);
    assert!(!text(&run).1.contains("discover: asking"));
}
