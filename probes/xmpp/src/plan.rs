//! The checks of a spec, one planner a check: which nodes, users, pairs and peers, and
//! what each waits for. Keys others wait for are built by their constructors in
//! `imp_verify_core::keys`.

use crate::checks::{self, c2s::C2sCheck, login::Role, s2s::S2sTarget};
use crate::XmppCtx;
use imp_verify_core::spec::{
    Cluster, FederationPeer, Node, Role as NodeRole, Service, Spec, TestUser,
};
use imp_verify_core::{keys, CheckCtx, CheckKey, Outcome, PerAttempt, PlannedCheck};
use std::future::Future;
use std::sync::Arc;

/// A check keyed `key` whose body `f` gets the probe's context, the check's own
/// arguments, its key and the runner's context: its state handed over once.
fn planned<A, F, Fut>(ctx: &Arc<XmppCtx>, key: CheckKey, args: A, f: F) -> PlannedCheck
where
    A: Send + Sync + 'static,
    F: Fn(Arc<XmppCtx>, Arc<A>, CheckKey, CheckCtx) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send + 'static,
{
    let (c, a, k) = (ctx.clone(), Arc::new(args), key.clone());
    PlannedCheck::keyed(key, move |cx| f(c.clone(), a.clone(), k.clone(), cx))
}

/// The XMPP checks of `spec`, sharing `ctx`.
pub fn plan(spec: &Arc<Spec>, ctx: &Arc<XmppCtx>) -> Vec<PlannedCheck> {
    let nodes = imp_nodes(spec);
    let mut checks = Vec::new();
    checks.extend(nodes.iter().map(|n| connect(ctx, n)));
    checks.extend(nodes.iter().flat_map(|n| c2s(ctx, n)));
    checks.extend(nodes.iter().filter_map(|n| s2s_node(ctx, n)));
    let served: Vec<&TestUser> = spec
        .test_users
        .iter()
        .filter(|u| home(&nodes, u).is_some())
        .collect();
    checks.extend(served.iter().map(|u| login(ctx, u)));
    checks.extend(served.iter().filter_map(|u| roster(ctx, u)));
    checks.extend(served.iter().filter_map(|u| ha(ctx, spec, u)));
    checks.extend(nodes.iter().flat_map(|n| pairs(ctx, spec, n)));
    checks.extend(intercluster(ctx, spec, &nodes));
    for peer in &spec.federation {
        checks.push(federation(ctx, spec, &peer.domain));
        checks.push(s2s_peer(ctx, peer));
    }
    checks
}

/// The IM&P nodes with a client port.
fn imp_nodes(spec: &Spec) -> Vec<&Node> {
    spec.nodes()
        .map(|(_, n)| n)
        .filter(|n| n.role == NodeRole::Imp && n.services.contains(&Service::XmppC2s))
        .collect()
}

/// The node of `nodes` that is `user`'s home.
fn home<'a>(nodes: &[&'a Node], user: &TestUser) -> Option<&'a Node> {
    nodes
        .iter()
        .copied()
        .find(|n| n.fqdn().eq_ignore_ascii_case(&user.home_node))
}

/// `xmpp.connect` of a node, after its client port answers.
fn connect(ctx: &Arc<XmppCtx>, node: &Node) -> PlannedCheck {
    planned(
        ctx,
        keys::xmpp_connect(node),
        node.fqdn().to_string(),
        |c, n, _, cx| async move { checks::connect::check(&c, &n, cx).await },
    )
    .after(keys::node_port(node, Service::XmppC2s))
    .on(node.fqdn())
}

/// The client port's refusals of a node: one observation, three checks.
fn c2s(ctx: &Arc<XmppCtx>, node: &Node) -> Vec<PlannedCheck> {
    let seen = Arc::new(PerAttempt::default());
    C2sCheck::ALL
        .iter()
        .map(|&kind| {
            let key = CheckKey::new(kind.id(), node.fqdn());
            let args = (kind, node.fqdn().to_string(), seen.clone());
            planned(ctx, key, args, |c, a, _, cx| async move {
                checks::c2s::check(&c, a.0, &a.1, &a.2, cx).await
            })
            .after(keys::node_port(node, Service::XmppC2s))
            .on(node.fqdn())
        })
        .collect()
}

/// `xmpp.s2s-security` of a node with a server-to-server port.
fn s2s_node(ctx: &Arc<XmppCtx>, node: &Node) -> Option<PlannedCheck> {
    if !node.services.contains(&Service::XmppS2s) {
        return None;
    }
    let target = S2sTarget::Node(node.fqdn().to_string());
    Some(
        planned(
            ctx,
            CheckKey::new("xmpp.s2s-security", node.fqdn()),
            target,
            |c, t, _, cx| async move { checks::s2s::check(&c, &t, cx).await },
        )
        .after(keys::node_port(node, Service::XmppS2s))
        .on(node.fqdn()),
    )
}

/// `xmpp.s2s-security` of a federated domain's server, after its record resolves.
fn s2s_peer(ctx: &Arc<XmppCtx>, peer: &FederationPeer) -> PlannedCheck {
    let domain = peer.domain.as_str();
    let target = S2sTarget::Peer(domain.to_string());
    planned(
        ctx,
        CheckKey::new("xmpp.s2s-security", domain),
        target,
        |c, t, _, cx| async move { checks::s2s::check(&c, &t, cx).await },
    )
    .after(keys::dns_srv_federation(peer))
}

/// `xmpp.login` of a test user on its home node.
fn login(ctx: &Arc<XmppCtx>, user: &TestUser) -> PlannedCheck {
    let args = (user.user_id.clone(), user.home_node.clone());
    let node = ctx.spec.node(&user.home_node).map(|(_, n)| n);
    let check = planned(
        ctx,
        keys::xmpp_login(user),
        args,
        |c, a, k, cx| async move { checks::login::check(&c, &k, &a.0, &a.1, Role::Home, cx).await },
    )
    .on(user.home_node.clone());
    match node {
        Some(n) => check.after(keys::xmpp_connect(n)),
        None => check,
    }
}

/// `xmpp.roster` of a test user whose spec lists contacts.
fn roster(ctx: &Arc<XmppCtx>, user: &TestUser) -> Option<PlannedCheck> {
    if user.contacts.is_empty() {
        return None;
    }
    let key = CheckKey::new("xmpp.roster", keys::xmpp_login(user).target);
    let args = (user.user_id.clone(), user.home_node.clone());
    Some(
        planned(ctx, key, args, |c, a, k, cx| async move {
            checks::roster::check(&c, &k, &a.0, &a.1, cx).await
        })
        .after(keys::xmpp_login(user))
        .on(user.home_node.clone()),
    )
}

/// The peer of `home` in its redundancy group, if it has one.
fn peer_of<'a>(spec: &'a Spec, home: &str) -> Option<&'a Node> {
    let name = spec
        .clusters
        .iter()
        .flat_map(|c| c.redundancy_groups.iter())
        .find_map(|g| {
            let names = g.node_names();
            names
                .iter()
                .position(|n| n.eq_ignore_ascii_case(home))
                .map(|i| names[1 - i.min(1)].to_string())
                .filter(|p| !p.eq_ignore_ascii_case(home))
        })?;
    spec.node(&name).map(|(_, n)| n)
}

/// `xmpp.ha`: a test user logs in on the redundancy-group peer of its home node; not
/// after the home login, since failover must work when the home node is down.
fn ha(ctx: &Arc<XmppCtx>, spec: &Spec, user: &TestUser) -> Option<PlannedCheck> {
    let peer = peer_of(spec, &user.home_node)?;
    let args = (user.user_id.clone(), peer.fqdn().to_string());
    Some(
        planned(
            ctx,
            keys::xmpp_ha(user, peer),
            args,
            |c, a, k, cx| async move {
                checks::login::check(&c, &k, &a.0, &a.1, Role::Failover, cx).await
            },
        )
        .after(keys::xmpp_connect(peer))
        .on(peer.fqdn()),
    )
}

/// The checks of two test users of one node.
#[derive(Debug, Clone, Copy)]
enum Pair {
    /// `a` sends `b` a message.
    Im,
    /// `a` and `b` chat in a new room.
    Muc,
    /// `b` watches `a`'s presence.
    Presence,
}

/// IM, group chat and presence between the first two test users of `node`, after both
/// logged in there.
fn pairs(ctx: &Arc<XmppCtx>, spec: &Spec, node: &Node) -> Vec<PlannedCheck> {
    let users: Vec<&TestUser> = spec
        .test_users
        .iter()
        .filter(|u| u.home_node.eq_ignore_ascii_case(node.fqdn()))
        .collect();
    let [a, b, ..] = users.as_slice() else {
        return Vec::new();
    };
    [Pair::Im, Pair::Muc, Pair::Presence]
        .into_iter()
        .map(|kind| pair(ctx, kind, a, b, node))
        .collect()
}

fn pair(ctx: &Arc<XmppCtx>, kind: Pair, a: &TestUser, b: &TestUser, node: &Node) -> PlannedCheck {
    let (ua, ub, n) = (&a.user_id, &b.user_id, node.fqdn());
    let key = match kind {
        Pair::Im => CheckKey::new("xmpp.im", format!("{ua} to {ub} on {n}")),
        Pair::Muc => CheckKey::new("xmpp.muc", format!("{ua} and {ub} on {n}")),
        Pair::Presence => CheckKey::new("xmpp.presence", format!("{ub} sees {ua} on {n}")),
    };
    let args = (kind, ua.clone(), ub.clone(), n.to_string());
    planned(ctx, key, args, |c, a, k, cx| async move {
        let (kind, ua, ub, n) = &*a;
        match kind {
            Pair::Im => checks::im::check(&c, &k, ua, ub, n, cx).await,
            Pair::Muc => checks::muc::check(&c, &k, ua, ub, n, cx).await,
            Pair::Presence => checks::presence::check(&c, &k, ua, ub, n, cx).await,
        }
    })
    .after(keys::xmpp_login(a))
    .after(keys::xmpp_login(b))
    .on(n)
}

/// Intercluster (B.13/C.13): the first test user of each cluster with the first of
/// every other cluster.
fn intercluster(ctx: &Arc<XmppCtx>, spec: &Spec, nodes: &[&Node]) -> Vec<PlannedCheck> {
    let first_of = |cluster: &Cluster| -> Option<&TestUser> {
        spec.test_users.iter().find(|u| {
            cluster
                .nodes
                .iter()
                .any(|n| n.fqdn().eq_ignore_ascii_case(&u.home_node))
                && home(nodes, u).is_some()
        })
    };
    let mut checks = Vec::new();
    for (i, ci) in spec.clusters.iter().enumerate() {
        for cj in spec.clusters.iter().skip(i + 1) {
            let (Some(a), Some(b)) = (first_of(ci), first_of(cj)) else {
                continue;
            };
            let target = format!(
                "{} ({}) and {} ({})",
                a.user_id, ci.name, b.user_id, cj.name
            );
            let args = (a.user_id.clone(), b.user_id.clone());
            let key = CheckKey::new("xmpp.intercluster", target);
            checks.push(
                planned(ctx, key, args, |c, a, k, cx| async move {
                    checks::intercluster::check(&c, &k, &a.0, &a.1, cx).await
                })
                .after(keys::xmpp_login(a))
                .after(keys::xmpp_login(b)),
            );
        }
    }
    checks
}

/// `xmpp.federation` with a federated domain, after its SRV record and the local
/// user's login.
fn federation(ctx: &Arc<XmppCtx>, spec: &Spec, domain: &str) -> PlannedCheck {
    let peer = spec
        .federation
        .iter()
        .find(|p| p.domain == domain)
        .expect("a federated domain of the spec");
    let mut check = planned(
        ctx,
        CheckKey::new("xmpp.federation", domain),
        domain.to_string(),
        |c, d, k, cx| async move { checks::federation::check(&c, &k, &d, cx).await },
    )
    .after(keys::dns_srv_federation(peer));
    let local = match &peer.local_user {
        Some(u) => spec.test_users.iter().find(|t| t.user_id == *u),
        None => spec.test_users.first(),
    };
    if let Some(u) = local {
        check = check.after(keys::xmpp_login(u));
    }
    check
}
