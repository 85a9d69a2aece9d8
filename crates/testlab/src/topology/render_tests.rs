//! Every profile's folder renders from the templates with no placeholder left, and
//! what the scale profile used to patch in afterwards is there from the start.

use super::spec::SpecPaths;
use super::*;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn profiles() -> Vec<Profile> {
    let mut v = vec![
        Profile::default(),
        Profile {
            directory: Directory::SambaAd,
            ..Profile::default()
        },
        Profile {
            xmpp: Xmpp::Ejabberd,
            ..Profile::default()
        },
    ];
    for (clusters, nodes) in [(2, 2), (1, 3), (20, 6)] {
        v.push(Profile {
            scale: Some(Scale { clusters, nodes }),
            ..Profile::default()
        });
    }
    v
}

fn rendered(p: Profile, base: u8) -> (tempfile::TempDir, Topology) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("secrets")).unwrap();
    std::fs::write(
        dir.path().join("secrets/ldap-service.password"),
        "svc-secret\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("secrets/ldap-admin.hash"), "{SSHA}hash\n").unwrap();
    let t = Topology::new(base, p).unwrap();
    let templates = crate::repo_root().join("fixtures/lab/templates");
    write_all(
        &t,
        dir.path(),
        &templates,
        &SpecPaths::under(dir.path()),
        42,
    )
    .unwrap();
    (dir, t)
}

fn read(dir: &Path, rel: &str) -> String {
    std::fs::read_to_string(dir.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

#[test]
fn every_profile_renders_with_no_placeholder_left() {
    for p in profiles() {
        let (dir, t) = rendered(p, 100);
        for s in &t.servers {
            for out in &s.outputs {
                if let Output::Render { path, .. } = out {
                    let text = read(dir.path(), path);
                    assert!(
                        placeholders(&text).is_empty(),
                        "{p:?} {path}: {:?}",
                        placeholders(&text)
                    );
                }
            }
        }
    }
}

#[test]
fn a_config_with_a_password_is_the_owners_only() {
    let (dir, _) = rendered(Profile::default(), 40);
    let p = dir.path().join("conf/imp1-xmpp/prosody.cfg.lua");
    assert!(read(dir.path(), "conf/imp1-xmpp/prosody.cfg.lua")
        .contains("ldap_password = \"svc-secret\""));
    assert_eq!(p.metadata().unwrap().permissions().mode() & 0o777, 0o600);
    assert!(read(dir.path(), "conf/slapd.conf").contains("rootpw          {SSHA}hash"));
}

#[test]
fn the_uds_stand_in_serves_on_cucms_address_and_binds_to_the_profiles_directory() {
    for (p, url) in [
        (
            Profile::default(),
            "AuthLDAPURL \"ldaps://127.0.0.41:636/ou=people,dc=lab,dc=test?uid?one\"",
        ),
        (
            Profile {
                directory: Directory::SambaAd,
                ..Profile::default()
            },
            "AuthLDAPURL \"ldaps://127.0.0.41:636/OU=people,DC=lab,DC=test?sAMAccountName?one\"",
        ),
    ] {
        let (dir, t) = rendered(p, 40);
        let s = t.server("cucm-uds").expect("a server cucm-uds");
        assert_eq!((s.kind, s.hosts.as_slice()), (Kind::Apache, [4].as_slice()));
        assert_eq!(
            t.table().lines().find(|l| l.starts_with("cucm-uds ")),
            Some("cucm-uds 127.0.0.44 apache https:cucm.lab.test tcp/8443")
        );
        let conf = read(dir.path(), "conf/cucm-uds/apache2.conf");
        assert!(conf.contains("Listen 127.0.0.44:8443 https\n"), "{conf}");
        assert!(conf.contains(url), "{p:?}: {conf}");
        assert!(conf.contains("AuthLDAPBindPassword \"svc-secret\""));
        let mode = dir
            .path()
            .join("conf/cucm-uds/apache2.conf")
            .metadata()
            .unwrap();
        assert_eq!(mode.permissions().mode() & 0o777, 0o600);
        assert!(dir.path().join("run/cucm-uds").is_dir());
    }
    // The scale profile has no stand-in (its spec lists no https on CUCM).
    let scale = Topology::new(100, profiles()[3]).unwrap();
    assert!(scale.server("cucm-uds").is_none());
}

#[test]
fn the_lines_the_tests_variants_replace_are_in_the_rendered_configs() {
    let (dir, _) = rendered(Profile::default(), 40);
    let d = dir.path();
    // probes/ldap/tests/common: openldap_variant (fixtures/lab/variants/openldap).
    let slapd = read(d, "conf/slapd.conf");
    for line in [
        "\nsecurity        simple_bind=128\n",
        "\nmoduleload      back_mdb\n",
        "\n# The directory: the service account",
    ] {
        assert!(slapd.contains(line), "{line:?} in {slapd}");
    }
    // probes/xmpp/tests/support: prosody_variant (fixtures/lab/variants/prosody-*).
    for node in ["imp1", "imp2"] {
        let prosody = read(d, &format!("conf/{node}-xmpp/prosody.cfg.lua"));
        assert!(
            prosody.contains("\nVirtualHost \"lab.test\"\n"),
            "{prosody}"
        );
    }
    // IM&P's TLS peer subjects: Kamailio answers any other subject 403.
    let sip = read(d, "conf/imp1-sip/kamailio.cfg");
    assert!(
        sip.contains(
            "$tls_peer_subject_cn =~ \"^(cucm[.]([a-z0-9-]+[.])?lab[.]test|sip[.]sipfed[.]test)$\""
        ),
        "{sip}"
    );
    assert!(sip.contains("sl_send_reply(\"403\", \"Forbidden\");"));
    // ejabberd without Server Dialback.
    let (dir, _) = rendered(
        Profile {
            xmpp: Xmpp::Ejabberd,
            ..Profile::default()
        },
        40,
    );
    let ejabberd = read(dir.path(), "conf/imp1-ejabberd/ejabberd.yml");
    assert!(!ejabberd.contains("mod_s2s_dialback:"), "{ejabberd}");
}

#[test]
fn the_small_labs_configs_name_its_hosts() {
    let (dir, _) = rendered(Profile::default(), 40);
    let d = dir.path();
    let knot = read(d, "conf/knot.conf");
    assert!(knot.contains("listen: 127.0.0.40@53"));
    for z in [
        "lab.test",
        "partner.test",
        "sipfed.test",
        "0.0.127.in-addr.arpa",
    ] {
        assert!(knot.contains(&format!("  - domain: {z}\n")), "{knot}");
    }
    let sip = read(d, "conf/imp2-sip/kamailio.cfg");
    assert!(sip.contains("listen=tls:127.0.0.43:5061\nenable_tls=yes\nalias=\"lab.test\"\nalias=\"imp2.lab.test\""), "{sip}");
    assert!(read(d, "conf/imp2-sip/tls.cfg").contains(&format!(
        "certificate = {}/pki/imp2.lab.test.crt",
        d.display()
    )));
    let zone = read(d, "conf/zones/lab.test.zone");
    assert!(
        zone.contains("\nimp2            A     127.0.0.43\n"),
        "{zone}"
    );
    assert!(zone.contains("\n_xmpp-server._tcp                SRV 20 0 5269 imp2.lab.test.\n"));
    assert!(read(d, "conf/zones/0.0.127.in-addr.arpa.zone")
        .contains("\n46              PTR   sip.sipfed.test.\n"));
    let link = std::fs::read_link(d.join("conf/partner-xmpp/certs/partner.test.crt")).unwrap();
    assert_eq!(link, d.join("pki/xmpp.partner.test.crt"));
}

#[test]
fn ejabberd_nodes_get_their_configs_and_partner_its_dns_only_certificate() {
    let (dir, t) = rendered(
        Profile {
            xmpp: Xmpp::Ejabberd,
            ..Profile::default()
        },
        40,
    );
    let d = dir.path();
    assert!(
        read(d, "conf/imp1-ejabberd/ejabberdctl.cfg").contains("ERLANG_NODE=ejabberd@127.0.0.42\n")
    );
    assert_eq!(
        read(d, "conf/imp2-ejabberd/resolv.conf"),
        "nameserver 127.0.0.40\n"
    );
    assert!(read(d, "conf/partner-xmpp/prosody.cfg.lua").contains("pki/xmpp.partner.test-dns.crt"));
    assert!(t
        .certs
        .iter()
        .any(|c| c.name == "xmpp.partner.test-dns" && c.cn == "xmpp.partner.test"));
    assert!(
        !d.join("conf/imp1-xmpp").exists(),
        "no Prosody config for an ejabberd node"
    );
}

#[test]
fn a_scale_cluster_has_one_kamailio_on_all_its_nodes_and_its_own_domain() {
    let (dir, t) = rendered(
        Profile {
            scale: Some(Scale {
                clusters: 2,
                nodes: 2,
            }),
            ..Profile::default()
        },
        30,
    );
    let d = dir.path();
    // c02: CUCM n=5, nodes n=6, 7.
    let sip = read(d, "conf/c02-sip/kamailio.cfg");
    for a in ["127.0.0.36", "127.0.0.37"] {
        for l in ["udp", "tcp"] {
            assert!(sip.contains(&format!("listen={l}:{a}:5060\n")), "{sip}");
        }
        assert!(sip.contains(&format!("listen=tls:{a}:5061\n")));
        assert!(sip.contains(&format!("alias=\"{a}\"\n")));
    }
    for name in [
        "c02.lab.test",
        "imp-cluster.c02.lab.test",
        "imp1.c02.lab.test",
        "imp2.c02.lab.test",
    ] {
        assert!(sip.contains(&format!("alias=\"{name}\"\n")), "{sip}");
    }
    let tls = read(d, "conf/c02-sip/tls.cfg");
    assert!(tls.contains(&format!("[server:127.0.0.37:5061]\nmethod = TLSv1.2+\nverify_certificate = yes\nrequire_certificate = yes\nprivate_key = {}/pki/imp2.c02.lab.test.key", d.display())), "{tls}");
    let prosody = read(d, "conf/c02-imp2-xmpp/prosody.cfg.lua");
    assert!(
        prosody.contains("VirtualHost \"c02.lab.test\"")
            && prosody.contains("Component \"conference.c02.lab.test\" \"muc\"")
    );
    assert!(
        prosody.contains("pki/imp2.c02.lab.test.crt")
            && prosody.contains("interfaces = { \"127.0.0.37\" }")
    );
    let cucm = read(d, "conf/cucm-sip/kamailio.cfg");
    assert!(
        cucm.contains(
            "listen=udp:127.0.0.32:5060\nlisten=tcp:127.0.0.32:5060\nlisten=udp:127.0.0.35:5060"
        ),
        "{cucm}"
    );
    let knot = read(d, "conf/knot.conf");
    assert!(
        knot.contains("  - domain: lab.test\n  - domain: 0.0.127.in-addr.arpa\n")
            && !knot.contains("partner.test")
    );
    let zone = read(d, "conf/zones/lab.test.zone");
    let srv = format!(
        "\n{:<33}SRV 10 10 5061 imp2.c02.lab.test.\n",
        "_sips._tcp.imp-cluster.c02"
    );
    assert!(zone.contains(&srv), "{zone}");
    assert_eq!(t.table().lines().count(), 2 + 2 * 3 + 1);
    assert!(
        t.table()
            .contains("c01-sip 127.0.0.33,127.0.0.34 kamailio sip udp/5060 tcp/5060 tcp/5061\n"),
        "{}",
        t.table()
    );
}

#[test]
fn a_zone_a_test_edited_is_kept() {
    let (dir, t) = rendered(Profile::default(), 40);
    let zone = dir.path().join("conf/zones/lab.test.zone");
    std::fs::write(&zone, "edited\n").unwrap();
    let templates = crate::repo_root().join("fixtures/lab/templates");
    write_all(&t, dir.path(), &templates, &SpecPaths::relative(), 43).unwrap();
    assert_eq!(read(dir.path(), "conf/zones/lab.test.zone"), "edited\n");
    assert!(read(dir.path(), "lab.toml").contains("ca_bundle = \"pki/ca.crt\""));
}

#[test]
fn addresses_beyond_the_last_one_are_refused() {
    let big = Profile {
        scale: Some(Scale {
            clusters: 20,
            nodes: 6,
        }),
        ..Profile::default()
    };
    assert!(Topology::new(113, big).is_ok());
    let e = Topology::new(114, big).unwrap_err();
    assert_eq!(e.to_string(), "IMPV_LAB_SCALE=20x6 needs 142 addresses: 127.0.0.114-255 is beyond .254 (lower IMPV_LAB_BASE)");
    assert!(Topology::new(246, Profile::default()).is_err());
    assert_eq!(
        Scale::parse("0x2").unwrap_err().to_string(),
        "IMPV_LAB_SCALE: 1 to 99 clusters of 1 to 6 IM&P nodes (got '0x2')"
    );
    assert!(Scale::parse("2x").is_err() && Scale::parse("ax2").is_err());
}

#[test]
fn a_shared_lab_at_another_base_names_its_hosts() {
    let lab = crate::Lab {
        dir: std::path::PathBuf::from("/nowhere"),
        base: 40,
        env: Vec::new(),
        owned: false,
        _lock: None,
    };
    assert_eq!(lab.address("imp2").to_string(), "127.0.0.43");
    assert_eq!(lab.address("sipfed"), lab.ip(6));
}
