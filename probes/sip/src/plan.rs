//! The probe's plan: one planner per check of the trunk (the federation's are in
//! [`crate::federation`]), each naming its target and the checks it waits for with the
//! key constructors of `imp_verify_core::keys`.

use crate::ctx::{ClientCert, SipCtx, Trunk, TrunkTarget};
use crate::presence::{self, PresenceCheck};
use crate::refusal::{self, Outsider, Port, RefusalTarget};
use crate::{options, peer};
use imp_verify_core::spec::{Node, Role, Service, SipTrunk, Spec, Transport};
use imp_verify_core::{keys, CheckCtx, CheckKey, Outcome, PlannedCheck};
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

/// A check of `key` whose body is handed `state` (cloned for each attempt) and its
/// context.
pub(crate) fn planned<S, F, Fut>(key: CheckKey, state: S, f: F) -> PlannedCheck
where
    S: Clone + Send + Sync + 'static,
    F: Fn(S, CheckCtx) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send + 'static,
{
    PlannedCheck::keyed(key, move |cx| f(state.clone(), cx))
}

/// The refusal observations of the run, one per TLS endpoint (a trunk node's TLS port
/// is also the local domain's federation port: both checks share one look).
pub(crate) struct Refusals {
    outsider: Arc<Outsider>,
    targets: BTreeMap<(String, u16), Arc<RefusalTarget>>,
}

impl Refusals {
    fn new(spec: &Spec) -> Refusals {
        let tls = &spec.tls;
        let mut listed: Vec<String> = spec
            .clusters
            .iter()
            .filter_map(|c| c.sip_trunk.as_ref())
            .filter_map(|t| {
                match ClientCert::load("", t.client_cert.as_deref(), t.client_key.as_deref()) {
                    ClientCert::Usable { name, .. } => Some(name.cn),
                    _ => None,
                }
            })
            .collect();
        for p in &spec.sip_federation {
            listed.extend(p.tls_peer_subjects.iter().map(|s| s.to_ascii_lowercase()));
        }
        listed.sort();
        listed.dedup();
        Refusals {
            outsider: Arc::new(Outsider {
                cert: ClientCert::load(
                    "the spec's certificate with an unlisted subject (`unlisted_client_cert`)",
                    tls.unlisted_client_cert.as_deref(),
                    tls.unlisted_client_key.as_deref(),
                ),
                listed,
            }),
            targets: BTreeMap::new(),
        }
    }

    /// The shared observation of `host:port`, its OPTIONS sent from `domain`.
    pub fn target(&mut self, host: &str, port: u16, domain: &str) -> Arc<RefusalTarget> {
        let outsider = self.outsider.clone();
        self.targets
            .entry((host.to_ascii_lowercase(), port))
            .or_insert_with(|| {
                Arc::new(RefusalTarget {
                    host: host.to_string(),
                    port,
                    domain: domain.to_string(),
                    outsider,
                    seen: Default::default(),
                })
            })
            .clone()
    }
}

/// Every check of the spec's trunks and SIP federation.
pub(crate) fn plan(ctx: &Arc<SipCtx>) -> Vec<PlannedCheck> {
    let spec = ctx.spec.clone();
    let mut refusals = Refusals::new(&spec);
    let mut checks = Vec::new();
    for cluster in &spec.clusters {
        let Some(t) = &cluster.sip_trunk else {
            continue;
        };
        let trunk = Arc::new(Trunk::of(&cluster.domain, t));
        for node in cluster.nodes.iter().filter(|n| n.role == Role::Imp) {
            plan_node(&mut checks, ctx, &trunk, t, node, &mut refusals);
        }
        if let Some(gw) = &t.presence_gateway {
            checks.push(gateway(ctx, &trunk, t, gw, &spec));
        }
    }
    checks.extend(crate::federation::plan(ctx, &mut refusals));
    checks
}

/// The checks of one IM&P node behind the trunk.
fn plan_node(
    checks: &mut Vec<PlannedCheck>,
    ctx: &Arc<SipCtx>,
    trunk: &Arc<Trunk>,
    t: &SipTrunk,
    node: &Node,
    refusals: &mut Refusals,
) {
    let host = node.fqdn().to_string();
    for &transport in &t.transports {
        let target = TrunkTarget {
            transport,
            host: host.clone(),
            port: node.port(transport.service()),
        };
        checks.push(options(ctx, trunk, t, &target));
        if transport == Transport::Tls {
            checks.push(tls_peer(ctx, trunk, &target));
            let shared = refusals.target(&host, target.port, &trunk.domain);
            checks.push(tls_refusal(ctx, &target, shared));
        }
    }
    // Presence goes over the trunk's most secure transport, as CUCM would send it.
    let preferred = [Transport::Tls, Transport::Tcp, Transport::Udp]
        .into_iter()
        .find(|p| t.transports.contains(p));
    if let (Some(transport), Some(presentity)) = (preferred, &trunk.presentity) {
        let target = TrunkTarget {
            transport,
            host,
            port: node.port(transport.service()),
        };
        checks.push(publish(ctx, trunk, &target, presentity));
        checks.push(presence_e2e(ctx, trunk, &target, presentity));
    }
}

/// `sip.options` of a target: after the transport's SRV record and, over TCP and TLS,
/// the port's `services.port`.
fn options(
    ctx: &Arc<SipCtx>,
    trunk: &Arc<Trunk>,
    t: &SipTrunk,
    target: &TrunkTarget,
) -> PlannedCheck {
    let state = (ctx.clone(), trunk.clone(), target.clone());
    let mut check = planned(
        keys::sip_options(&target.to_string()),
        state,
        |(c, tr, t), cx| async move { options::check_options(&c, &tr, &t, cx).await },
    )
    .after(keys::dns_srv_sip_trunk(target.transport, t));
    if target.transport != Transport::Udp {
        let service = target.transport.service();
        check = check.after(keys::services_port(&target.host, target.port, service));
    }
    check.on(target.host.clone())
}

/// `sip.tls-peer` of a TLS target.
fn tls_peer(ctx: &Arc<SipCtx>, trunk: &Arc<Trunk>, target: &TrunkTarget) -> PlannedCheck {
    let state = (ctx.clone(), trunk.clone(), target.clone());
    planned(
        keys::sip_tls_peer(&target.to_string()),
        state,
        |(c, tr, t), cx| async move { peer::check_tls_peer(&c, &tr, &t, cx).await },
    )
    .after(keys::services_port(
        &target.host,
        target.port,
        Service::SipTls,
    ))
    .on(target.host.clone())
}

/// `sip.tls-refusal` of a TLS target: after `sip.tls-peer` (a node that refuses the
/// trunk's own certificate too proves nothing by refusing others).
fn tls_refusal(
    ctx: &Arc<SipCtx>,
    target: &TrunkTarget,
    shared: Arc<RefusalTarget>,
) -> PlannedCheck {
    let state = (ctx.clone(), shared);
    planned(
        CheckKey::new("sip.tls-refusal", target.to_string()),
        state,
        |(c, e), cx| async move { refusal::check(&c, &e, Port::Trunk, cx).await },
    )
    .after(keys::sip_tls_peer(&target.to_string()))
    .on(target.host.clone())
}

/// `sip.publish` over the node's preferred transport.
fn publish(
    ctx: &Arc<SipCtx>,
    trunk: &Arc<Trunk>,
    target: &TrunkTarget,
    presentity: &str,
) -> PlannedCheck {
    let state = (
        ctx.clone(),
        trunk.clone(),
        target.clone(),
        presentity.to_string(),
    );
    planned(
        keys::sip_publish(&target.to_string()),
        state,
        |(c, tr, t, p), cx| async move {
            presence::check(PresenceCheck::Publish, &c, &tr, &t, &p, cx).await
        },
    )
    .after(keys::sip_options(&target.to_string()))
    .on(target.host.clone())
}

/// `sip.presence-e2e` over the node's preferred transport.
fn presence_e2e(
    ctx: &Arc<SipCtx>,
    trunk: &Arc<Trunk>,
    target: &TrunkTarget,
    presentity: &str,
) -> PlannedCheck {
    let state = (
        ctx.clone(),
        trunk.clone(),
        target.clone(),
        presentity.to_string(),
    );
    planned(
        CheckKey::new("sip.presence-e2e", target.to_string()),
        state,
        |(c, tr, t, p), cx| async move {
            presence::check(PresenceCheck::EndToEnd, &c, &tr, &t, &p, cx).await
        },
    )
    .after(keys::sip_publish(&target.to_string()))
    .on(target.host.clone())
}

/// `sip.presence-gateway`: the gateway's view of the trunk, plain TCP or UDP where the
/// trunk has it.
fn gateway(
    ctx: &Arc<SipCtx>,
    trunk: &Arc<Trunk>,
    t: &SipTrunk,
    gw: &str,
    spec: &Spec,
) -> PlannedCheck {
    let transport = [Transport::Tcp, Transport::Udp, Transport::Tls]
        .into_iter()
        .find(|p| t.transports.contains(p))
        .unwrap_or(Transport::Tcp);
    let service = transport.service();
    let port = spec
        .node(gw)
        .map(|(_, n)| n.port(service))
        .unwrap_or(service.default_port());
    let target = TrunkTarget {
        transport,
        host: gw.to_string(),
        port,
    };
    let state = (ctx.clone(), trunk.clone(), target.clone());
    let mut check = planned(
        CheckKey::new("sip.presence-gateway", target.to_string()),
        state,
        |(c, tr, t), cx| async move { options::check_gateway(&c, &tr, &t, cx).await },
    );
    if transport != Transport::Udp {
        check = check.after(keys::services_port(gw, port, service));
    }
    check.on(gw.to_string())
}
