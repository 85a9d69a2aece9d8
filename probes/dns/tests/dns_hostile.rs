//! The DNS and services probes against DNS servers that misbehave, written here and
//! serving UDP and TCP on one port of 127.0.0.9: one that never answers, one whose
//! names are CNAME loops, one that answers SERVFAIL to everything, one whose SRV answer
//! is some 38 KB (over TCP, after a truncated datagram), one that sends garbage or
//! refuses, and a port where nobody listens. Each check ends with a true reason within
//! its timeout plus a margin, through the real runner.

use hickory_resolver::proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_resolver::proto::rr::rdata::{CNAME, SRV};
use hickory_resolver::proto::rr::{Name, RData, Record, RecordType};
use imp_probe_dns::DnsProbe;
use imp_probe_services::ServicesProbe;
use imp_verify_core::spec::Spec;
use imp_verify_core::{Area, CheckResult, Outcome, Probe, Reason, Stage, Status};
use imp_verify_net::{DnsError, Net, Resolver};
use imp_verify_testlab::harness::{self, ev};
use imp_verify_testlab::Lab;
use std::io::{Read, Write};
use std::net::{TcpListener, UdpSocket};
use std::path::Path;
use std::time::Duration;

/// Each check's time in these tests.
const TIMEOUT: Duration = Duration::from_secs(2);

/// What a check may take beyond its timeout: reporting, scheduling on a loaded machine.
const MARGIN: Duration = Duration::from_millis(500);

/// How the test's server answers a query (`None`: it stays silent); `tcp` says which
/// transport the query came over.
type Answer = fn(&Message, bool) -> Option<Message>;

/// A DNS server of the test's own on 127.0.0.9, UDP and TCP on one port; its address.
fn serve(answer: Answer) -> String {
    let tcp = TcpListener::bind("127.0.0.9:0").unwrap();
    let addr = tcp.local_addr().unwrap();
    let udp = UdpSocket::bind(addr).unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok((n, from)) = udp.recv_from(&mut buf) {
            let Ok(q) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            if let Some(r) = answer(&q, false) {
                let _ = udp.send_to(&r.to_vec().unwrap(), from);
            }
        }
    });
    std::thread::spawn(move || {
        for mut s in tcp.incoming().flatten() {
            std::thread::spawn(move || {
                let mut len = [0u8; 2];
                while s.read_exact(&mut len).is_ok() {
                    let mut q = vec![0u8; u16::from_be_bytes(len) as usize];
                    if s.read_exact(&mut q).is_err() {
                        return;
                    }
                    let Ok(q) = Message::from_vec(&q) else { return };
                    // Silent: the connection stays open, unanswered.
                    if let Some(r) = answer(&q, true) {
                        let r = r.to_vec().unwrap();
                        let mut framed = (r.len() as u16).to_be_bytes().to_vec();
                        framed.extend(r);
                        if s.write_all(&framed).is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    addr.to_string()
}

/// The response to `q` with `code` and `answers`.
fn response(q: &Message, code: ResponseCode, answers: Vec<Record>) -> Message {
    let mut m = Message::new(q.metadata.id, MessageType::Response, OpCode::Query);
    m.queries = q.queries.clone();
    m.metadata.recursion_desired = q.metadata.recursion_desired;
    m.metadata.recursion_available = true;
    m.metadata.response_code = code;
    m.add_answers(answers);
    m
}

fn name(s: &str) -> Name {
    s.parse().unwrap()
}

/// A spec of one IM&P node (no pinned address) of `example.test` and an LDAPS
/// directory server by name, asking `dns`, whose own query timeout (10 s) is longer
/// than a check's: the check's time ends first.
fn spec_with(dns: &str, dir: &Path) -> std::path::PathBuf {
    std::fs::write(dir.join("svc.password"), "not-used\n").unwrap();
    let text = format!(
        "workflow = \"A\"\ndomains = [\"example.test\"]\n[dns]\nservers = [\"{dns}\"]\ntimeout = \"10s\"\n\
         [[clusters]]\nname = \"c\"\ndomain = \"example.test\"\n\
         [[clusters.nodes]]\nfqdn = \"imp1.example.test\"\nrole = \"imp\"\nservices = [\"xmpp-c2s\"]\n\
         [ldap]\nbind_dn = \"cn=svc,dc=example,dc=test\"\npassword_file = \"{}\"\nbase = \"dc=example,dc=test\"\n\
         user_filter = \"(objectClass=person)\"\n[[ldap.servers]]\nurl = \"ldaps://ldap.example.test:636\"\n",
        dir.join("svc.password").display()
    );
    let path = dir.join("spec.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// The DNS and services checks of a spec asking `dns`, through the runner.
async fn run(dns: &str) -> Vec<CheckResult> {
    let dir = tempfile::tempdir().unwrap();
    let spec = harness::load(&spec_with(dns, dir.path()));
    let net = Net::from_spec(&spec);
    let probes: Vec<Box<dyn Probe>> = vec![
        Box::new(DnsProbe::new(net.clone())),
        Box::new(ServicesProbe::new(net)),
    ];
    harness::run_areas(&spec, &probes, &[Area::Dns, Area::Services], TIMEOUT).await
}

fn find<'a>(r: &'a [CheckResult], id: &str, target: &str) -> &'a CheckResult {
    harness::get(r, id, target)
}

fn fix(o: &Outcome) -> &str {
    o.remediation.as_deref().unwrap_or_default()
}

/// Every check that ran ended within its timeout plus the margin.
fn all_within_time(r: &[CheckResult]) {
    for c in r {
        assert!(
            c.duration <= TIMEOUT + MARGIN,
            "{} took {:?}",
            c.key,
            c.duration
        );
    }
}

#[tokio::test]
async fn a_dns_server_that_never_answers_times_each_check_out_at_its_own_stage() {
    let r = run(&serve(|_, _| None)).await;
    all_within_time(&r);
    for (id, target) in [
        ("dns.node", "imp1.example.test"),
        ("dns.srv.xmpp-client", "_xmpp-client._tcp.example.test"),
    ] {
        let o = &find(&r, id, target).outcome;
        assert_eq!(o.status, Status::Fail, "{id}: {}", o.message);
        assert_eq!(
            o.message,
            format!("{target}: the DNS server did not answer within 1600 ms"),
        );
        assert!(
            matches!(
                o.reason,
                Reason::TimedOut {
                    stage: Some(Stage::DnsQuery),
                    ..
                }
            ),
            "{id}: {:?}",
            o.reason
        );
    }
    // A directory server named by its host: resolution is the stage, and nobody is said
    // to have accepted anything.
    let ldap = &find(&r, "services.port", "ldap.example.test:636 (ldaps)").outcome;
    assert_eq!(ldap.status, Status::Fail);
    assert_eq!(
        ldap.message,
        "cannot resolve ldap.example.test: the DNS server did not answer within 1600 ms"
    );
    assert!(
        matches!(
            ldap.reason,
            Reason::TimedOut {
                stage: Some(Stage::Resolve),
                ..
            }
        ),
        "{:?}",
        ldap.reason
    );
    assert!(!fix(ldap).contains("accepted"), "{}", fix(ldap));
    assert!(
        fix(ldap).contains("answer for ldap.example.test"),
        "{}",
        fix(ldap)
    );
    // The node's port waits for its name: skipped, naming it.
    let port = &find(&r, "services.port", "imp1.example.test:5222 (xmpp-c2s)").outcome;
    assert_eq!(port.status, Status::Skip, "{}", port.message);
}

/// Every name `n` of the zone is an alias of `loop.n`, and `loop.n` of `n`: a loop of
/// two, as a botched rename leaves it. An A, AAAA or SRV question gets both CNAMEs (as
/// an authoritative server answers a loop), a CNAME question the name's own.
fn cname_loop(q: &Message, _tcp: bool) -> Option<Message> {
    let query = q.queries.first()?;
    let asked = query.name().clone();
    let text = asked.to_ascii();
    let partner = match text.strip_prefix("loop.") {
        Some(rest) => name(rest),
        None => name(&format!("loop.{text}")),
    };
    let alias = |from: &Name, to: &Name| {
        Record::from_rdata(from.clone(), 60, RData::CNAME(CNAME(to.clone())))
    };
    let mut answers = vec![alias(&asked, &partner)];
    if query.query_type() != RecordType::CNAME {
        answers.push(alias(&partner, &asked));
    }
    Some(response(q, ResponseCode::NoError, answers))
}

#[tokio::test]
async fn a_cname_loop_is_named_and_its_fix_breaks_it() {
    let r = run(&serve(cname_loop)).await;
    all_within_time(&r);
    let node = &find(&r, "dns.node", "imp1.example.test").outcome;
    assert_eq!(node.status, Status::Fail);
    assert_eq!(
        node.message,
        "imp1.example.test: imp1.example.test is an alias in a CNAME loop (imp1.example.test → loop.imp1.example.test → imp1.example.test): it never reaches a name with records"
    );
    assert!(
        fix(node).starts_with("Break the CNAME loop"),
        "{}",
        fix(node)
    );
    assert_eq!(node.reason, Reason::Verdict);
    let srv = &find(&r, "dns.srv.xmpp-client", "_xmpp-client._tcp.example.test").outcome;
    assert!(srv.message.contains("CNAME loop"), "{}", srv.message);
    assert!(fix(srv).starts_with("Break the CNAME loop"), "{}", fix(srv));
    let ldap = &find(&r, "services.port", "ldap.example.test:636 (ldaps)").outcome;
    assert!(ldap.message.contains("CNAME loop"), "{}", ldap.message);
    assert!(
        fix(ldap).starts_with("Break the CNAME loop of ldap.example.test"),
        "{}",
        fix(ldap)
    );
    for o in [node, srv, ldap] {
        assert!(!o.message.contains("NODATA"), "{}", o.message);
        assert!(
            !fix(o).contains("Add an A") && !fix(o).contains("Publish"),
            "{}",
            fix(o)
        );
    }
}

#[tokio::test]
async fn servfail_is_the_servers_failure_not_an_absence() {
    let r = run(&serve(|q, _| {
        Some(response(q, ResponseCode::ServFail, vec![]))
    }))
    .await;
    all_within_time(&r);
    for (id, target) in [
        ("dns.node", "imp1.example.test"),
        ("dns.srv.xmpp-client", "_xmpp-client._tcp.example.test"),
    ] {
        let o = &find(&r, id, target).outcome;
        assert_eq!(o.status, Status::Fail);
        assert_eq!(
            o.message,
            format!("{target}: the DNS server answered SERVFAIL (Server Failure)")
        );
        assert!(fix(o).contains("(SERVFAIL): see its log"), "{}", fix(o));
        assert!(
            !fix(o).contains("Add an A") && !fix(o).contains("Publish"),
            "{}",
            fix(o)
        );
    }
    let ldap = &find(&r, "services.port", "ldap.example.test:636 (ldaps)").outcome;
    assert!(
        ldap.message.ends_with("SERVFAIL (Server Failure)"),
        "{}",
        ldap.message
    );
    assert!(
        fix(ldap).starts_with("Check that the DNS servers"),
        "{}",
        fix(ldap)
    );
}

/// How many records the huge SRV answer holds.
const HUGE: usize = 700;

/// SRV questions: a truncated datagram, then over TCP some 38 KB of records naming
/// strangers (one of them with an escape sequence in its name; a TCP message holds at
/// most 64 KiB); every other question:
/// NXDOMAIN.
fn huge_srv(q: &Message, tcp: bool) -> Option<Message> {
    let query = q.queries.first()?;
    if query.query_type() != RecordType::SRV {
        return Some(response(q, ResponseCode::NXDomain, vec![]));
    }
    if !tcp {
        let mut m = response(q, ResponseCode::NoError, vec![]);
        m.metadata.truncation = true;
        return Some(m);
    }
    let target =
        |label: &[u8]| Name::from_labels(vec![label, b"far-away-org", b"example"]).unwrap();
    let mut answers = vec![Record::from_rdata(
        query.name().clone(),
        60,
        RData::SRV(SRV::new(0, 0, 5222, target(b"evil\x1b[31m"))),
    )];
    for i in 1..HUGE {
        let host = format!("stranger-{i:05}");
        answers.push(Record::from_rdata(
            query.name().clone(),
            60,
            RData::SRV(SRV::new(10, 0, 5222, target(host.as_bytes()))),
        ));
    }
    let m = response(q, ResponseCode::NoError, answers);
    assert!(
        m.to_vec().unwrap().len() > 33_000,
        "the answer is smaller than meant"
    );
    Some(m)
}

#[tokio::test]
async fn a_huge_srv_answer_is_judged_bounded_and_shown_cut() {
    let r = run(&serve(huge_srv)).await;
    all_within_time(&r);
    let c = find(&r, "dns.srv.xmpp-client", "_xmpp-client._tcp.example.test");
    let o = &c.outcome;
    assert_eq!(o.status, Status::Fail, "{}", o.message);
    assert!(
        o.message.len() < 1500,
        "{} bytes: {}",
        o.message.len(),
        o.message
    );
    assert!(
        o.message.starts_with(
            "_xmpp-client._tcp.example.test: evil\\033\\[31m.far-away-org.example is not a node"
        ),
        "{}",
        o.message
    );
    assert!(!o.message.contains('\u{1b}'), "{}", o.message);
    assert!(o.message.contains(" more"), "{}", o.message);
    let records = ev(o, "records");
    assert!(records.len() < 1500, "{} bytes", records.len());
    assert!(
        records.ends_with(&format!("and {} more", HUGE - 10)),
        "{records}"
    );
    assert_eq!(o.metrics.get("record_count"), Some(&(HUGE as f64)));
    assert_eq!(
        ev(o, "targets_not_resolved"),
        (HUGE - imp_probe_dns::MAX_TARGETS).to_string()
    );
}

/// A UDP-only server on loopback that answers every query with `reply(query)`.
fn fake_dns(reply: fn(&[u8]) -> Option<Vec<u8>>) -> String {
    let sock = UdpSocket::bind("127.0.0.9:0").unwrap();
    let addr = sock.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        while let Ok((n, from)) = sock.recv_from(&mut buf) {
            if let Some(r) = reply(&buf[..n]) {
                let _ = sock.send_to(&r, from);
            }
        }
    });
    addr
}

/// A spec of one IM&P node asking `dns` (300 ms a query).
fn quick_spec(dns: &str) -> Spec {
    let text = format!(
        "workflow = \"A\"\ndomains = [\"example.test\"]\n[dns]\nservers = [\"{dns}\"]\ntimeout = \"300ms\"\n\
         [[clusters]]\nname = \"c\"\ndomain = \"example.test\"\n[[clusters.nodes]]\nfqdn = \"imp1.example.test\"\nrole = \"imp\"\n"
    );
    Spec::parse(
        &text,
        Path::new("t.toml"),
        &std::collections::BTreeMap::new(),
    )
    .unwrap()
}

#[tokio::test]
async fn absent_silent_and_malformed_are_three_different_answers() {
    // Silent.
    let silent = fake_dns(|_| None);
    let e = Resolver::from_spec(&quick_spec(&silent))
        .lookup_srv("_xmpp-client._tcp.example.test")
        .await
        .unwrap_err();
    assert!(matches!(e, DnsError::NoAnswer { .. }), "{e:?}");
    // Garbage: the query's id, then bytes that are no DNS message.
    let garbage = fake_dns(|q| {
        Some(
            [
                &q[..2],
                &[0x81, 0x80, 0xff, 0xff, 0xde, 0xad, 0xbe, 0xef][..],
            ]
            .concat(),
        )
    });
    let r = Resolver::from_spec(&quick_spec(&garbage));
    let e = r
        .lookup_srv("_xmpp-client._tcp.example.test")
        .await
        .unwrap_err();
    assert!(matches!(e, DnsError::Malformed { .. }), "{e:?}");
    let e = r.reverse("127.0.0.22".parse().unwrap()).await.unwrap_err();
    assert!(matches!(e, DnsError::Malformed { .. }), "{e:?}");
    // Absent: the lab's real server, a name that does not exist.
    let lab = Lab::shared();
    let spec = Spec::load(&lab.spec()).unwrap();
    let e = Resolver::from_spec(&spec)
        .lookup_srv("_nothing._tcp.lab.test")
        .await
        .unwrap_err();
    assert!(matches!(e, DnsError::NxDomain { .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        "_nothing._tcp.lab.test does not exist (NXDOMAIN)"
    );
}

#[tokio::test]
async fn dns_node_tells_a_silent_server_from_a_malformed_answer_and_a_refusal() {
    async fn node(dns: &str) -> Outcome {
        let spec = std::sync::Arc::new(quick_spec(dns));
        let probes: Vec<Box<dyn Probe>> = vec![Box::new(DnsProbe::new(Net::from_spec(&spec)))];
        let r = harness::run_areas(&spec, &probes, &[Area::Dns], Duration::from_secs(5)).await;
        harness::get(&r, "dns.node", "imp1.example.test")
            .outcome
            .clone()
    }
    let silent = node(&fake_dns(|_| None)).await;
    assert_eq!(silent.status, Status::Fail);
    assert!(
        silent.message.contains("the DNS server did not answer"),
        "{}",
        silent.message
    );
    assert!(fix(&silent).contains("reachable"), "{silent:?}");
    assert!(fix(&silent).contains("tasks A.1, A.9"), "{silent:?}");

    let garbage = node(&fake_dns(|q| {
        Some([&q[..2], &[0x81, 0x80, 0xff, 0xff, 0xde, 0xad][..]].concat())
    }))
    .await;
    assert_eq!(garbage.status, Status::Fail);
    assert!(
        garbage.message.contains("the DNS answer is malformed"),
        "{}",
        garbage.message
    );
    assert!(fix(&garbage).contains("could not be read"), "{garbage:?}");

    // REFUSED from the server: a third message, neither absent nor silent.
    let refused = node(&fake_dns(|q| {
        let mut r = q.to_vec();
        r[2] |= 0x80; // QR: a response
        r[3] = (r[3] & 0xf0) | 5; // RCODE REFUSED
        Some(r)
    }))
    .await;
    assert_eq!(refused.status, Status::Fail);
    assert!(
        refused.message.contains("the DNS server answered REFUSED"),
        "{}",
        refused.message
    );
    assert!(fix(&refused).contains("refuses to answer"), "{refused:?}");
    for o in [&silent, &garbage, &refused] {
        assert!(
            !o.message.contains("NXDOMAIN") && !o.message.contains("NODATA"),
            "{}",
            o.message
        );
    }
}

#[tokio::test]
async fn a_closed_dns_port_is_no_answer_not_absence() {
    // A port nobody listens on: ICMP port unreachable, "connection refused".
    let port = UdpSocket::bind("127.0.0.9:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let r = Resolver::from_spec(&quick_spec(&format!("127.0.0.9:{port}")));
    let e = r.lookup_ip("imp1.example.test").await.unwrap_err();
    assert!(matches!(e, DnsError::NoAnswer { .. }), "{e:?}");
    let e = r.reverse("127.0.0.22".parse().unwrap()).await.unwrap_err();
    assert!(matches!(e, DnsError::NoAnswer { .. }), "{e:?}");
    assert!(e.to_string().contains(&format!("127.0.0.9:{port}")), "{e}");
}
