//! Fuzz target: a DNS server's answer as the tool handles it. The bytes are read as the
//! response to a question (its kind chosen by the first byte: A, AAAA, SRV, PTR) by
//! `imp_verify_net::dns::read_answer`, the function every hand-made question's answer
//! goes through (decoding, the CNAME chain, loops, response codes), and what it gives
//! is judged by the DNS probe's judges as a check would (`judge_srv`, `judge_node`).
//! Whatever the bytes: no panic, and a verdict whose message and evidence are bounded
//! and carry no control character (peer text escaped and cut).
//! Run: `cargo fuzz run dns_answer` in probes/dns (scripts/fuzz does it briefly).
#![no_main]

use imp_probe_dns::{judge_node, judge_srv, Asked, NodeFacts, SrvExpect, SrvFacts, MAX_TARGETS};
use imp_verify_core::spec::Workflow;
use imp_verify_core::Outcome;
use imp_verify_net::dns::{read_answer, DnsAnswer, RecordKind};
use libfuzzer_sys::fuzz_target;
use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::Duration;

const NAME: &str = "_xmpp-client._tcp.lab.test";
const NODE: &str = "imp1.lab.test";

fn expect() -> SrvExpect {
    SrvExpect {
        name: NAME.into(),
        targets: vec![
            ("imp1.lab.test".into(), 5222),
            ("imp2.lab.test".into(), 5222),
        ],
        all_required: false,
        strangers_fail: true,
        task: "tasks C.5, C.10".into(),
        ha_task: Some("C.9"),
        purpose: "XMPP clients find the IM&P nodes of the domain",
        groups: vec![(
            "prg-1".into(),
            vec!["imp1.lab.test".into(), "imp2.lab.test".into()],
        )],
    }
}

fn srv_facts(records: Asked<Vec<imp_verify_net::Srv>>) -> SrvFacts {
    let targets = match &records {
        Asked::Done(Ok(r)) => r
            .iter()
            .map(|r| r.target.clone())
            .filter(|t| !t.is_empty())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .take(MAX_TARGETS)
            .map(|t| (t, Asked::Done(Ok(vec![IpAddr::from([127, 0, 0, 22])]))))
            .collect(),
        _ => Vec::new(),
    };
    SrvFacts {
        records,
        targets,
        targets_not_asked: 0,
        resolver: "127.0.0.20:53".into(),
        budget: Duration::from_secs(4),
    }
}

fn node_facts(addresses: Asked<Vec<IpAddr>>, ptr: Option<Asked<Vec<String>>>) -> NodeFacts {
    let ip = IpAddr::from([127, 0, 0, 22]);
    NodeFacts {
        fqdn: NODE.into(),
        expected: None,
        ptr: ptr.into_iter().map(|p| (ip, p)).collect(),
        addresses,
        resolver: "127.0.0.20:53".into(),
        budget: Duration::from_secs(4),
    }
}

/// What a report may show of a verdict on anything a server sent.
fn fit(o: &Outcome) {
    let texts = std::iter::once(&o.message)
        .chain(o.remediation.as_ref())
        .chain(o.evidence.iter().map(|(_, v)| v));
    for t in texts {
        assert!(t.len() <= 8192, "{} bytes: {t:?}", t.len());
        assert!(
            !t.chars().any(char::is_control),
            "a control character in {t:?}"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, bytes)) = data.split_first() else {
        return;
    };
    let kind = [
        RecordKind::A,
        RecordKind::Aaaa,
        RecordKind::Srv,
        RecordKind::Ptr,
    ][first as usize % 4];
    let asked = if kind == RecordKind::Srv { NAME } else { NODE };
    let answer = read_answer(bytes, asked, kind);
    let outcomes = match answer {
        Ok(DnsAnswer::Srv(records)) => {
            vec![judge_srv(&expect(), &srv_facts(Asked::Done(Ok(records))))]
        }
        Ok(DnsAnswer::Addresses(a)) => vec![judge_node(
            &node_facts(Asked::Done(Ok(a)), None),
            Workflow::C,
        )],
        Ok(DnsAnswer::Names(n)) => {
            let addresses = Asked::Done(Ok(vec![IpAddr::from([127, 0, 0, 22])]));
            vec![judge_node(
                &node_facts(addresses, Some(Asked::Done(Ok(n)))),
                Workflow::C,
            )]
        }
        Err(e) => vec![
            judge_srv(&expect(), &srv_facts(Asked::Done(Err(e.clone())))),
            judge_node(&node_facts(Asked::Done(Err(e)), None), Workflow::C),
        ],
    };
    outcomes.iter().for_each(fit);
});
