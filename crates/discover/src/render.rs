//! The spec written: TOML in the form of `fixtures/specs/example.toml`, every value
//! found, every guess called one, and a commented TODO with the field's documentation
//! for what DNS and certificates cannot say.

use crate::docs;
use crate::endpoints::{Port, Seen};
use crate::layout::{self, ClusterPlan};
use crate::records::{Kind, Lookup};
use crate::Discovery;
use imp_verify_core::spec::{Role, Service, Transport};
use std::collections::BTreeMap;

/// A TOML basic string.
pub fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Text from the network made safe for a comment line: no line break can escape it.
pub fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

fn list(items: &[String]) -> String {
    format!(
        "[{}]",
        items
            .iter()
            .map(|s| quote(s))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

pub(crate) struct Out(pub(crate) String);

impl Out {
    pub(crate) fn line(&mut self, s: impl AsRef<str>) {
        self.0.push_str(s.as_ref());
        self.0.push('\n');
    }
    /// A comment of one line: `s` cleaned (text from the network included), after `# `.
    pub(crate) fn note(&mut self, s: impl AsRef<str>) {
        self.line(format!("# {}", clean(s.as_ref())));
    }
    pub(crate) fn doc(&mut self, doc: impl AsRef<str>) {
        self.line(doc);
    }
    pub(crate) fn blank(&mut self) {
        self.0.push('\n');
    }
}

/// The spec of what `d` found; `command` is how it was asked for, `now` when.
pub fn spec(d: &Discovery, command: &str, now: &str) -> String {
    let clusters = layout::clusters(d);
    let (workflow, why) = layout::workflow(d, &clusters);
    let mut o = Out(String::new());
    o.note(format!(
        "imp-verify deployment spec of {}, written by `{}` at {}",
        d.domain, command, now
    ));
    o.note(format!(
        "from the DNS server {} and the certificates the servers presented.",
        d.dns_server
            .map(|s| s.to_string())
            .unwrap_or_else(|| "of the system (/etc/resolv.conf)".into())
    ));
    o.line("#");
    o.line("# Every value is what DNS or a certificate said, except where marked:");
    o.line("#   TODO   DNS and certificates cannot say it: fill it in and uncomment the line;");
    o.line("#   GUESS  inferred by a rule (README, \"Discovering a deployment\"): confirm it.");
    o.line("# Then `imp-verify check-spec --spec FILE`, and `imp-verify all --spec FILE`.");
    o.line("# Every field is documented in imp-verify's fixtures/specs/example.toml.");
    o.doc(docs::HEADER);
    o.line("#");
    o.line("# The service records found:");
    for r in &d.records {
        let what = match &r.lookup {
            Lookup::Found(v) => v
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            Lookup::Absent => "none".into(),
            Lookup::Failed(why) => format!("not answered: {why}"),
        };
        o.note(format!("  {}: {what}", r.name));
        for ((_, host, port), seen) in d.others.iter().filter(|((k, _, _), _)| *k == r.kind) {
            let what = match seen {
                Seen::Cert(c, _) => format!(
                    "{}, issued by {}, valid until {}; names {}",
                    c.subject,
                    c.issuer,
                    c.not_after,
                    c.dns.join(" ")
                ),
                Seen::NoCert(why) | Seen::Closed(why) => format!("UNREADABLE: {why}"),
                Seen::Open => "no certificate read".into(),
            };
            o.note(format!("    certificate of {host}:{port}: {what}"));
        }
    }
    for t in &d.trunks {
        for (tt, v) in &t.records {
            let recs: Vec<String> = v.iter().map(|s| s.to_string()).collect();
            o.note(format!(
                "  {}.{}: {}",
                tt.srv_prefix(),
                t.srv_name,
                recs.join(", ")
            ));
        }
    }
    o.blank();
    o.doc(docs::get("workflow"));
    o.note(format!("GUESS: {why}."));
    o.line(format!("workflow = {}", quote(workflow)));
    o.blank();
    o.doc(docs::get("domains"));
    o.line(format!(
        "domains = {}",
        list(std::slice::from_ref(&d.domain))
    ));
    o.blank();
    o.doc(docs::get("im_address_scheme"));
    o.line("# TODO: DNS cannot say which; the default is written.");
    o.line("im_address_scheme = \"userid@domain\"");
    o.blank();
    o.doc(docs::get("remote_access"));
    let edge = d.records(Kind::CollabEdge);
    o.note(format!(
        "{}.{}: {}",
        Kind::CollabEdge.label(),
        d.domain,
        if edge.is_empty() { "none" } else { "found" }
    ));
    o.line(format!("remote_access = {}", !edge.is_empty()));
    o.blank();
    dns_and_tls(&mut o, d);
    o.doc(docs::get("clusters"));
    for c in &clusters {
        cluster(&mut o, d, c);
    }
    ldap(&mut o, d);
    users(&mut o, &clusters);
    crate::render_federation::federation(&mut o, d);
    o.0
}

fn dns_and_tls(o: &mut Out, d: &Discovery) {
    o.line("[dns]");
    o.doc(docs::get("dns.servers"));
    match d.dns_server {
        Some(s) => o.line(format!("servers = {}", list(&[s.to_string()]))),
        None => o.line("servers = []"),
    }
    o.doc(docs::get("dns.timeout"));
    o.line("timeout = \"2s\"");
    o.blank();
    o.line("[tls]");
    o.doc(docs::get("tls.ca_bundle"));
    // Who issued the certificates seen: the CA the bundle must hold.
    let mut issuers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut self_signed = Vec::new();
    let seen_at = d
        .ports
        .iter()
        .map(|(p, seen)| (format!("{} {}", p.host, p.service.name()), seen))
        .chain(
            d.others
                .iter()
                .map(|((k, host, port), seen)| (format!("{host}:{port} ({})", k.label()), seen)),
        );
    for (at, seen) in seen_at {
        if let Some(c) = seen.cert() {
            if c.self_signed {
                self_signed.push(at);
            } else {
                let root = c.chain_issuers.last().unwrap_or(&c.issuer).clone();
                issuers.entry(root).or_default().push(at);
            }
        }
    }
    if issuers.is_empty() && self_signed.is_empty() {
        o.line("# TODO: no certificate could be read; give the PEM bundle of the deployment's CA.");
    } else {
        o.line("# TODO: a file cannot be discovered. The certificates seen are issued by:");
        for (issuer, at) in &issuers {
            o.note(format!("  `{issuer}` (on {})", at.join(", ")));
        }
        if !self_signed.is_empty() {
            o.note(format!(
                "  themselves (self-signed: the bundle must hold each of them): {}",
                self_signed.join(", ")
            ));
        }
        o.line("# Give the PEM file of that CA's certificate (for CUCM and IM&P: the tomcat,");
        o.line("# cup-xmpp and cup CA certificates, or the enterprise CA that signed them).");
    }
    o.line("# ca_bundle = \"ca-bundle.pem\"");
    o.doc(docs::get("tls.use_system_roots"));
    o.line("use_system_roots = false");
    o.doc(docs::get("tls.expiry_warning_days"));
    o.line("expiry_warning_days = 30");
    o.blank();
}

/// What the certificates of `host`'s TLS ports said; a port that did not answer is
/// told only if `listed` (the spec lists it: its certificate is missing news).
fn cert_notes(o: &mut Out, d: &Discovery, host: &str, domain_named: bool, listed: &[Service]) {
    for (p, seen) in d.ports.range(port_range(host)) {
        let tls = matches!(
            p.service,
            Service::XmppC2s | Service::SipTls | Service::Https | Service::Ldap | Service::Ldaps
        ) && listed.contains(&p.service);
        let at = format!("{} {}", p.service.name(), p.port);
        match seen {
            Seen::Cert(c, note) => {
                let mut s = format!(
                    "certificate on {at}: {}, issued by {}, valid until {}; names {}",
                    c.subject,
                    c.issuer,
                    c.not_after,
                    c.dns.join(" ")
                );
                s.push_str(if c.covers(host) {
                    "; covers the node name"
                } else {
                    "; does NOT cover the node name"
                });
                if domain_named && p.service == Service::XmppC2s {
                    s.push_str(if c.names_domain(&d.domain) {
                        "; names the domain"
                    } else {
                        "; does NOT name the domain"
                    });
                }
                if let Some(n) = note {
                    s.push_str(&format!(" (the handshake then ended: {n})"));
                }
                o.note(s);
            }
            Seen::NoCert(why) => o.note(format!("certificate on {at}: UNREADABLE: {why}")),
            Seen::Closed(why) if tls => o.note(format!(
                "certificate on {at}: UNREADABLE: nothing answered ({why})"
            )),
            _ => {}
        }
    }
}

/// The ports of `host` in the map's order.
fn port_range(host: &str) -> std::ops::RangeInclusive<Port> {
    Port {
        host: host.to_string(),
        service: Service::XmppC2s,
        port: 0,
    }..=Port {
        host: host.to_string(),
        service: Service::Ldaps,
        port: u16::MAX,
    }
}

fn node(o: &mut Out, d: &Discovery, host: &str, role: Role) {
    o.blank();
    let found_in: Vec<String> = d
        .records
        .iter()
        .filter_map(|r| {
            let s = r.lookup.records().iter().find(|s| s.target == host)?;
            Some(format!("{} ({s})", r.name))
        })
        .chain(d.trunks.iter().flat_map(|t| {
            t.records.iter().filter_map(move |(tt, v)| {
                let s = v.iter().find(|s| s.target == host)?;
                Some(format!("{}.{} ({s})", tt.srv_prefix(), t.srv_name))
            })
        }))
        .collect();
    o.note(format!("{host}: listed by {}", found_in.join(", ")));
    let s = layout::node_services(d, host, role);
    let listed: Vec<Service> = s.listed.iter().map(|(x, _)| *x).collect();
    cert_notes(o, d, host, role == Role::Imp, &listed);
    o.line("[[clusters.nodes]]");
    o.doc(docs::get("clusters.nodes.fqdn"));
    o.line(format!("fqdn = {}", quote(host)));
    o.doc(docs::get("clusters.nodes.address"));
    match d.addresses.get(host) {
        Some(Ok(v)) if !v.is_empty() => {
            if v.len() > 1 {
                o.note(format!(
                    "{host} has {} addresses ({}); the first is pinned",
                    v.len(),
                    v.iter()
                        .map(|a| a.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            o.line(format!("address = {}", quote(&v[0].to_string())));
        }
        Some(Err(why)) => o.note(format!("{host} does not resolve: {why}")),
        _ => o.note(format!("{host} was not resolved")),
    }
    o.line(format!(
        "role = {}",
        quote(match role {
            Role::Imp => "imp",
            Role::Cucm => "cucm",
        })
    ));
    o.doc(docs::get("clusters.nodes.services"));
    for (svc, port, why) in &s.silent {
        o.note(format!(
            "{} ({port}) did NOT answer during discovery ({why}): listed, its checks will fail until it does",
            svc.name()
        ));
    }
    for (svc, port, why) in &s.left_out {
        o.note(format!("{} ({port}) left out: {why}", svc.name()));
    }
    let names: Vec<String> = s.listed.iter().map(|(x, _)| x.name().to_string()).collect();
    o.line(format!("services = {}", list(&names)));
    let overrides: Vec<String> = s
        .listed
        .iter()
        .filter(|(x, p)| *p != x.default_port())
        .map(|(x, p)| format!("{} = {p}", x.name()))
        .collect();
    if !overrides.is_empty() {
        o.line("# Port overrides by service (from the SRV records).");
        o.line(format!("ports = {{ {} }}", overrides.join(", ")));
    }
}

fn cluster(o: &mut Out, d: &Discovery, c: &ClusterPlan) {
    for h in &c.how {
        o.note(h);
    }
    o.line("[[clusters]]");
    o.line(format!("name = {}", quote(&c.name)));
    o.line(format!("domain = {}", quote(&d.domain)));
    for h in &c.imp {
        node(o, d, h, Role::Imp);
    }
    for h in &c.cucm {
        node(o, d, h, Role::Cucm);
    }
    if !c.groups.is_empty() || !c.unpaired.is_empty() {
        o.blank();
        o.doc(docs::get("clusters.redundancy_groups"));
    }
    for (i, g) in c.groups.iter().enumerate() {
        o.line("[[clusters.redundancy_groups]]");
        o.line(format!("name = \"prg-{}\"", i + 1));
        o.line(format!("nodes = {}", list(g)));
    }
    for u in &c.unpaired {
        o.note(format!(
            "TODO: {u} is in no presence redundancy group (an odd node out): pair it if it is paired"
        ));
    }
    trunk(o, d, c);
    o.blank();
}

fn trunk(o: &mut Out, d: &Discovery, c: &ClusterPlan) {
    o.blank();
    o.doc(docs::get("clusters.sip_trunk"));
    let Some(t) = c.trunk.map(|i| &d.trunks[i]) else {
        if c.imp.is_empty() {
            return;
        }
        o.line(
            "# TODO: the trunk's SRV name was not found: no name in the IM&P nodes' certificates",
        );
        if d.trunk_candidates.is_empty() {
            o.line("# has _sip._udp, _sip._tcp or _sips._tcp records.");
        } else {
            o.note(format!(
                "has _sip._udp, _sip._tcp or _sips._tcp records (tried {}).",
                d.trunk_candidates.join(", ")
            ));
        }
        let sip = d.records(Kind::Sip);
        if sip.iter().any(|s| c.imp.contains(&s.target)) {
            o.note(format!(
                "{}.{} lists IM&P nodes: if the trunk's destination is the domain, srv_name = {}.",
                Kind::Sip.label(),
                d.domain,
                quote(&d.domain)
            ));
        }
        o.line("# [clusters.sip_trunk]");
        o.doc(docs::get("clusters.sip_trunk.srv_name").replace("\n# ", "\n#   "));
        o.line("# srv_name = \"imp-cluster.example.com\"");
        o.line("# transports = [\"tcp\", \"tls\"]");
        return;
    };
    o.line("[clusters.sip_trunk]");
    o.doc(docs::get("clusters.sip_trunk.srv_name"));
    o.note(format!(
        "Found: {} is a name in the IM&P nodes' certificates, and its records list this cluster's nodes.",
        t.srv_name
    ));
    o.line(format!("srv_name = {}", quote(&t.srv_name)));
    o.doc(docs::get("clusters.sip_trunk.transports"));
    transports(o, t);
    o.doc(docs::get("clusters.sip_trunk.tls_peer_subjects"));
    let mut subjects = Vec::new();
    for h in &c.imp {
        let key = Port {
            host: h.clone(),
            service: Service::SipTls,
            port: layout::port_of(d, h, Role::Imp, Service::SipTls),
        };
        match d
            .ports
            .get(&key)
            .and_then(Seen::cert)
            .and_then(|c| c.peer_subject())
        {
            Some(s) if !subjects.contains(&s) => subjects.push(s),
            Some(_) => {}
            None => o.note(format!(
                "TODO: the SIP TLS certificate of {h} could not be read: add its subject"
            )),
        }
    }
    o.line("# The subjects (CN) of the SIP TLS certificates the nodes presented.");
    o.line(format!("tls_peer_subjects = {}", list(&subjects)));
    o.doc(docs::get("clusters.sip_trunk.client_cert"));
    o.line("# TODO: CUCM's certificate is not discoverable (CUCM presents it as a client).");
    o.line("# client_cert = \"cucm-trunk.crt\"");
    o.line("# client_key = \"cucm-trunk.key\"");
    o.doc(docs::get("clusters.sip_trunk.presence_gateway"));
    match c.cucm.as_slice() {
        [one] => {
            o.note(format!("GUESS: the one CUCM node of {}.", d.domain));
            o.line(format!("presence_gateway = {}", quote(one)));
        }
        [] => {
            o.line("# TODO: no CUCM node was found (_cisco-uds._tcp); name the presence gateway.");
            o.line("# presence_gateway = \"cucm1.example.com\"");
        }
        many => {
            o.note(format!(
                "TODO: which of the CUCM nodes ({}) is the presence gateway?",
                many.join(", ")
            ));
            o.line(format!("# presence_gateway = {}", quote(&many[0])));
        }
    }
    o.doc(docs::get("clusters.sip_trunk.presentity"));
    o.line("# TODO: a test user's id.");
    o.line("# presentity = \"alice\"");
}
/// The trunk's transports: those whose records exist under its SRV name, less TLS until
/// CUCM's client certificate is given (so that the spec is valid as written; the TLS
/// checks are then reported as not verified), the full line shown in a TODO.
fn transports(o: &mut Out, t: &crate::Trunk) {
    o.line("# The transports whose records exist under the SRV name.");
    let found: Vec<Transport> = t.records.iter().map(|(tt, _)| *tt).collect();
    // TLS needs CUCM's client certificate, which cannot be discovered: the spec is valid
    // as written without it, and the TLS checks are reported as not verified.
    let plain: Vec<String> = found
        .iter()
        .filter(|tt| **tt != Transport::Tls)
        .map(|tt| crate::transport_name(*tt).to_string())
        .collect();
    let all: Vec<String> = found
        .iter()
        .map(|tt| crate::transport_name(*tt).to_string())
        .collect();
    if found.contains(&Transport::Tls) && !plain.is_empty() {
        o.note(format!(
            "TODO: {} exists: the trunk also uses TLS. Once CUCM's client_cert and client_key",
            Transport::Tls.srv_name(&t.srv_name)
        ));
        o.line("# are given below, list \"tls\" too; until then the TLS checks are not verified.");
        o.line(format!("# transports = {}", list(&all)));
        o.line(format!("transports = {}", list(&plain)));
    } else {
        o.line(format!("transports = {}", list(&all)));
    }
}

fn ldap(o: &mut Out, d: &Discovery) {
    o.doc(docs::get("ldap"));
    let servers = layout::ldap_servers(d);
    if servers.is_empty() {
        o.note(format!(
            "TODO: {}.{} has no record: name the directory servers, the bind DN and the base.",
            Kind::Ldap.label(),
            d.domain
        ));
    } else {
        o.line("# TODO: the servers are those of _ldap._tcp; the bind DN, its password, the base");
        o.line("# and the users cannot be discovered.");
        for (h, _) in &servers {
            cert_notes(o, d, h, false, &[Service::Ldap, Service::Ldaps]);
        }
    }
    o.line("# [ldap]");
    o.doc(docs::get("ldap.bind_dn").replace("# ", "#   "));
    o.line("# bind_dn = \"cn=cucm-sync,ou=service,dc=example,dc=com\"");
    o.line("# password_env = \"IMPV_LDAP_PASSWORD\"");
    o.doc(docs::get("ldap.base").replace("# ", "#   "));
    o.line("# base = \"ou=people,dc=example,dc=com\"");
    o.line("# user_filter = \"(objectClass=inetOrgPerson)\"");
    o.doc(docs::get("ldap.expected_users").replace("# ", "#   "));
    o.line("# expected_users = [\"alice\", \"bob\"]");
    o.doc(docs::get("ldap.servers").replace("# ", "#   "));
    if servers.is_empty() {
        o.line("# [[ldap.servers]]");
        o.line("# url = \"ldaps://ldap1.example.com:636\"");
    }
    for (h, port) in &servers {
        let ldaps = Port {
            host: h.clone(),
            service: Service::Ldaps,
            port: Service::Ldaps.default_port(),
        };
        let starttls = Port {
            host: h.clone(),
            service: Service::Ldap,
            port: *port,
        };
        if d.ports.get(&ldaps).and_then(Seen::cert).is_some() {
            o.line("# [[ldap.servers]]");
            o.line(format!("# url = {}", quote(&format!("ldaps://{h}:636"))));
        }
        if d.ports.get(&starttls).and_then(Seen::cert).is_some() {
            o.line("# [[ldap.servers]]");
            o.line(format!("# url = {}", quote(&format!("ldap://{h}:{port}"))));
            o.line("# starttls = true");
        }
        if !d.ports.get(&ldaps).is_some_and(Seen::answered)
            && d.ports.get(&starttls).and_then(Seen::cert).is_none()
        {
            o.note(format!(
                "neither LDAPS (636) nor StartTLS ({port}) of {h} showed a certificate"
            ));
        }
    }
    o.blank();
}

fn users(o: &mut Out, clusters: &[ClusterPlan]) {
    o.doc(docs::get("test_users"));
    o.line("# TODO: DNS cannot say who may log in. Give a test user per IM&P node at least (two");
    o.line("# per node for the IM, presence and group chat checks); xmpp.ha also logs each in");
    o.line("# on the redundancy peer of its home node.");
    let mut n = 0;
    for h in clusters.iter().flat_map(|c| c.imp.iter()) {
        n += 1;
        o.line("# [[test_users]]");
        o.line(format!("# user_id = \"user{n}\""));
        o.doc(docs::get("test_users.home_node").replace("# ", "#   "));
        o.line(format!("# home_node = {}", quote(h)));
        o.line(format!("# password_env = \"IMPV_USER{n}_PASSWORD\""));
    }
    o.blank();
}
