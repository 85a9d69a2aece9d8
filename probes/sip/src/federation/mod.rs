//! SIP federation (interdomain federation over SIP, task C.14), from outside both
//! domains: `sip.federation-tls` (mutual TLS with each federated SIP domain's
//! federation port), `sip.federation-out` (an OPTIONS for the federated domain, handed
//! to an IM&P node, is routed to the peer and answered by it) and `sip.federation-in`
//! (an OPTIONS for the local domain, handed to the peer's federation port, is routed to
//! IM&P and answered by it). Each observes into facts that pure functions judge.

mod cross;
mod tls;

use crate::Ctx;
use imp_verify_core::spec::{Service, SipFederationPeer};
use imp_verify_core::{keys, PlannedCheck};
use imp_verify_net::tls::ClientIdentity;
use std::sync::Arc;

/// A federated SIP domain as the checks use it.
pub(crate) struct Peer {
    pub spec: SipFederationPeer,
    /// The certificate imp-verify presents to the peer (the spec's), if any.
    pub client: Option<Result<ClientIdentity, String>>,
}

/// The most SRV targets of a peer that are tried.
const MAX_ENDPOINTS: usize = 4;

impl Peer {
    /// The peer's federation endpoints: its `_sipfederationtls._tcp` targets, in
    /// priority order (then by weight, heaviest first).
    pub async fn endpoints(&self, c: &Ctx) -> Result<Vec<(String, u16)>, String> {
        let name = format!("_sipfederationtls._tcp.{}", self.spec.domain);
        let mut records = c
            .net
            .resolver
            .lookup_srv(&name)
            .await
            .map_err(|e| format!("{name}: {e} (see dns.srv.sip-federation)"))?;
        records.retain(|r| !r.target.is_empty());
        records.sort_by_key(|r| (r.priority, std::cmp::Reverse(r.weight)));
        if records.is_empty() {
            return Err(format!("{name} lists no target"));
        }
        Ok(records
            .into_iter()
            .take(MAX_ENDPOINTS)
            .map(|r| (r.target, r.port))
            .collect())
    }

    /// The client identity, or why there is none to use.
    pub fn identity(&self) -> Result<Option<&ClientIdentity>, String> {
        match &self.client {
            None => Ok(None),
            Some(Ok(id)) => Ok(Some(id)),
            Some(Err(e)) => Err(format!(
                "the spec's client certificate for {} cannot be used: {e}",
                self.spec.domain
            )),
        }
    }
}

/// Plans the SIP federation checks of the spec.
pub(crate) fn plan(ctx: &Arc<Ctx>) -> Vec<PlannedCheck> {
    let spec = ctx.spec.clone();
    let mut checks = Vec::new();
    for p in &spec.sip_federation {
        let peer = Arc::new(Peer {
            spec: p.clone(),
            client: match (&p.client_cert, &p.client_key) {
                (Some(c), Some(k)) => Some(ClientIdentity::from_pem_files(c, k)),
                _ => None,
            },
        });
        let domain = p.domain.clone();
        let (c, pe) = (ctx.clone(), peer.clone());
        checks.push(
            PlannedCheck::keyed(keys::sip_federation_tls(&domain), move |cx| {
                let (c, pe) = (c.clone(), pe.clone());
                async move { tls::check(&c, &pe, cx).await }
            })
            .after(keys::dns_srv_sip_federation(p))
            .on(domain.clone()),
        );
        for node in &p.nodes {
            let Some((_, n)) = spec.node(node) else {
                continue;
            };
            let port = n.port(Service::SipTcp);
            let (c, pe, h) = (ctx.clone(), peer.clone(), node.clone());
            let mut check = PlannedCheck::new(
                "sip.federation-out",
                format!("{node} -> {domain}"),
                move |cx| {
                    let (c, pe, h) = (c.clone(), pe.clone(), h.clone());
                    async move { cross::outbound(&c, &pe, &h, port, cx).await }
                },
            )
            .after(keys::dns_srv_sip_federation(p));
            if n.services.contains(&Service::SipTcp) {
                check = check.after(keys::services_port(node, port, Service::SipTcp));
            }
            checks.push(check.on(node.clone()));
        }
        let (c, pe) = (ctx.clone(), peer.clone());
        checks.push(
            PlannedCheck::new(
                "sip.federation-in",
                format!("{domain} -> {}", p.local_domain),
                move |cx| {
                    let (c, pe) = (c.clone(), pe.clone());
                    async move { cross::inbound(&c, &pe, cx).await }
                },
            )
            .after(keys::sip_federation_tls(&domain))
            .after(keys::dns_srv_sipfederationtls(p))
            .on(domain.clone()),
        );
    }
    checks
}
