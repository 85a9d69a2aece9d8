//! `imp-verify ha`: the high-availability checks as one named selection.

use imp_verify_core::{keys, KeyRule, Selection, Spec};

/// The checks that tell whether the deployment survives the loss of a node:
/// `xmpp.ha` (each test user logs in on the redundancy peer of its home node), the
/// service ports of both nodes of every presence redundancy group, and the SRV evidence
/// of group completeness (`dns.srv.sip-trunk`, `dns.srv.xmpp-client`), with their
/// prerequisites. `--only` and `--skip` still narrow it.
pub fn selection(spec: &Spec, mut selection: Selection) -> Selection {
    let mut rules = vec![
        KeyRule::Id("xmpp.ha"),
        KeyRule::Id("dns.srv.sip-trunk"),
        KeyRule::Id("dns.srv.xmpp-client"),
    ];
    for cluster in &spec.clusters {
        for group in &cluster.redundancy_groups {
            for member in group.node_names() {
                if let Some((_, node)) = spec.node(member) {
                    rules.extend(node.service_ports().into_iter().map(|(service, port)| {
                        KeyRule::Key(keys::services_port(node.fqdn(), port, service))
                    }));
                }
            }
        }
    }
    selection.areas.clear();
    selection.keys = rules;
    selection.prerequisites = true;
    selection
}
