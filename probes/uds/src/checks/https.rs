//! `uds.https`: every `_cisco-uds._tcp` target of the domain answers TLS on its port
//! with a certificate that chains to the spec's CA bundle and names the target, the
//! host name Jabber asks for and verifies.

use super::words::{self, Miss};
use crate::discovery::{self, Lookup};
use crate::fetch::{self, Endpoint, FetchError, TlsSeen};
use crate::Ctx;
use imp_verify_core::spec::Workflow;
use imp_verify_core::{keys, CheckCtx, CheckKey, Outcome};
use imp_verify_net::Srv;
use std::time::Duration;
use tokio::time::Instant;

/// What the handshakes showed.
#[derive(Debug, Clone)]
pub struct Facts {
    /// `_cisco-uds._tcp.<domain>`.
    pub record: String,
    /// Its lookup.
    pub lookup: Lookup,
    /// Each target, asked for by its name, and what its handshake showed.
    pub targets: Vec<(Srv, Endpoint, Result<TlsSeen, FetchError>)>,
}

/// The endpoint of an SRV target (its pinned address when it is a node of the spec).
pub(crate) fn endpoint(c: &Ctx, srv: &Srv) -> Endpoint {
    Endpoint {
        host: srv.target.clone(),
        port: srv.port,
        pinned: c.pinned(&srv.target),
    }
}

/// The check.
pub async fn check(c: &Ctx, domain: &str, cx: CheckCtx) -> Outcome {
    let lookup = c.uds(domain, &cx).await;
    let deadline = Instant::from_std(cx.budget_deadline());
    let mut targets = Vec::new();
    if let Some(records) = lookup.records() {
        let eps: Vec<(Srv, Endpoint)> = records
            .iter()
            .map(|r| (r.clone(), endpoint(c, r)))
            .collect();
        let seen = futures::future::join_all(
            eps.iter()
                .map(|(_, ep)| fetch::handshake(&c.net, ep, deadline, &cx)),
        )
        .await;
        targets = eps
            .into_iter()
            .zip(seen)
            .map(|((r, ep), s)| (r, ep, s))
            .collect();
    }
    let facts = Facts {
        record: discovery::uds_record(domain),
        lookup,
        targets,
    };
    judge(
        &facts,
        cx.budget(),
        cx.workflow,
        keys::dns_srv_cisco_uds(domain),
    )
}

/// The verdict; `dns` is the check of the record itself.
pub fn judge(f: &Facts, budget: Duration, w: Workflow, dns: CheckKey) -> Outcome {
    if f.lookup.records().is_none() {
        return words::no_records(&f.record, &f.lookup, budget, dns, w);
    }
    let mut good = Vec::new();
    let mut misses = Vec::new();
    for (_, ep, r) in &f.targets {
        match r {
            Ok(s) if s.trusted() => good.push(format!("{ep} ({})", s.protocol)),
            Ok(s) => misses.push(Miss::of(ep, &FetchError::Untrusted(s.clone()), w)),
            Err(e) => misses.push(Miss::of(ep, e, w)),
        }
    }
    let pass = || {
        format!(
            "{}: {} answer(s) HTTPS with a certificate that chains to the CA bundle and names the host",
            f.record,
            good.join(", ")
        )
    };
    let mut o = words::over_targets(misses, pass, &f.record, budget);
    for (srv, _, r) in &f.targets {
        o = o.with("record", srv);
        o = match r {
            Ok(s) => words::with_tls(o, s),
            Err(FetchError::Handshake { seen: Some(s), .. }) => words::with_tls(o, s),
            Err(_) => o,
        };
    }
    o
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::fetch::ConnectFailure;
    use imp_verify_core::{Reason, Stage, Status};
    use imp_verify_net::tls::ChainError;

    pub(crate) fn srv(target: &str) -> Srv {
        Srv {
            priority: 10,
            weight: 0,
            port: 8443,
            target: target.into(),
        }
    }

    pub(crate) fn ep(host: &str) -> Endpoint {
        Endpoint {
            host: host.into(),
            port: 8443,
            pinned: None,
        }
    }

    pub(crate) fn tls(chain: Result<(), ChainError>, names_host: bool) -> TlsSeen {
        let verify_error = match (&chain, names_host) {
            (Ok(()), true) => None,
            (Err(e), _) => Some(e.to_string()),
            (Ok(()), false) => Some("certificate not valid for name".into()),
        };
        TlsSeen {
            addr: "127.0.0.24:8443".parse().unwrap(),
            protocol: "TLSv1_3 TLS13_AES_256_GCM_SHA384".into(),
            subject: "O=imp-verify lab, CN=cucm.lab.test".into(),
            issuer: "CN=imp-verify lab CA".into(),
            names: "DNS:cucm.lab.test".into(),
            chain,
            names_host,
            verify_error,
        }
    }

    fn facts(seen: Vec<Result<TlsSeen, FetchError>>) -> Facts {
        let hosts = ["cucm1.lab.test", "cucm2.lab.test"];
        Facts {
            record: "_cisco-uds._tcp.lab.test".into(),
            lookup: Lookup::Records(hosts.iter().map(|h| srv(h)).collect()),
            targets: seen
                .into_iter()
                .zip(hosts)
                .map(|(s, h)| (srv(h), ep(h), s))
                .collect(),
        }
    }

    fn run(f: &Facts) -> Outcome {
        judge(
            f,
            Duration::from_secs(8),
            Workflow::C,
            keys::dns_srv_cisco_uds("lab.test"),
        )
    }

    #[test]
    fn every_target_must_verify_for_its_own_name() {
        let ok = run(&facts(vec![Ok(tls(Ok(()), true)), Ok(tls(Ok(()), true))]));
        assert_eq!(ok.status, Status::Pass, "{ok:?}");
        assert!(
            ok.message.contains("cucm1.lab.test:8443 (TLSv1_3"),
            "{}",
            ok.message
        );

        let other_host = run(&facts(vec![Ok(tls(Ok(()), true)), Ok(tls(Ok(()), false))]));
        assert_eq!(other_host.status, Status::Fail);
        assert!(
            other_host.message.contains("cucm2.lab.test:8443 (127.0.0.24:8443): the certificate does not name cucm2.lab.test (it names DNS:cucm.lab.test)"),
            "{}",
            other_host.message
        );
        assert!(other_host
            .remediation
            .as_ref()
            .unwrap()
            .contains("task C.11"));

        let foreign = run(&facts(vec![Ok(tls(
            Err(ChainError::UnknownIssuer("UnknownIssuer".into())),
            true,
        ))]));
        assert_eq!(foreign.status, Status::Fail);
        assert!(
            foreign.message.contains("does not chain to the CA bundle"),
            "{}",
            foreign.message
        );
        assert!(foreign.remediation.unwrap().contains("Untrusted server"));
    }

    #[test]
    fn a_server_down_names_the_services_and_a_timeout_its_stage() {
        let down = run(&facts(vec![Err(FetchError::Connect(
            ConnectFailure::Refused("127.0.0.24:8443".parse().unwrap()),
        ))]));
        assert_eq!(down.status, Status::Fail);
        assert_eq!(down.reason, Reason::Verdict);
        assert!(
            down.message.contains("connection refused"),
            "{}",
            down.message
        );
        let fix = down.remediation.unwrap();
        assert!(
            fix.contains("Cisco User Data Services") && fix.contains("task C.10"),
            "{fix}"
        );

        let slow = run(&facts(vec![Err(FetchError::TimedOut(Stage::TlsHandshake))]));
        assert_eq!(
            slow.reason,
            Reason::TimedOut {
                after: Duration::from_secs(8),
                stage: Some(Stage::TlsHandshake)
            }
        );
    }

    #[test]
    fn without_records_nothing_is_observable_and_the_dns_check_is_named() {
        let f = Facts {
            record: "_cisco-uds._tcp.lab.test".into(),
            lookup: Lookup::Absent(imp_verify_net::DnsError::NxDomain {
                name: "_cisco-uds._tcp.lab.test".into(),
                via: Vec::new(),
            }),
            targets: vec![],
        };
        let o = run(&f);
        assert_eq!(o.status, Status::Fail);
        assert_eq!(
            o.reason,
            Reason::NotObservable {
                because: keys::dns_srv_cisco_uds("lab.test")
            }
        );
    }
}
