//! The lab's spec (`lab.toml`), serialised from typed data: the sections of the spec
//! format as this lab fills them, built from the topology's deployment.

use super::{Directory, Kind, Topology};
use serde::Serialize;

/// Where the spec's files are: under a folder (`<dir>/pki/ca.crt`, the native lab's
/// absolute paths), or relative to the spec's own folder (`pki/ca.crt`: the compose
/// twin's, usable from the host and from a container that mounts the folder anywhere).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecPaths(String);

impl SpecPaths {
    /// Files under `dir` (absolute when `dir` is).
    pub fn under(dir: &std::path::Path) -> SpecPaths {
        SpecPaths(format!("{}/", dir.display()))
    }

    /// Files relative to the spec's own folder (the lab's folder).
    pub fn relative() -> SpecPaths {
        SpecPaths(String::new())
    }

    fn file(&self, rel: &str) -> String {
        format!("{}{rel}", self.0)
    }
}

/// The whole spec file.
#[derive(Debug, Serialize)]
pub struct SpecFile {
    workflow: &'static str,
    domains: Vec<String>,
    im_address_scheme: &'static str,
    dns: DnsSection,
    tls: TlsSection,
    clusters: Vec<ClusterSection>,
    ldap: LdapSection,
    test_users: Vec<UserSection>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    federation: Vec<FederationSection>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    sip_federation: Vec<SipFederationSection>,
}

#[derive(Debug, Serialize)]
struct DnsSection {
    servers: Vec<String>,
    timeout: &'static str,
}

#[derive(Debug, Serialize)]
struct TlsSection {
    ca_bundle: String,
    expiry_warning_days: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    unlisted_client_cert: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    unlisted_client_key: Option<String>,
}

/// The name of the lab's certificate of its CA whose subject is no TLS peer subject.
const OUTSIDER: &str = "outsider.lab.test";

#[derive(Debug, Serialize)]
struct ClusterSection {
    name: String,
    domain: String,
    nodes: Vec<NodeSection>,
    redundancy_groups: Vec<GroupSection>,
    sip_trunk: TrunkSection,
}

#[derive(Debug, Serialize)]
struct NodeSection {
    fqdn: String,
    address: String,
    role: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    services: Vec<&'static str>,
}

#[derive(Debug, Serialize)]
struct GroupSection {
    name: String,
    nodes: Vec<String>,
}

#[derive(Debug, Serialize)]
struct TrunkSection {
    srv_name: String,
    transports: Vec<&'static str>,
    tls_peer_subjects: Vec<String>,
    client_cert: String,
    client_key: String,
    presence_gateway: String,
    presentity: String,
}

#[derive(Debug, Serialize)]
struct LdapSection {
    bind_dn: &'static str,
    password_file: String,
    base: &'static str,
    user_filter: &'static str,
    expected_users: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    attributes: Option<AttributesSection>,
    servers: Vec<LdapServerSection>,
}

#[derive(Debug, Serialize)]
struct AttributesSection {
    user_id: &'static str,
    mail: &'static str,
    directory_uri: &'static str,
    display_name: &'static str,
    phone: &'static str,
}

#[derive(Debug, Serialize)]
struct LdapServerSection {
    url: &'static str,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    starttls: bool,
}

#[derive(Debug, Serialize)]
struct UserSection {
    user_id: String,
    home_node: String,
    password_file: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    contacts: Vec<String>,
}

#[derive(Debug, Serialize)]
struct FederationSection {
    domain: &'static str,
    test_contact: &'static str,
    local_user: &'static str,
    password_file: String,
}

#[derive(Debug, Serialize)]
struct SipFederationSection {
    domain: &'static str,
    tls_peer_subjects: Vec<&'static str>,
    client_cert: String,
    client_key: String,
}

fn clusters(t: &Topology, paths: &SpecPaths) -> Vec<ClusterSection> {
    let d = &t.deployment;
    d.clusters
        .iter()
        .map(|c| {
            let mut nodes: Vec<NodeSection> = c
                .nodes
                .iter()
                .map(|n| NodeSection {
                    fqdn: n.fqdn.clone(),
                    address: t.ip(n.n).to_string(),
                    role: "imp",
                    services: Vec::new(),
                })
                .collect();
            // The lab's CUCM is a Kamailio answering OPTIONS on SIP 5060 (the presence
            // gateway), and, where the topology has its User Data Services' stand-in,
            // Apache on HTTPS 8443; its name and certificate also identify the trunk's
            // client side.
            let uds = t
                .servers
                .iter()
                .any(|s| s.kind == Kind::Apache && s.hosts.contains(&c.cucm.n));
            let mut services = vec!["sip-tcp"];
            if uds {
                services.push("https");
            }
            nodes.push(NodeSection {
                fqdn: c.cucm.fqdn.clone(),
                address: t.ip(c.cucm.n).to_string(),
                role: "cucm",
                services,
            });
            ClusterSection {
                name: c.name.clone(),
                domain: c.domain.clone(),
                nodes,
                redundancy_groups: c
                    .groups
                    .iter()
                    .map(|(name, [a, b])| GroupSection {
                        name: name.clone(),
                        nodes: vec![c.nodes[*a].fqdn.clone(), c.nodes[*b].fqdn.clone()],
                    })
                    .collect(),
                sip_trunk: TrunkSection {
                    srv_name: c.trunk.clone(),
                    transports: vec!["udp", "tcp", "tls"],
                    tls_peer_subjects: c.nodes.iter().map(|n| n.fqdn.clone()).collect(),
                    client_cert: paths.file(&format!("pki/{}.crt", c.cucm.fqdn)),
                    client_key: paths.file(&format!("pki/{}.key", c.cucm.fqdn)),
                    presence_gateway: c.cucm.fqdn.clone(),
                    presentity: c.presentity.clone(),
                },
            }
        })
        .collect()
}

fn ldap(t: &Topology, paths: &SpecPaths) -> LdapSection {
    let (bind_dn, base, user_filter, attributes) = match t.profile.directory {
        Directory::OpenLdap => (
            "cn=impverify-svc,ou=services,dc=lab,dc=test",
            "ou=people,dc=lab,dc=test",
            "(objectClass=inetOrgPerson)",
            None,
        ),
        Directory::SambaAd => (
            "CN=impverify-svc,OU=services,DC=lab,DC=test",
            "OU=people,DC=lab,DC=test",
            "(&(objectClass=user)(objectCategory=person))",
            Some(AttributesSection {
                user_id: "sAMAccountName",
                mail: "mail",
                directory_uri: "mail",
                display_name: "displayName",
                phone: "telephoneNumber",
            }),
        ),
    };
    LdapSection {
        bind_dn,
        password_file: paths.file("secrets/ldap-service.password"),
        base,
        user_filter,
        expected_users: t.deployment.expected_users.clone(),
        attributes,
        servers: vec![
            LdapServerSection {
                url: "ldaps://ldap.lab.test:636",
                starttls: false,
            },
            LdapServerSection {
                url: "ldap://ldap.lab.test:389",
                starttls: true,
            },
        ],
    }
}

/// The spec of topology `t`, its files named as `paths` says.
pub fn spec_file(t: &Topology, paths: &SpecPaths) -> SpecFile {
    let d = &t.deployment;
    let ns = t
        .host("ns")
        .map(|n| t.ip(n))
        .expect("every lab has its DNS");
    // The IM&P nodes' SIP TLS ports must refuse a client of the lab CA that is no TLS
    // peer subject: the spec gives it where the topology makes it.
    let outsider = t.certs.iter().any(|c| c.name == OUTSIDER);
    SpecFile {
        workflow: "C",
        domains: d.clusters.iter().map(|c| c.domain.clone()).collect(),
        im_address_scheme: "userid@domain",
        dns: DnsSection {
            servers: vec![format!("{ns}:53")],
            timeout: "2s",
        },
        tls: TlsSection {
            ca_bundle: paths.file("pki/ca.crt"),
            expiry_warning_days: 30,
            unlisted_client_cert: outsider.then(|| paths.file(&format!("pki/{OUTSIDER}.crt"))),
            unlisted_client_key: outsider.then(|| paths.file(&format!("pki/{OUTSIDER}.key"))),
        },
        clusters: clusters(t, paths),
        ldap: ldap(t, paths),
        test_users: d
            .users
            .iter()
            .map(|u| UserSection {
                user_id: u.id.clone(),
                home_node: u.home.clone(),
                password_file: paths.file(&format!("secrets/{}.password", u.id)),
                contacts: u.contacts.clone(),
            })
            .collect(),
        federation: if d.federation {
            vec![FederationSection {
                domain: "partner.test",
                test_contact: "erin@partner.test",
                local_user: "alice",
                password_file: paths.file("secrets/erin.password"),
            }]
        } else {
            Vec::new()
        },
        // sipfed.test's edge presents sip.sipfed.test; imp-verify presents imp1's
        // certificate to it (a real deployment gives one the peer accepts as the local
        // domain's); OPTIONS are routed through both IM&P nodes.
        sip_federation: if d.federation {
            vec![SipFederationSection {
                domain: "sipfed.test",
                tls_peer_subjects: vec!["sip.sipfed.test"],
                client_cert: paths.file("pki/imp1.lab.test.crt"),
                client_key: paths.file("pki/imp1.lab.test.key"),
            }]
        } else {
            Vec::new()
        },
    }
}

/// The spec's text: a header naming what it describes, then the TOML.
pub fn spec_text(t: &Topology, paths: &SpecPaths) -> String {
    let what = match t.profile.scale {
        Some(s) => format!(
            "the lab's scale profile ({s}: {} clusters of {} IM&P nodes)",
            s.clusters, s.nodes
        ),
        None => format!(
            "the lab ({} directory, {} IM&P nodes; fixtures/specs/lab.toml documents it)",
            t.profile.directory.name(),
            match t.profile.xmpp {
                super::Xmpp::Prosody => "Prosody",
                super::Xmpp::Ejabberd => "ejabberd",
            }
        ),
    };
    let body = toml::to_string(&spec_file(t, paths)).expect("the spec's types serialise to TOML");
    format!(
        "# The deployment spec of {what} on 127.0.0.{}, written from the lab's topology\n# (crates/testlab/src/topology) by `fixtures/lab/lab init`.\n\n{body}",
        t.base
    )
}

#[cfg(test)]
mod tests {
    use super::super::{Profile, Scale, Xmpp};
    use super::*;
    use imp_verify_core::spec::{Env, LoadMode, Spec};
    use std::path::{Path, PathBuf};

    struct NoEnv;
    impl Env for NoEnv {
        fn var(&self, _: &str) -> Option<String> {
            None
        }
    }

    fn parse(text: &str, path: &Path) -> Spec {
        Spec::parse_mode(text, path, LoadMode::Structure, &NoEnv)
            .unwrap_or_else(|e| panic!("{e}\n{text}"))
    }

    fn fixture(name: &str) -> PathBuf {
        crate::repo_root().join("fixtures/specs").join(name)
    }

    /// The spec of `profile` at base 20 with the fixtures' paths, read as if it were
    /// `fixtures/specs/<name>`, is the spec that fixture documents.
    fn same_as_fixture(profile: Profile, name: &str) {
        let t = Topology::new(20, profile).unwrap();
        let text = spec_text(&t, &SpecPaths::under(Path::new("../../target/lab")));
        let path = fixture(name);
        let ours = parse(&text, &path);
        let theirs = parse(&std::fs::read_to_string(&path).unwrap(), &path);
        assert_eq!(format!("{ours:#?}"), format!("{theirs:#?}"), "{text}");
    }

    #[test]
    fn the_default_labs_spec_is_fixtures_lab_toml() {
        same_as_fixture(Profile::default(), "lab.toml");
    }

    #[test]
    fn the_samba_ad_labs_spec_is_fixtures_lab_samba_ad_toml() {
        let p = Profile {
            directory: Directory::SambaAd,
            ..Profile::default()
        };
        same_as_fixture(p, "lab-samba-ad.toml");
    }

    #[test]
    fn every_profiles_spec_parses_with_its_addresses_and_paths() {
        let dir = Path::new("/srv/lab");
        let mut profiles = vec![(
            Profile {
                xmpp: Xmpp::Ejabberd,
                ..Profile::default()
            },
            3,
        )];
        for (c, n, nodes) in [(2, 2, 6), (1, 3, 4), (20, 6, 140)] {
            let scale = Some(Scale {
                clusters: c,
                nodes: n,
            });
            profiles.push((
                Profile {
                    scale,
                    ..Profile::default()
                },
                nodes,
            ));
        }
        for (p, nodes) in profiles {
            let t = Topology::new(40, p).unwrap();
            let spec = parse(
                &spec_text(&t, &SpecPaths::under(dir)),
                &dir.join("lab.toml"),
            );
            let all: Vec<_> = spec.clusters.iter().flat_map(|c| &c.nodes).collect();
            assert_eq!(all.len(), nodes, "{p:?}");
            assert!(all.iter().all(|n| n
                .address
                .is_some_and(|a| a.to_string().starts_with("127.0.0."))));
            assert_eq!(spec.dns.resolved_servers[0].to_string(), "127.0.0.40:53");
            assert_eq!(
                spec.tls.ca_bundle.as_deref(),
                Some(dir.join("pki/ca.crt").as_path())
            );
        }
    }

    #[test]
    fn relative_paths_resolve_from_the_specs_folder() {
        let t = Topology::new(20, Profile::default()).unwrap();
        let text = spec_text(&t, &SpecPaths::relative());
        assert!(text.contains("ca_bundle = \"pki/ca.crt\""), "{text}");
        let spec = parse(&text, Path::new("/spec/lab.toml"));
        assert_eq!(
            spec.tls.ca_bundle.as_deref(),
            Some(Path::new("/spec/pki/ca.crt"))
        );
    }
}
