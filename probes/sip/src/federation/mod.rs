//! SIP federation (interdomain federation over SIP, task C.14), from outside both
//! domains: `sip.federation-tls` (mutual TLS with each federated SIP domain's
//! federation port), `sip.federation-out` (an OPTIONS for the federated domain, handed
//! to an IM&P node, is routed to the peer and answered by it), `sip.federation-in`
//! (an OPTIONS for the local domain, handed to the peer's federation port, is routed to
//! IM&P and answered by it) and `sip.federation-refusal` (IM&P's own federation ports
//! refuse the TLS clients they must, see [`crate::refusal`]). Each observes into facts
//! that pure functions judge.

mod cross;
mod tls;

use crate::conn::Deadline;
use crate::ctx::{ClientCert, SipCtx};
use crate::plan::{planned, Refusals};
use crate::refusal::{self, Port};
use imp_verify_core::spec::{Role, Service, SipFederationPeer};
use imp_verify_core::{keys, CheckKey, PlannedCheck, Stage};
use imp_verify_net::DnsError;
use std::sync::Arc;

/// A federated SIP domain as the checks use it.
pub(crate) struct Peer {
    pub spec: SipFederationPeer,
    /// The certificate imp-verify presents to the peer (the spec's), if any.
    pub client: ClientCert,
}

/// The most SRV targets of a peer that are tried.
const MAX_ENDPOINTS: usize = 4;

/// Why a peer's federation endpoints are not known.
#[derive(Debug, thiserror::Error)]
pub(crate) enum EndpointsError {
    /// The lookup failed.
    #[error("{name}: {error} (see dns.srv.sip-federation)")]
    Lookup { name: String, error: DnsError },
    /// The DNS servers did not answer in the check's time.
    #[error("{name}: no DNS answer within the check's time (see dns.srv.sip-federation)")]
    Timeout { name: String },
    /// The record lists no target.
    #[error("{name} lists no target")]
    Empty { name: String },
}

impl EndpointsError {
    /// The step that ran out of the check's time, if that is why.
    pub fn stalled(&self) -> Option<Stage> {
        matches!(self, EndpointsError::Timeout { .. }).then_some(Stage::DnsQuery)
    }
}

impl Peer {
    /// The peer's federation endpoints: its `_sipfederationtls._tcp` targets, in
    /// priority order (then by weight, heaviest first), looked up before `deadline`.
    pub async fn endpoints(
        &self,
        c: &SipCtx,
        deadline: Deadline,
    ) -> Result<Vec<(String, u16)>, EndpointsError> {
        let name = format!("_sipfederationtls._tcp.{}", self.spec.domain);
        let lookup = c.net.resolver.lookup_srv(&name);
        let mut records = match tokio::time::timeout_at(deadline.tokio(), lookup).await {
            Err(_) => return Err(EndpointsError::Timeout { name }),
            Ok(Err(error)) => return Err(EndpointsError::Lookup { name, error }),
            Ok(Ok(r)) => r,
        };
        records.retain(|r| !r.target.is_empty());
        records.sort_by_key(|r| (r.priority, std::cmp::Reverse(r.weight)));
        if records.is_empty() {
            return Err(EndpointsError::Empty { name });
        }
        Ok(records
            .into_iter()
            .take(MAX_ENDPOINTS)
            .map(|r| (r.target, r.port))
            .collect())
    }
}

/// Plans the SIP federation checks of the spec.
pub(crate) fn plan(ctx: &Arc<SipCtx>, refusals: &mut Refusals) -> Vec<PlannedCheck> {
    let mut checks = Vec::new();
    let mut locals: Vec<&str> = Vec::new();
    for p in &ctx.spec.sip_federation {
        let peer = Arc::new(Peer {
            spec: p.clone(),
            client: ClientCert::load(
                format!("the spec's client certificate for {}", p.domain),
                p.client_cert.as_deref(),
                p.client_key.as_deref(),
            ),
        });
        checks.push(federation_tls(ctx, &peer));
        for node in &p.nodes {
            if let Some(check) = federation_out(ctx, &peer, node) {
                checks.push(check);
            }
        }
        checks.push(federation_in(ctx, &peer));
        if !locals.contains(&p.local_domain.as_str()) {
            locals.push(&p.local_domain);
        }
    }
    for local in locals {
        checks.extend(federation_refusals(ctx, local, refusals));
    }
    checks
}

/// `sip.federation-tls` of a peer.
fn federation_tls(ctx: &Arc<SipCtx>, peer: &Arc<Peer>) -> PlannedCheck {
    let domain = peer.spec.domain.clone();
    planned(
        keys::sip_federation_tls(&domain),
        (ctx.clone(), peer.clone()),
        |(c, p), cx| async move { tls::check(&c, &p, cx).await },
    )
    .after(keys::dns_srv_sip_federation(&peer.spec))
    .on(domain)
}

/// `sip.federation-out` through `node` (a node of the spec), on its SIP TCP port.
fn federation_out(ctx: &Arc<SipCtx>, peer: &Arc<Peer>, node: &str) -> Option<PlannedCheck> {
    let (_, n) = ctx.spec.node(node)?;
    let port = n.port(Service::SipTcp);
    let domain = &peer.spec.domain;
    let mut check = planned(
        CheckKey::new("sip.federation-out", format!("{node} -> {domain}")),
        (ctx.clone(), peer.clone(), node.to_string()),
        move |(c, p, h), cx| async move { cross::outbound(&c, &p, &h, port, cx).await },
    )
    .after(keys::dns_srv_sip_federation(&peer.spec));
    if n.services.contains(&Service::SipTcp) {
        check = check.after(keys::services_port(node, port, Service::SipTcp));
    }
    Some(check.on(node.to_string()))
}

/// `sip.federation-in` from a peer to its local domain.
fn federation_in(ctx: &Arc<SipCtx>, peer: &Arc<Peer>) -> PlannedCheck {
    let (domain, local) = (&peer.spec.domain, &peer.spec.local_domain);
    planned(
        CheckKey::new("sip.federation-in", format!("{domain} -> {local}")),
        (ctx.clone(), peer.clone()),
        |(c, p), cx| async move { cross::inbound(&c, &p, cx).await },
    )
    .after(keys::sip_federation_tls(domain))
    .after(keys::dns_srv_sipfederationtls(&peer.spec))
    .on(domain.clone())
}

/// `sip.federation-refusal` of each federation port of `local`: its IM&P nodes' SIP TLS
/// port, as `_sipfederationtls._tcp.<local>` must list them.
fn federation_refusals(
    ctx: &Arc<SipCtx>,
    local: &str,
    refusals: &mut Refusals,
) -> Vec<PlannedCheck> {
    let mut checks = Vec::new();
    for cluster in ctx.spec.clusters.iter().filter(|c| c.domain == local) {
        for node in cluster.nodes.iter().filter(|n| n.role == Role::Imp) {
            let (host, port) = (node.fqdn(), node.port(Service::SipTls));
            let shared = refusals.target(host, port, local);
            let mut check = planned(
                CheckKey::new("sip.federation-refusal", format!("{host}:{port} ({local})")),
                (ctx.clone(), shared),
                |(c, e), cx| async move { refusal::check(&c, &e, Port::Federation, cx).await },
            );
            if node.services.contains(&Service::SipTls) {
                check = check.after(keys::services_port(host, port, Service::SipTls));
            }
            checks.push(check.on(host.to_string()));
        }
    }
    checks
}
