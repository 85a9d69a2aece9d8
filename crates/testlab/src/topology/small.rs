//! The small deployment (the default): one cluster of two IM&P nodes serving
//! `lab.test`, its CUCM, the directory, the lab DNS, a federated XMPP domain
//! (`partner.test`) and a federated SIP domain (`sipfed.test`), on 127.0.0.(base + 0..6).

use super::{
    tcp, udp, Cert, Cluster, Deployment, Directory, Kind, Node, Output, Profile, Ready, Server,
    Socket, TestUser, Topology, Xmpp, Zone,
};

/// The hosts: name (`IMPV_LAB_<NAME>`, `@<NAME>_IP@`) and n.
const HOSTS: [(&str, u8); 7] = [
    ("ns", 0),
    ("ldap", 1),
    ("imp1", 2),
    ("imp2", 3),
    ("cucm", 4),
    ("partner", 5),
    ("sipfed", 6),
];

const XMPP: [Socket; 2] = [tcp(5222), tcp(5269)];
const SIP_TLS: [Socket; 3] = [udp(5060), tcp(5060), tcp(5061)];
const SIP: [Socket; 2] = [udp(5060), tcp(5060)];

fn n(host: &str) -> u8 {
    HOSTS
        .iter()
        .find(|(h, _)| *h == host)
        .map(|&(_, n)| n)
        .expect("a host of HOSTS")
}

fn render(template: &'static str, path: &str, vars: &[(&'static str, String)]) -> Output {
    Output::Render {
        template,
        path: path.into(),
        vars: vars.to_vec(),
        private: false,
    }
}

fn private(template: &'static str, path: &str, vars: &[(&'static str, String)]) -> Output {
    Output::Render {
        template,
        path: path.into(),
        vars: vars.to_vec(),
        private: true,
    }
}

fn link(path: String, target: String) -> Output {
    Output::Link { path, target }
}

/// Kamailio's `listen=` lines on `addrs`, and its `alias=` lines for `names` and `addrs`.
pub(super) fn kamailio_listen(addrs: &[String], tls: bool) -> String {
    let mut lines = Vec::new();
    for a in addrs {
        lines.push(format!("listen=udp:{a}:5060"));
        lines.push(format!("listen=tcp:{a}:5060"));
        if tls {
            lines.push(format!("listen=tls:{a}:5061"));
        }
    }
    lines.join("\n")
}

pub(super) fn kamailio_aliases(names: &[String], addrs: &[String]) -> String {
    names
        .iter()
        .chain(addrs)
        .map(|a| format!("alias=\"{a}\""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A Prosody IM&P node's outputs: its config and its certificates under the names
/// Prosody looks them up by.
pub(super) fn prosody_node(
    server: &str,
    node: &str,
    fqdn: &str,
    domain: &str,
    ip: String,
) -> Vec<Output> {
    let conf = format!("conf/{server}");
    let mut out = vec![
        Output::Dir(format!("data/{server}")),
        private(
            "prosody-imp.cfg.lua",
            &format!("{conf}/prosody.cfg.lua"),
            &[
                ("NODE", node.into()),
                ("NODE_IP", ip),
                ("NODE_FQDN", fqdn.into()),
                ("DOMAIN", domain.into()),
            ],
        ),
    ];
    for host in [domain.to_string(), format!("conference.{domain}")] {
        for ext in ["crt", "key"] {
            out.push(link(
                format!("{conf}/certs/{host}.{ext}"),
                format!("pki/{fqdn}.{ext}"),
            ));
        }
    }
    out
}

fn ejabberd_node(t: &Topology, node: &str, ip: String) -> Vec<Output> {
    let conf = format!("conf/{node}-ejabberd");
    let vars = [("NODE", node.to_string()), ("NODE_IP", ip)];
    vec![
        private("ejabberd-imp.yml", &format!("{conf}/ejabberd.yml"), &vars),
        render("ejabberdctl.cfg", &format!("{conf}/ejabberdctl.cfg"), &vars),
        // What its mount namespace sees as /etc/resolv.conf (`exec_ejabberd`).
        Output::Text {
            path: format!("{conf}/resolv.conf"),
            text: format!("nameserver {}\n", t.ip(n("ns"))),
            keep: false,
        },
    ]
}

fn servers(t: &Topology) -> Vec<Server> {
    let p = t.profile;
    let mut v = vec![Server {
        name: "dns".into(),
        kind: Kind::Knot,
        hosts: vec![n("ns")],
        sockets: vec![udp(53), tcp(53)],
        ready: Ready::Dns,
        outputs: vec![
            Output::Dir("data/knot".into()),
            render("knot.conf", "conf/knot.conf", &[]),
        ],
    }];
    v.push(Server {
        name: "ldap".into(),
        kind: match p.directory {
            Directory::OpenLdap => Kind::OpenLdap,
            Directory::SambaAd => Kind::SambaAd,
        },
        hosts: vec![n("ldap")],
        sockets: vec![tcp(389), tcp(636)],
        ready: Ready::Ldaps,
        outputs: match p.directory {
            Directory::OpenLdap => vec![private("slapd.conf", "conf/slapd.conf", &[])],
            Directory::SambaAd => vec![render("smb.conf", "conf/samba/smb.conf", &[])],
        },
    });
    v.extend(imp_servers(t));
    v.extend(cucm_servers(t));
    v.extend(partner_servers(t));
    v
}

/// Each IM&P node's XMPP server (of the profile) and SIP proxy (Kamailio).
fn imp_servers(t: &Topology) -> Vec<Server> {
    let p = t.profile;
    let ip = |h: &str| t.ip(n(h)).to_string();
    let mut v = Vec::new();
    for node in ["imp1", "imp2"] {
        let fqdn = format!("{node}.lab.test");
        v.push(Server {
            name: format!("{node}-xmpp"),
            kind: p.xmpp.kind(),
            hosts: vec![n(node)],
            sockets: XMPP.to_vec(),
            ready: Ready::Xmpp("lab.test".into()),
            outputs: match p.xmpp {
                Xmpp::Prosody => {
                    prosody_node(&format!("{node}-xmpp"), node, &fqdn, "lab.test", ip(node))
                }
                Xmpp::Ejabberd => ejabberd_node(t, node, ip(node)),
            },
        });
    }
    for node in ["imp1", "imp2"] {
        let fqdn = format!("{node}.lab.test");
        let conf = format!("conf/{node}-sip");
        let vars = [
            ("NODE", node.to_string()),
            ("NODE_IP", ip(node)),
            ("WHAT", format!("IM&P node {fqdn}")),
            ("LISTEN", kamailio_listen(&[ip(node)], true)),
            (
                "ALIASES",
                kamailio_aliases(
                    &[
                        "lab.test".into(),
                        fqdn.clone(),
                        "imp-cluster.lab.test".into(),
                    ],
                    &[ip(node)],
                ),
            ),
            ("TLS_SERVERS", String::new()),
            ("CERT", fqdn.clone()),
        ];
        v.push(Server {
            name: format!("{node}-sip"),
            kind: Kind::Kamailio,
            hosts: vec![n(node)],
            sockets: SIP_TLS.to_vec(),
            ready: Ready::Sip,
            outputs: vec![
                Output::Dir(format!("data/{node}-sip")),
                render("kamailio.cfg", &format!("{conf}/kamailio.cfg"), &vars),
                render("kamailio-tls.cfg", &format!("{conf}/tls.cfg"), &vars),
            ],
        });
    }
    v
}

/// CUCM's SIP side (Kamailio) and its User Data Services' stand-in (Apache).
fn cucm_servers(t: &Topology) -> Vec<Server> {
    let ip = |h: &str| t.ip(n(h)).to_string();
    let mut v = vec![Server {
        name: "cucm-sip".into(),
        kind: Kind::Kamailio,
        hosts: vec![n("cucm")],
        sockets: SIP.to_vec(),
        ready: Ready::Sip,
        outputs: vec![render(
            "kamailio-cucm.cfg",
            "conf/cucm-sip/kamailio.cfg",
            &[
                ("LISTEN", kamailio_listen(&[ip("cucm")], false)),
                (
                    "ALIASES",
                    kamailio_aliases(&["cucm.lab.test".into()], &[ip("cucm")]),
                ),
            ],
        )],
    }];
    // CUCM's User Data Services' stand-in: Apache httpd on HTTPS 8443 of the CUCM
    // address (uds.sh: its documents, the CA copy its LDAPS connections trust, exec_uds).
    // Its config holds the service account's password.
    v.push(Server {
        name: "cucm-uds".into(),
        kind: Kind::Apache,
        hosts: vec![n("cucm")],
        sockets: vec![tcp(8443)],
        ready: Ready::Https("cucm.lab.test".into()),
        outputs: vec![
            Output::Dir("conf/cucm-uds/root".into()),
            Output::Dir("run/cucm-uds".into()),
            private("apache-uds.conf", "conf/cucm-uds/apache2.conf", &[]),
        ],
    });
    v
}

/// The federated XMPP domain (Prosody) and SIP domain (Kamailio).
fn partner_servers(t: &Topology) -> Vec<Server> {
    let p = t.profile;
    let mut v = Vec::new();
    // ejabberd 23.01 crashes on an inbound s2s peer certificate with an id-on-xmppAddr
    // name: with ejabberd, partner.test presents one with its DNS names only.
    let partner_cert = partner_cert(p);
    let mut partner = vec![
        Output::Dir("data/partner-xmpp".into()),
        render(
            "prosody-partner.cfg.lua",
            "conf/partner-xmpp/prosody.cfg.lua",
            &[("PARTNER_CERT", partner_cert.into())],
        ),
    ];
    for ext in ["crt", "key"] {
        partner.push(link(
            format!("conf/partner-xmpp/certs/partner.test.{ext}"),
            format!("pki/{partner_cert}.{ext}"),
        ));
    }
    v.push(Server {
        name: "partner-xmpp".into(),
        kind: Kind::Prosody,
        hosts: vec![n("partner")],
        sockets: XMPP.to_vec(),
        ready: Ready::Xmpp("partner.test".into()),
        outputs: partner,
    });
    v.push(Server {
        name: "partner-sip".into(),
        kind: Kind::Kamailio,
        hosts: vec![n("sipfed")],
        sockets: SIP_TLS.to_vec(),
        ready: Ready::Sip,
        outputs: vec![
            render("kamailio-sipfed.cfg", "conf/partner-sip/kamailio.cfg", &[]),
            render("kamailio-sipfed-tls.cfg", "conf/partner-sip/tls.cfg", &[]),
        ],
    });
    v
}

fn partner_cert(p: Profile) -> &'static str {
    match p.xmpp {
        Xmpp::Prosody => "xmpp.partner.test",
        Xmpp::Ejabberd => "xmpp.partner.test-dns",
    }
}

/// XMPP identities of a domain's servers: id-on-xmppAddr and SRVName.
pub(super) fn xmpp_ids(domain: &str) -> String {
    format!(
        "otherName:1.3.6.1.5.5.7.8.5;UTF8:{domain}, otherName:1.3.6.1.5.5.7.8.7;IA5:_xmpp-client.{domain}, otherName:1.3.6.1.5.5.7.8.7;IA5:_xmpp-server.{domain}"
    )
}

fn cert(name: &str, san: String, eku: &'static str) -> Cert {
    Cert {
        name: name.into(),
        cn: name.trim_end_matches("-dns").into(),
        eku,
        san,
    }
}

fn certs(t: &Topology) -> Vec<Cert> {
    let ip = |h: &str| t.ip(n(h));
    let both = "serverAuth, clientAuth";
    let mut v = Vec::new();
    for node in ["imp1", "imp2"] {
        v.push(cert(
            &format!("{node}.lab.test"),
            format!(
                "DNS:{node}.lab.test, DNS:lab.test, DNS:conference.lab.test, DNS:imp-cluster.lab.test, IP:{}, {}",
                ip(node),
                xmpp_ids("lab.test")
            ),
            both,
        ));
    }
    v.push(cert(
        "ldap.lab.test",
        format!("DNS:ldap.lab.test, IP:{}", ip("ldap")),
        "serverAuth",
    ));
    v.push(cert(
        "xmpp.partner.test",
        format!(
            "DNS:xmpp.partner.test, DNS:partner.test, IP:{}, {}",
            ip("partner"),
            xmpp_ids("partner.test")
        ),
        both,
    ));
    v.push(cert(
        "cucm.lab.test",
        format!("DNS:cucm.lab.test, IP:{}", ip("cucm")),
        "clientAuth, serverAuth",
    ));
    // A client of the lab CA that is no TLS peer subject: the SIP TLS ports must refuse
    // it (the spec's [tls] unlisted_client_cert).
    v.push(cert(
        "outsider.lab.test",
        "DNS:outsider.lab.test".into(),
        "clientAuth",
    ));
    v.push(cert(
        "sip.sipfed.test",
        format!("DNS:sip.sipfed.test, DNS:sipfed.test, IP:{}", ip("sipfed")),
        both,
    ));
    if t.profile.xmpp == Xmpp::Ejabberd {
        v.push(cert(
            "xmpp.partner.test-dns",
            format!(
                "DNS:xmpp.partner.test, DNS:partner.test, IP:{}",
                ip("partner")
            ),
            both,
        ));
    }
    v
}

/// The IM domain's zone: every cluster's names and SRV sets (shared with the scale
/// profile, whose clusters are subdomains of lab.test).
pub(super) fn domain_records(t: &Topology, z: &mut Zone, c: &Cluster, local_sip: bool) {
    let d = &c.domain;
    z.a(&c.cucm.fqdn, t.ip(c.cucm.n));
    z.a(&format!("conference.{d}"), t.ip(c.nodes[0].n));
    for node in &c.nodes {
        z.a(&node.fqdn, t.ip(node.n));
    }
    for node in &c.nodes {
        z.srv("_xmpp-client._tcp", d, (10, 50, 5222), &node.fqdn);
    }
    for (k, node) in c.nodes.iter().enumerate() {
        z.srv(
            "_xmpp-server._tcp",
            d,
            (10 * (k as u16 + 1), 0, 5269),
            &node.fqdn,
        );
    }
    z.srv(
        "_xmpp-server._tcp",
        &format!("conference.{d}"),
        (10, 0, 5269),
        &c.nodes[0].fqdn,
    );
    z.srv("_cisco-uds._tcp", d, (10, 0, 8443), &c.cucm.fqdn);
    for node in &c.nodes {
        z.srv("_cuplogin._tcp", d, (10, 0, 8443), &node.fqdn);
    }
    if local_sip {
        for (service, port) in [("_sip._tcp", 5060), ("_sips._tcp", 5061)] {
            for node in &c.nodes {
                z.srv(service, d, (10, 10, port), &node.fqdn);
            }
        }
    }
    for (service, port) in [
        ("_sip._udp", 5060),
        ("_sip._tcp", 5060),
        ("_sips._tcp", 5061),
    ] {
        for node in &c.nodes {
            z.srv(service, &c.trunk, (10, 10, port), &node.fqdn);
        }
    }
}

fn zones(t: &Topology) -> Vec<Zone> {
    let c = &t.deployment.clusters[0];
    let mut lab = Zone::new(
        "lab.test",
        &[
            "The IM domain of the lab deployment: one IM&P cluster (imp1, imp2 in one presence",
            "redundancy group), a CUCM name, the directory, Jabber service discovery records and",
            "the SIP publish trunk's cluster-wide SRV name imp-cluster.lab.test, and SIP federation.",
        ],
    );
    lab.a("ns.lab.test", t.ip(n("ns")));
    lab.a("ldap.lab.test", t.ip(n("ldap")));
    domain_records(t, &mut lab, c, true);
    lab.comment(
        "SIP federation (task C.14): federated SIP domains reach the IM&P nodes' TLS port.",
    );
    for node in &c.nodes {
        lab.srv(
            "_sipfederationtls._tcp",
            "lab.test",
            (10, 10, 5061),
            &node.fqdn,
        );
    }
    let mut partner = Zone::new("partner.test", &["The federated domain."]);
    partner.a("xmpp.partner.test", t.ip(n("partner")));
    partner.srv(
        "_xmpp-client._tcp",
        "partner.test",
        (10, 0, 5222),
        "xmpp.partner.test",
    );
    partner.srv(
        "_xmpp-server._tcp",
        "partner.test",
        (10, 0, 5269),
        "xmpp.partner.test",
    );
    let mut sipfed = Zone::new(
        "sipfed.test",
        &["The federated SIP domain (SIP federation, task C.14): its federation edge."],
    );
    sipfed.a("sip.sipfed.test", t.ip(n("sipfed")));
    sipfed.srv(
        "_sipfederationtls._tcp",
        "sipfed.test",
        (10, 0, 5061),
        "sip.sipfed.test",
    );
    let names = [
        ("ns", "ns.lab.test"),
        ("ldap", "ldap.lab.test"),
        ("imp1", "imp1.lab.test"),
        ("imp2", "imp2.lab.test"),
        ("cucm", "cucm.lab.test"),
        ("partner", "xmpp.partner.test"),
        ("sipfed", "sip.sipfed.test"),
    ];
    let reverse = super::scale::reverse_zone(
        t,
        names.iter().map(|(h, f)| (n(h), f.to_string())).collect(),
    );
    vec![lab, partner, sipfed, reverse]
}

fn deployment(p: Profile) -> Deployment {
    let node = |k: u8| Node {
        fqdn: format!("imp{k}.lab.test"),
        n: n(&format!("imp{k}")),
    };
    let contacts = match p.xmpp {
        // The Prosody profile seeds alice's contact list (`seed_rosters`).
        Xmpp::Prosody => vec!["carol@lab.test".into(), "dave@lab.test".into()],
        Xmpp::Ejabberd => Vec::new(),
    };
    let user = |id: &str, home: &str, contacts: Vec<String>| TestUser {
        id: id.into(),
        home: home.into(),
        contacts,
    };
    Deployment {
        clusters: vec![Cluster {
            name: "lab-cluster".into(),
            domain: "lab.test".into(),
            nodes: vec![node(1), node(2)],
            cucm: Node {
                fqdn: "cucm.lab.test".into(),
                n: n("cucm"),
            },
            groups: vec![("prg-1".into(), [0, 1])],
            trunk: "imp-cluster.lab.test".into(),
            presentity: "alice".into(),
        }],
        users: vec![
            user("alice", "imp1.lab.test", contacts),
            user("bob", "imp1.lab.test", Vec::new()),
            user("carol", "imp2.lab.test", Vec::new()),
            user("dave", "imp2.lab.test", Vec::new()),
        ],
        expected_users: ["alice", "bob", "carol", "dave"].map(String::from).to_vec(),
        federation: true,
    }
}

/// The small deployment's topology.
pub(super) fn topology(base: u8, profile: Profile) -> Topology {
    let mut t = Topology {
        base,
        profile,
        last_n: 9,
        hosts: HOSTS.to_vec(),
        servers: Vec::new(),
        certs: Vec::new(),
        secrets: [
            "ldap-admin",
            "ldap-service",
            "alice",
            "bob",
            "carol",
            "dave",
            "erin",
        ]
        .map(String::from)
        .to_vec(),
        people: Vec::new(),
        zones: Vec::new(),
        deployment: deployment(profile),
    };
    t.servers = servers(&t);
    t.certs = certs(&t);
    t.zones = zones(&t);
    t
}
