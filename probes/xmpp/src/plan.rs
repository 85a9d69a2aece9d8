//! The checks of a spec: which nodes, users and pairs, and what each waits for.

use crate::{checks, Ctx};
use imp_verify_core::spec::{Service, Spec, TestUser};
use imp_verify_core::{keys, PlannedCheck};
use std::sync::Arc;

/// The XMPP checks of `spec`, sharing `ctx`.
pub fn plan(spec: &Arc<Spec>, ctx: Arc<Ctx>) -> Vec<PlannedCheck> {
    let mut checks = Vec::new();
    let imp_nodes: Vec<String> = spec
        .nodes()
        .filter(|(_, n)| {
            n.role == imp_verify_core::spec::Role::Imp
                && n.service_ports()
                    .iter()
                    .any(|(s, _)| *s == Service::XmppC2s)
        })
        .map(|(_, n)| n.fqdn().to_string())
        .collect();
    for node in &imp_nodes {
        let (c, n) = (ctx.clone(), node.clone());
        let port = spec
            .node(node)
            .map(|(_, nd)| nd.port(Service::XmppC2s))
            .unwrap_or(5222);
        checks.push(
            PlannedCheck::new("xmpp.connect", node.clone(), move |cx| {
                let (c, n) = (c.clone(), n.clone());
                async move { checks::connect::check(&c, &n, cx).await }
            })
            .after(keys::services_port(node, port, Service::XmppC2s))
            .on(node.clone()),
        );
    }
    for user in &spec.test_users {
        let home = user.home_node.clone();
        if !imp_nodes.iter().any(|n| n.eq_ignore_ascii_case(&home)) {
            continue;
        }
        let target = format!("{} on {}", user.user_id, home);
        let (c, uid, h) = (ctx.clone(), user.user_id.clone(), home.clone());
        checks.push(
            PlannedCheck::new("xmpp.login", target.clone(), move |cx| {
                let (c, uid, h) = (c.clone(), uid.clone(), h.clone());
                async move { checks::login::check(&c, &uid, &h, cx).await }
            })
            .after(keys::xmpp_connect(&home))
            .on(home.clone()),
        );
        if !user.contacts.is_empty() {
            let (c, uid, h) = (ctx.clone(), user.user_id.clone(), home.clone());
            checks.push(
                PlannedCheck::new("xmpp.roster", target.clone(), move |cx| {
                    let (c, uid, h) = (c.clone(), uid.clone(), h.clone());
                    async move { checks::roster::check(&c, &uid, &h, cx).await }
                })
                .after(keys::xmpp_login(&target))
                .on(home.clone()),
            );
        }
        // The failover target: the peer of the home node in its redundancy group.
        let peer = spec
            .clusters
            .iter()
            .flat_map(|c| c.redundancy_groups.iter())
            .find_map(|g| {
                let names = g.node_names();
                names
                    .iter()
                    .position(|n| n.eq_ignore_ascii_case(&home))
                    .map(|i| names[1 - i.min(1)].to_string())
                    .filter(|p| !p.eq_ignore_ascii_case(&home))
            });
        if let Some(peer) = peer {
            let (c, uid, p) = (ctx.clone(), user.user_id.clone(), peer.clone());
            checks.push(
                PlannedCheck::new(
                    "xmpp.ha",
                    format!("{} on {}", user.user_id, peer),
                    move |cx| {
                        let (c, uid, p) = (c.clone(), uid.clone(), p.clone());
                        async move { checks::login::check(&c, &uid, &p, cx).await }
                    },
                )
                // Not after the home login: failover must work when the home node is down.
                .after(keys::xmpp_connect(&peer))
                .on(peer.clone()),
            );
        }
    }
    // IM: the first two test users of each node, one to the other.
    for node in &imp_nodes {
        let users: Vec<&TestUser> = spec
            .test_users
            .iter()
            .filter(|u| u.home_node.eq_ignore_ascii_case(node))
            .collect();
        if let [a, b, ..] = users.as_slice() {
            let (a, b) = (a.user_id.as_str(), b.user_id.as_str());
            for kind in [Pair::Im, Pair::Muc, Pair::Presence] {
                checks.push(pair_check(&ctx, kind, a, b, node));
            }
        }
    }
    // Intercluster (B.13/C.13): the first test user of each cluster with the first of
    // every other cluster.
    let first_of = |cluster: &imp_verify_core::spec::Cluster| -> Option<String> {
        spec.test_users
            .iter()
            .find(|u| {
                let home = &u.home_node;
                cluster
                    .nodes
                    .iter()
                    .any(|n| n.fqdn().eq_ignore_ascii_case(home))
                    && imp_nodes.iter().any(|n| n.eq_ignore_ascii_case(home))
            })
            .map(|u| u.user_id.clone())
    };
    for (i, ci) in spec.clusters.iter().enumerate() {
        for cj in spec.clusters.iter().skip(i + 1) {
            let (Some(a), Some(b)) = (first_of(ci), first_of(cj)) else {
                continue;
            };
            let login_key = |id: &str| {
                let u = spec
                    .test_users
                    .iter()
                    .find(|u| u.user_id == id)
                    .expect("a test user");
                keys::xmpp_login(&format!("{} on {}", u.user_id, u.home_node))
            };
            let (ka, kb) = (login_key(&a), login_key(&b));
            let (c, ua, ub) = (ctx.clone(), a.clone(), b.clone());
            checks.push(
                PlannedCheck::new(
                    "xmpp.intercluster",
                    format!("{a} ({}) and {b} ({})", ci.name, cj.name),
                    move |cx| {
                        let (c, ua, ub) = (c.clone(), ua.clone(), ub.clone());
                        async move { checks::intercluster::check(&c, &ua, &ub, cx).await }
                    },
                )
                .after(ka)
                .after(kb),
            );
        }
    }
    for peer in &spec.federation {
        let (c, d) = (ctx.clone(), peer.domain.clone());
        let mut check = PlannedCheck::new("xmpp.federation", peer.domain.clone(), move |cx| {
            let (c, d) = (c.clone(), d.clone());
            async move { checks::federation::check(&c, &d, cx).await }
        })
        .after(keys::dns_srv_federation(peer));
        let local = peer
            .local_user
            .clone()
            .or_else(|| spec.test_users.first().map(|u| u.user_id.clone()));
        if let Some(u) = local.and_then(|u| spec.test_users.iter().find(|t| t.user_id == u)) {
            check = check.after(keys::xmpp_login(&format!(
                "{} on {}",
                u.user_id, u.home_node
            )));
        }
        checks.push(check);
    }
    checks
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

/// The check `kind` of test users `a` and `b` of `node`, after both logged in there.
fn pair_check(ctx: &Arc<Ctx>, kind: Pair, a: &str, b: &str, node: &str) -> PlannedCheck {
    let (id, target) = match kind {
        Pair::Im => ("xmpp.im", format!("{a} to {b} on {node}")),
        Pair::Muc => ("xmpp.muc", format!("{a} and {b} on {node}")),
        Pair::Presence => ("xmpp.presence", format!("{b} sees {a} on {node}")),
    };
    let (c, ua, ub, n) = (ctx.clone(), a.to_string(), b.to_string(), node.to_string());
    PlannedCheck::new(id, target, move |cx| {
        let (c, ua, ub, n) = (c.clone(), ua.clone(), ub.clone(), n.clone());
        async move {
            match kind {
                Pair::Im => checks::im::check(&c, &ua, &ub, &n, cx).await,
                Pair::Muc => checks::muc::check(&c, &ua, &ub, &n, cx).await,
                Pair::Presence => checks::presence::check(&c, &ua, &ub, &n, cx).await,
            }
        }
    })
    .after(keys::xmpp_login(&format!("{a} on {node}")))
    .after(keys::xmpp_login(&format!("{b} on {node}")))
    .on(node)
}
