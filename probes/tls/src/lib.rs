//! imp-verify probe `tls`: every TLS certificate the deployment presents, observed
//! through the run's toolkit (`imp_verify_net::tls`) and judged here ([`judge`]).
//!
//! For each TLS endpoint the spec implies ([`endpoints`]) — XMPP c2s and s2s
//! (STARTTLS), SIP TLS (with the trunk's client certificate), HTTPS where listed, LDAPS
//! and LDAP StartTLS — one observation per run ([`inspect_endpoint`]: the modern
//! handshake, and at the same time a tolerant TLS 1.2 look and TLS 1.0/1.1 ClientHellos
//! on connections of their own) is judged by the five checks of [`TlsCheck`]:
//! `tls.chain`, `tls.names`, `tls.validity`, `tls.usage`, `tls.strength` ([`judge`],
//! or [`judge_unobserved`] when there was no handshake to judge). A certificate is
//! judged even when its chain fails, and even when only the tolerant look could read it
//! (a 1024-bit key, CBC-only suites, TLS 1.0 only), so one run shows every problem of a
//! bad certificate and names it.

#![warn(missing_docs)]

mod check;
mod endpoint;
mod judge;
mod observe;
mod unobserved;

pub use check::{TlsCheck, Verdicts};
pub use endpoint::{endpoints, Start, TlsEndpoint};
pub use judge::{judge, Expectation};
pub use observe::{inspect_endpoint, EndpointError, Unobserved};
pub use unobserved::judge_unobserved;

use imp_verify_core::spec::Spec;
use imp_verify_core::{keys, CheckCtx, Outcome, PerAttempt, PlannedCheck, Probe};
use imp_verify_net::tls::TlsFacts;
use imp_verify_net::Net;
use std::sync::Arc;

/// One observation of an endpoint, judged: shared by its five checks.
type Judged = Result<(TlsFacts, Verdicts), EndpointError>;

/// The probe.
pub struct TlsProbe {
    net: Arc<Net>,
}

impl TlsProbe {
    /// The probe, with the run's network toolkit.
    pub fn new(net: Arc<Net>) -> Self {
        TlsProbe { net }
    }
}

/// What the five checks of one endpoint share: the endpoint, its one observation per
/// attempt, the run's toolkit.
struct Shared {
    ep: TlsEndpoint,
    judged: PerAttempt<Judged>,
    net: Arc<Net>,
}

impl Probe for TlsProbe {
    fn name(&self) -> &'static str {
        "tls"
    }

    fn plan(&self, spec: &Arc<Spec>) -> Vec<PlannedCheck> {
        let endpoints = match endpoints(spec) {
            Ok(e) => e,
            Err(why) => {
                // The client certificate cannot be used: every TLS check says so.
                let why = Arc::new(why);
                return TlsCheck::ALL
                    .into_iter()
                    .map(|check| {
                        let why = why.clone();
                        PlannedCheck::new(check.id(), "client certificate", move |_| {
                            let why = why.clone();
                            async move {
                                Outcome::fail(
                                    format!("the SIP trunk's client certificate cannot be used: {why}"),
                                    "Give the spec's sip_trunk.client_cert and client_key as PEM files",
                                )
                            }
                        })
                    })
                    .collect();
            }
        };
        let mut checks = Vec::new();
        for ep in endpoints {
            let port_key = keys::services_port(&ep.host, ep.port, ep.service);
            let (host, target) = (ep.host.clone(), ep.target());
            let shared = Arc::new(Shared {
                ep,
                judged: PerAttempt::default(),
                net: self.net.clone(),
            });
            for check in TlsCheck::ALL {
                let shared = shared.clone();
                let planned = PlannedCheck::new(check.id(), target.clone(), move |ctx| {
                    let shared = shared.clone();
                    async move { verdict(check, &shared, ctx).await }
                });
                checks.push(planned.after(port_key.clone()).on(host.clone()));
            }
        }
        checks
    }
}

/// The verdict of `check`: from the endpoint's one observation (made by whichever of
/// its checks asks first), judged once.
async fn verdict(check: TlsCheck, s: &Shared, ctx: CheckCtx) -> Outcome {
    let budget = ctx.budget();
    let judged = s
        .judged
        .get_or_init(ctx.attempt, || async {
            inspect_endpoint(&s.net, &s.ep, budget).await.map(|facts| {
                let v = judge(&s.net.tls, &facts, &s.ep.expect);
                (facts, v)
            })
        })
        .await;
    match &judged {
        Ok((facts, verdicts)) => verdicts
            .get(check)
            .clone()
            .with("server_name", &facts.server_name)
            .with("client_certificate", s.ep.client_certificate()),
        Err(why) => judge_unobserved(check, why, &s.ep),
    }
}
