//! `uds.version`: every `_cisco-uds._tcp` target answers `GET /cucm-uds/version` (no
//! authentication) with a `<versionInformation>`: Jabber's first request to the CUCM
//! it discovered.

use super::https::endpoint;
use super::words::{self, Miss};
use crate::discovery::{self, Lookup};
use crate::fetch::{self, Endpoint, FetchError, TlsSeen};
use crate::http::Response;
use crate::resources::{self, VersionInfo};
use crate::{xml, Ctx};
use imp_verify_core::catalog::{cite, Task};
use imp_verify_core::spec::Workflow;
use imp_verify_core::{keys, CheckCtx, CheckKey, Outcome};
use imp_verify_net::Srv;
use std::time::Duration;
use tokio::time::Instant;

/// The path Jabber asks first.
pub const PATH: &str = "/cucm-uds/version";

/// What one target answered: its certificate and the response, or why none came.
pub type Answer = Result<(TlsSeen, Response), FetchError>;

/// What each target answered.
#[derive(Debug, Clone)]
pub struct Facts {
    /// `_cisco-uds._tcp.<domain>`.
    pub record: String,
    /// Its lookup.
    pub lookup: Lookup,
    /// Each target and its answer.
    pub targets: Vec<(Srv, Endpoint, Answer)>,
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
        let answers = futures::future::join_all(
            eps.iter()
                .map(|(_, ep)| fetch::get(&c.net, ep, PATH, None, deadline, &cx)),
        )
        .await;
        targets = eps
            .into_iter()
            .zip(answers)
            .map(|((r, ep), a)| (r, ep, a))
            .collect();
    }
    let facts = Facts {
        record: discovery::uds_record(domain),
        lookup,
        targets,
    };
    judge(&facts, cx.budget(), cx.workflow, keys::uds_https(domain))
}

/// What one answer says: the version, or why it is not UDS's.
pub fn read(r: &Response) -> Result<VersionInfo, super::NotUds> {
    if r.status != 200 {
        return Err(super::NotUds::Status(r.status_line()));
    }
    let root = xml::parse(&r.body)?;
    Ok(resources::version(&root)?)
}

fn fix(ep: &Endpoint, r: &Response, w: Workflow) -> String {
    let services = cite(w, &[Task::VerifyServices]);
    match r.status {
        503 => format!(
            "UDS on {ep} is overloaded (503{}): wait and try again; if it lasts, look at the node's load{services}",
            r.header("retry-after")
                .map(|s| format!(", Retry-After: {s}"))
                .unwrap_or_default()
        ),
        _ => format!(
            "{ep} answers HTTPS but not as CUCM's User Data Services: check that Cisco User Data Services is activated and running on it (the _cisco-uds._tcp record must name CUCM nodes){services}"
        ),
    }
}

/// The verdict; `https` is the check of the targets' TLS.
pub fn judge(f: &Facts, budget: Duration, w: Workflow, https: CheckKey) -> Outcome {
    if f.lookup.records().is_none() {
        return words::no_records(&f.record, &f.lookup, budget, https, w);
    }
    let mut good = Vec::new();
    let mut misses = Vec::new();
    for (_, ep, a) in &f.targets {
        match a {
            Err(e) => misses.push(Miss::of(ep, e, w)),
            Ok((_, r)) => match read(r) {
                Ok(v) => good.push(format!(
                    "{ep}: UDS {}, CUCM {}",
                    v.schema.as_deref().unwrap_or("(no version attribute)"),
                    v.release.as_deref().unwrap_or("(no <version>)")
                )),
                Err(why) => misses.push(Miss {
                    line: format!("{ep} {why}"),
                    fix: fix(ep, r, w),
                    stalled: None,
                }),
            },
        }
    }
    let pass = || format!("{} {PATH}: {}", f.record, good.join("; "));
    let mut o = words::over_targets(misses, pass, PATH, budget);
    for (srv, _, a) in &f.targets {
        o = o.with("record", srv);
        if let Ok((s, r)) = a {
            o = o.with("address", s.addr).with("status", r.status_line());
            if let Ok(v) = read(r) {
                o = o
                    .with("uds_schema_version", v.schema.as_deref().unwrap_or(""))
                    .with("cucm_version", v.release.as_deref().unwrap_or(""));
                for (k, val) in &v.capabilities {
                    o = o.with(k.as_str(), val);
                }
            }
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::https::tests::{ep, srv, tls};
    use crate::resources::tests::lab_fixture;
    use imp_verify_core::{Reason, Stage, Status};

    fn response(status: u16, reason: &str, body: &str) -> Response {
        Response {
            status,
            reason: reason.into(),
            headers: vec![("Retry-After".into(), "120".into())],
            body: body.as_bytes().to_vec(),
        }
    }

    fn facts(answers: Vec<Answer>) -> Facts {
        Facts {
            record: "_cisco-uds._tcp.lab.test".into(),
            lookup: Lookup::Records(vec![srv("cucm.lab.test")]),
            targets: answers
                .into_iter()
                .map(|a| (srv("cucm.lab.test"), ep("cucm.lab.test"), a))
                .collect(),
        }
    }

    fn run(f: &Facts) -> Outcome {
        judge(
            f,
            Duration::from_secs(8),
            Workflow::A,
            keys::uds_https("lab.test"),
        )
    }

    #[test]
    fn the_documented_version_document_passes_with_its_versions() {
        let ok = run(&facts(vec![Ok((
            tls(Ok(()), true),
            response(200, "OK", &lab_fixture("version.xml")),
        ))]));
        assert_eq!(ok.status, Status::Pass, "{ok:?}");
        assert!(
            ok.message
                .contains("cucm.lab.test:8443: UDS 10.0.0, CUCM 12.5.1"),
            "{}",
            ok.message
        );
        assert!(ok
            .evidence
            .contains(&("usersResourceAuthEnabled".into(), "false".into())));
    }

    #[test]
    fn another_web_server_an_overload_and_a_timeout_fail_each_their_way() {
        let html = run(&facts(vec![Ok((
            tls(Ok(()), true),
            response(200, "OK", "<html><body>It works</body></html>"),
        ))]));
        assert_eq!(html.status, Status::Fail);
        assert!(
            html.message
                .contains("not the <versionInformation> of UDS's version resource"),
            "{}",
            html.message
        );
        assert!(html
            .remediation
            .unwrap()
            .contains("Cisco User Data Services is activated"));

        let missing = run(&facts(vec![Ok((
            tls(Ok(()), true),
            response(404, "Not Found", ""),
        ))]));
        assert!(
            missing.message.contains("answers 404 Not Found"),
            "{}",
            missing.message
        );

        let busy = run(&facts(vec![Ok((
            tls(Ok(()), true),
            response(503, "Service Unavailable", ""),
        ))]));
        assert!(busy
            .remediation
            .unwrap()
            .contains("overloaded (503, Retry-After: 120)"));

        let slow = run(&facts(vec![Err(FetchError::TimedOut(Stage::HttpRequest))]));
        assert_eq!(slow.status, Status::Fail);
        assert_eq!(
            slow.reason,
            Reason::TimedOut {
                after: Duration::from_secs(8),
                stage: Some(Stage::HttpRequest)
            }
        );
        assert!(
            slow.message.contains("no answer in time (an HTTP request)"),
            "{}",
            slow.message
        );

        // Two nodes: a timeout beside a wrong answer is a verdict (the answer is the
        // finding); both timing out is a timeout.
        let two = |second: Answer| {
            run(&facts(vec![
                Err(FetchError::TimedOut(Stage::HttpRequest)),
                second,
            ]))
        };
        let mixed = two(Ok((tls(Ok(()), true), response(404, "Not Found", ""))));
        assert_eq!(mixed.reason, Reason::Verdict, "{mixed:?}");
        assert!(mixed.message.contains("; "), "{}", mixed.message);
        let both = two(Err(FetchError::TimedOut(Stage::HttpRequest)));
        assert!(
            matches!(both.reason, Reason::TimedOut { .. }),
            "{:?}",
            both.reason
        );
    }
}
