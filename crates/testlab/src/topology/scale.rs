//! The scale profile (`IMPV_LAB_SCALE=CxN`): a large enterprise's deployment of C
//! clusters (`c01` ...) of N IM&P nodes, each node its own address, certificate and
//! Prosody; one Kamailio per cluster on all its nodes' addresses (a TLS server domain,
//! so a certificate, per address), one Kamailio for every cluster's CUCM address; one
//! zone `lab.test` with every cluster's records and SRV sets; presence redundancy groups
//! of two nodes (an odd last node in none), two test users a group.
//!
//! Addresses 127.0.0.(base + n): n = 0 DNS, 1 directory, then per cluster its CUCM and
//! its N nodes (20x6: 142 addresses).

use super::small::{domain_records, kamailio_aliases, kamailio_listen, prosody_node, xmpp_ids};
use super::{
    tcp, udp, Cert, Cluster, Deployment, Kind, Node, Output, Person, Profile, Ready, Record, Scale,
    Server, TestUser, Topology, Zone,
};

fn cluster_name(c: u8) -> String {
    format!("c{c:02}")
}

fn cucm_n(s: Scale, c: u8) -> u8 {
    2 + (c - 1) * (s.nodes + 1)
}

fn clusters(s: Scale) -> Vec<Cluster> {
    (1..=s.clusters)
        .map(|c| {
            let name = cluster_name(c);
            let domain = format!("{name}.lab.test");
            let groups = (1..=s.nodes.div_ceil(2))
                // An odd last node stays outside any group (a group is a pair).
                .filter(|g| 2 * g <= s.nodes)
                .map(|g| {
                    (
                        format!("{name}-prg-{g}"),
                        [2 * g as usize - 2, 2 * g as usize - 1],
                    )
                })
                .collect();
            Cluster {
                nodes: (1..=s.nodes)
                    .map(|k| Node {
                        fqdn: format!("imp{k}.{domain}"),
                        n: cucm_n(s, c) + k,
                    })
                    .collect(),
                cucm: Node {
                    fqdn: format!("cucm.{domain}"),
                    n: cucm_n(s, c),
                },
                groups,
                trunk: format!("imp-cluster.{domain}"),
                presentity: format!("{name}u1"),
                name,
                domain,
            }
        })
        .collect()
}

/// Two test users a redundancy group (also for an odd last node), at home on the
/// group's first node.
fn users(s: Scale, clusters: &[Cluster]) -> Vec<TestUser> {
    let mut v = Vec::new();
    for c in clusters {
        for g in 1..=s.nodes.div_ceil(2) {
            for u in [2 * g - 1, 2 * g] {
                v.push(TestUser {
                    id: format!("{}u{u}", c.name),
                    home: c.nodes[2 * g as usize - 2].fqdn.clone(),
                    contacts: Vec::new(),
                });
            }
        }
    }
    v
}

fn cluster_servers(t: &Topology, c: &Cluster) -> Vec<Server> {
    let mut v = Vec::new();
    for (k, node) in c.nodes.iter().enumerate() {
        let short = format!("{}-imp{}", c.name, k + 1);
        let server = format!("{short}-xmpp");
        v.push(Server {
            outputs: prosody_node(
                &server,
                &short,
                &node.fqdn,
                &c.domain,
                t.ip(node.n).to_string(),
            ),
            name: server,
            kind: Kind::Prosody,
            hosts: vec![node.n],
            sockets: vec![tcp(5222), tcp(5269)],
            ready: Ready::Xmpp(c.domain.clone()),
        });
    }
    let addrs: Vec<String> = c.nodes.iter().map(|n| t.ip(n.n).to_string()).collect();
    let mut names = vec![c.domain.clone(), c.trunk.clone()];
    names.extend(c.nodes.iter().map(|n| n.fqdn.clone()));
    // One TLS server domain per node address, each with the node's own certificate.
    let tls_servers: String = c
        .nodes
        .iter()
        .map(|node| {
            format!(
                "[server:{}:5061]\nmethod = TLSv1.2+\nverify_certificate = yes\nrequire_certificate = yes\nprivate_key = @DIR@/pki/{f}.key\ncertificate = @DIR@/pki/{f}.crt\nca_list = @DIR@/pki/ca.crt\n\n",
                t.ip(node.n),
                f = node.fqdn
            )
        })
        .collect();
    let vars = vec![
        ("NODE", c.name.clone()),
        ("NODE_IP", addrs[0].clone()),
        ("WHAT", format!("the IM&P nodes of cluster {}", c.domain)),
        ("LISTEN", kamailio_listen(&addrs, true)),
        ("ALIASES", kamailio_aliases(&names, &addrs)),
        ("TLS_SERVERS", tls_servers),
        ("CERT", c.nodes[0].fqdn.clone()),
    ];
    let sip = format!("{}-sip", c.name);
    v.push(Server {
        outputs: vec![
            Output::Dir(format!("data/{sip}")),
            Output::Render {
                template: "kamailio.cfg",
                path: format!("conf/{sip}/kamailio.cfg"),
                vars: vars.clone(),
                private: false,
            },
            Output::Render {
                template: "kamailio-tls.cfg",
                path: format!("conf/{sip}/tls.cfg"),
                vars,
                private: false,
            },
        ],
        name: sip,
        kind: Kind::Kamailio,
        hosts: c.nodes.iter().map(|n| n.n).collect(),
        sockets: vec![udp(5060), tcp(5060), tcp(5061)],
        ready: Ready::Sip,
    });
    v
}

fn servers(t: &Topology) -> Vec<Server> {
    let mut v = vec![
        Server {
            name: "dns".into(),
            kind: Kind::Knot,
            hosts: vec![0],
            sockets: vec![udp(53), tcp(53)],
            ready: Ready::Dns,
            outputs: vec![
                Output::Dir("data/knot".into()),
                Output::Render {
                    template: "knot.conf",
                    path: "conf/knot.conf".into(),
                    vars: Vec::new(),
                    private: false,
                },
            ],
        },
        Server {
            name: "ldap".into(),
            kind: Kind::OpenLdap,
            hosts: vec![1],
            sockets: vec![tcp(389), tcp(636)],
            ready: Ready::Ldaps,
            outputs: vec![Output::Render {
                template: "slapd.conf",
                path: "conf/slapd.conf".into(),
                vars: Vec::new(),
                private: true,
            }],
        },
    ];
    for c in &t.deployment.clusters {
        v.extend(cluster_servers(t, c));
    }
    let clusters = &t.deployment.clusters;
    let addrs: Vec<String> = clusters
        .iter()
        .map(|c| t.ip(c.cucm.n).to_string())
        .collect();
    let names: Vec<String> = clusters.iter().map(|c| c.cucm.fqdn.clone()).collect();
    v.push(Server {
        name: "cucm-sip".into(),
        kind: Kind::Kamailio,
        hosts: clusters.iter().map(|c| c.cucm.n).collect(),
        sockets: vec![udp(5060), tcp(5060)],
        ready: Ready::Sip,
        outputs: vec![Output::Render {
            template: "kamailio-cucm.cfg",
            path: "conf/cucm-sip/kamailio.cfg".into(),
            vars: vec![
                ("LISTEN", kamailio_listen(&addrs, false)),
                ("ALIASES", kamailio_aliases(&names, &addrs)),
            ],
            private: false,
        }],
    });
    v
}

fn certs(t: &Topology) -> Vec<Cert> {
    let mut v = vec![Cert {
        name: "ldap.lab.test".into(),
        cn: "ldap.lab.test".into(),
        eku: "serverAuth",
        san: format!("DNS:ldap.lab.test, IP:{}", t.ip(1)),
    }];
    for c in &t.deployment.clusters {
        let d = &c.domain;
        for node in &c.nodes {
            v.push(Cert {
                name: node.fqdn.clone(),
                cn: node.fqdn.clone(),
                eku: "serverAuth, clientAuth",
                san: format!(
                    "DNS:{}, DNS:{d}, DNS:conference.{d}, DNS:imp-cluster.{d}, IP:{}, {}",
                    node.fqdn,
                    t.ip(node.n),
                    xmpp_ids(d)
                ),
            });
        }
        v.push(Cert {
            name: c.cucm.fqdn.clone(),
            cn: c.cucm.fqdn.clone(),
            eku: "clientAuth, serverAuth",
            san: format!("DNS:{}, IP:{}", c.cucm.fqdn, t.ip(c.cucm.n)),
        });
    }
    v
}

/// The reverse zone of the lab's hosts (n, FQDN).
pub(super) fn reverse_zone(t: &Topology, hosts: Vec<(u8, String)>) -> Zone {
    let mut z = Zone::new(
        "0.0.127.in-addr.arpa",
        &["Reverse records of the lab's hosts."],
    );
    for (n, fqdn) in hosts {
        z.records.push(Record::Ptr(
            (u16::from(t.base) + u16::from(n)).to_string(),
            fqdn,
        ));
    }
    z
}

fn zones(t: &Topology, s: Scale) -> Vec<Zone> {
    let header = format!("The scale profile's deployment ({s}), rendered from the lab's topology.");
    let mut lab = Zone::new("lab.test", &[header.as_str()]);
    lab.a("ns.lab.test", t.ip(0));
    lab.a("ldap.lab.test", t.ip(1));
    let mut hosts = vec![
        (0, "ns.lab.test".to_string()),
        (1, "ldap.lab.test".to_string()),
    ];
    for c in &t.deployment.clusters {
        domain_records(t, &mut lab, c, false);
        hosts.push((c.cucm.n, c.cucm.fqdn.clone()));
        hosts.extend(c.nodes.iter().map(|n| (n.n, n.fqdn.clone())));
    }
    vec![lab, reverse_zone(t, hosts)]
}

/// The scale profile's topology.
pub(super) fn topology(base: u8, profile: Profile, s: Scale) -> Topology {
    let clusters = clusters(s);
    let users = users(s, &clusters);
    let people = users
        .iter()
        .enumerate()
        .map(|(i, u)| {
            let c = i / (2 * usize::from(s.nodes.div_ceil(2))) + 1;
            let k: u32 =
                u.id.rsplit('u')
                    .next()
                    .and_then(|k| k.parse().ok())
                    .unwrap_or(0);
            Person {
                uid: u.id.clone(),
                domain: format!("{}.lab.test", cluster_name(c as u8)),
                phone: format!("+1 556 {c:02}{k:02}"),
            }
        })
        .collect();
    let mut secrets: Vec<String> = [
        "ldap-admin",
        "ldap-service",
        "alice",
        "bob",
        "carol",
        "dave",
        "erin",
    ]
    .map(String::from)
    .to_vec();
    secrets.extend(users.iter().map(|u| u.id.clone()));
    let mut t = Topology {
        base,
        profile,
        last_n: 1 + u16::from(s.clusters) * (u16::from(s.nodes) + 1),
        hosts: vec![("ns", 0), ("ldap", 1)],
        servers: Vec::new(),
        certs: Vec::new(),
        secrets,
        people,
        zones: Vec::new(),
        deployment: Deployment {
            expected_users: users.iter().map(|u| u.id.clone()).collect(),
            clusters,
            users,
            federation: false,
        },
    };
    t.servers = servers(&t);
    t.certs = certs(&t);
    t.zones = zones(&t, s);
    t
}
