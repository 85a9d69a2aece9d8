//! What the unit tests of the judges share: a spec of an Active Directory deployment,
//! and finding evidence.

use imp_verify_core::spec::Spec;
use imp_verify_core::Outcome;
use std::collections::BTreeMap;
use std::path::Path;

/// A workflow A spec whose directory is AD-like (`sAMAccountName`), with the IM
/// address `scheme` and the directory URI in `directory_uri`, two expected users and
/// two servers (LDAPS and StartTLS).
pub fn spec(scheme: &str, directory_uri: &str) -> Spec {
    let text = format!(
        r#"workflow = "A"
domains = ["corp.test"]
im_address_scheme = "{scheme}"

[[clusters]]
name = "c1"
domain = "corp.test"

[[clusters.nodes]]
fqdn = "imp1.corp.test"
role = "imp"

[ldap]
bind_dn = "CN=svc,DC=corp,DC=test"
password_env = "SVC"
base = "OU=people,DC=corp,DC=test"
expected_users = ["ann", "ben"]

[ldap.attributes]
user_id = "sAMAccountName"
directory_uri = "{directory_uri}"

[[ldap.servers]]
url = "ldaps://dc1.corp.test"

[[ldap.servers]]
url = "ldap://dc2.corp.test"
starttls = true

[[test_users]]
user_id = "ann"
home_node = "imp1.corp.test"
password_env = "ANN"
"#
    );
    let env: BTreeMap<String, String> = [("SVC", "x"), ("ANN", "y")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Spec::parse(&text, Path::new("t.toml"), &env).unwrap_or_else(|e| panic!("{e}"))
}

/// An evidence value of an outcome (panics, listing the evidence, when it is absent).
pub fn ev<'a>(o: &'a Outcome, key: &str) -> &'a str {
    o.evidence
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {key} in {:?}", o.evidence))
}
