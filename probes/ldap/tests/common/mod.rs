//! What the LDAP probe's lab tests share beyond `imp_verify_testlab::harness`: the
//! probes an LDAP run needs, and changing the lab's OpenLDAP as its administrator.
#![allow(dead_code)]

pub mod hostile;

use imp_probe_ldap::LdapProbe;
use imp_verify_core::{Area, CheckResult, Outcome, Probe};
use imp_verify_testlab::{harness, Lab};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Runs the LDAP checks of the spec at `spec` through the real runner, each attempt
/// with `timeout` (the port checks they wait for are planned, and deselected).
pub async fn run(spec: &Path, timeout: Duration) -> Vec<CheckResult> {
    let spec = harness::load(spec);
    let net = imp_verify_net::Net::from_spec(&spec);
    let probes: Vec<Box<dyn Probe>> = vec![
        Box::new(imp_probe_services::ServicesProbe::new(net.clone())),
        Box::new(LdapProbe::new(net)),
    ];
    harness::run_areas(&spec, &probes, &[Area::Ldap], timeout).await
}

/// The outcome of check `id` on `target`.
pub fn get<'a>(r: &'a [CheckResult], id: &str, target: &str) -> &'a Outcome {
    &harness::get(r, id, target).outcome
}

/// The `ldap.bind` that sent the service account's refused password, after asserting
/// that every other server's bind did not send it again but named that refusal (the
/// run's ledger: at most one refusal per account).
pub fn refused_bind(r: &[CheckResult]) -> &Outcome {
    let binds = harness::all(r, "ldap.bind");
    let sent: Vec<_> = binds
        .iter()
        .filter(|c| !c.outcome.evidence.iter().any(|(k, _)| k == "refused_by"))
        .collect();
    assert_eq!(
        sent.len(),
        1,
        "one bind sends the refused password: {binds:?}"
    );
    let first = sent[0];
    for c in binds.iter().filter(|c| c.key != first.key) {
        assert_eq!(
            harness::ev(&c.outcome, "refused_by"),
            first.key.to_string(),
            "{}",
            c.outcome.message
        );
        assert!(
            c.outcome.message.contains("was not tried"),
            "{}",
            c.outcome.message
        );
    }
    &first.outcome
}

/// Runs ldapmodify as the lab's OpenLDAP administrator.
pub fn ldapmodify(lab: &Lab, ldif: &str) {
    let mut child = Command::new("ldapmodify")
        .args([
            "-x",
            "-H",
            &format!("ldaps://{}", lab.ip(1)),
            "-D",
            "cn=admin,dc=lab,dc=test",
            "-y",
        ])
        .arg(lab.dir.join("secrets/ldap-admin.password"))
        .env("LDAPTLS_CACERT", lab.dir.join("pki/ca.crt"))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(ldif.as_bytes())
        .unwrap();
    assert!(
        child.wait().unwrap().success(),
        "ldapmodify failed for:\n{ldif}"
    );
}

/// Switches the lab's OpenLDAP to the variant `name` of `fixtures/lab/variants/openldap`
/// (`ppolicy`, `cleartext`, or an `.acl` file's name) and restarts it; returns the
/// configuration it had, for [`openldap_restore`].
pub fn openldap_variant(lab: &Lab, name: &str) -> String {
    let dir = imp_verify_testlab::repo_root().join("fixtures/lab/variants/openldap");
    let before = std::fs::read_to_string(lab.dir.join("conf/slapd.conf")).unwrap();
    match name {
        "cleartext" => lab.edit_conf("slapd.conf", |t| {
            t.replace(
                "security        simple_bind=128",
                "# security simple_bind=128 (off: the cleartext variant)",
            )
        }),
        "ppolicy" => {
            let conf = std::fs::read_to_string(dir.join("ppolicy.conf")).unwrap();
            lab.edit_conf("slapd.conf", |t| {
                t.replace(
                    "moduleload      back_mdb",
                    "moduleload      back_mdb\nmoduleload      ppolicy",
                ) + "\n"
                    + &conf
            })
        }
        acl => {
            let rules = std::fs::read_to_string(dir.join(format!("{acl}.acl"))).unwrap();
            lab.edit_conf("slapd.conf", |t| {
                t.replace(
                    "# The directory: the service account",
                    &format!("{rules}# The directory: the service account"),
                )
            })
        }
    }
    lab.stop("ldap");
    lab.start("ldap");
    if name == "ppolicy" {
        ldapmodify(
            lab,
            &std::fs::read_to_string(dir.join("ppolicy.ldif")).unwrap(),
        );
    }
    before
}

/// Puts back the configuration [`openldap_variant`] returned, and restarts slapd.
pub fn openldap_restore(lab: &Lab, conf: &str) {
    lab.edit_conf("slapd.conf", |_| conf.to_string());
    lab.stop("ldap");
    lab.start("ldap");
}

/// An OpenLDAP client tool run against the lab's directory over LDAPS.
fn ldap_tool(lab: &Lab, tool: &str, args: &[&str]) -> std::process::Output {
    Command::new(tool)
        .args(["-x", "-H", &format!("ldaps://{}", lab.ip(1))])
        .args(args)
        .env("LDAPTLS_CACERT", lab.dir.join("pki/ca.crt"))
        .output()
        .unwrap()
}

/// Whether `dn` binds with `password` (ldapwhoami).
pub fn binds(lab: &Lab, dn: &str, password: &str) -> bool {
    ldap_tool(lab, "ldapwhoami", &["-D", dn, "-w", password])
        .status
        .success()
}

/// Sets `dn`'s password as the lab's administrator (with the password policy on, the
/// user must then change it).
pub fn admin_sets_password(lab: &Lab, dn: &str, new: &str) {
    let admin = lab.secret("ldap-admin");
    let out = ldap_tool(
        lab,
        "ldappasswd",
        &["-D", "cn=admin,dc=lab,dc=test", "-w", &admin, "-s", new, dn],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `dn` changes its own password.
pub fn user_sets_password(lab: &Lab, dn: &str, old: &str, new: &str) {
    let out = ldap_tool(
        lab,
        "ldappasswd",
        &["-D", dn, "-w", old, "-a", old, "-s", new],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The values of `attr` of `dn`, read as the lab's administrator.
pub fn admin_reads(lab: &Lab, dn: &str, attr: &str) -> Vec<String> {
    let admin = lab.secret("ldap-admin");
    let out = ldap_tool(
        lab,
        "ldapsearch",
        &[
            "-LLL",
            "-o",
            "ldif-wrap=no",
            "-D",
            "cn=admin,dc=lab,dc=test",
            "-w",
            &admin,
            "-b",
            dn,
            "-s",
            "base",
            "(objectClass=*)",
            attr,
        ],
    );
    let prefix = format!("{attr}: ");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix(&prefix).map(str::to_string))
        .collect()
}

/// A file holding `secret`, mode 0600, in `dir`.
pub fn password_file(dir: &Path, name: &str, secret: &str) -> std::path::PathBuf {
    let p = dir.join(format!("{name}.password"));
    std::fs::write(&p, secret).unwrap();
    let mut perms = std::fs::metadata(&p).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o600);
    std::fs::set_permissions(&p, perms).unwrap();
    p
}
