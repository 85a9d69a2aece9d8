//! The spec's reference, from one source: `fixtures/specs/example.toml`, the commented
//! example of every field, is compiled into the tool. [`fields`] reads it into the
//! documentation of each field (the comment above it), [`text`] prints that as
//! `imp-verify spec-reference` does, [`man_page`] as the manual page
//! `imp-verify.toml(5)`; `discover` writes the same documentation above the fields it
//! fills ([`doc`]).

/// The commented example spec, as the repository has it.
pub const EXAMPLE: &str = include_str!("../../../../fixtures/specs/example.toml");

/// One field of the spec, as the example documents it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// The table it is in (`clusters.nodes`; empty at the top level).
    pub table: String,
    /// Its key (`fqdn`).
    pub key: String,
    /// The comment above it, without the `# `, one string per line.
    pub doc: Vec<String>,
    /// The example's value.
    pub example: String,
}

impl Field {
    /// `clusters.nodes.fqdn`.
    pub fn path(&self) -> String {
        if self.table.is_empty() {
            self.key.clone()
        } else {
            format!("{}.{}", self.table, self.key)
        }
    }

    /// The default the documentation states (`(default "2s")`, `Default false.`), or
    /// whether the field is required.
    pub fn default(&self) -> String {
        let doc = self.doc.join(" ");
        if doc.contains("(required") {
            return "required".into();
        }
        for (open, close) in [("(default ", ')'), ("Default ", '.'), ("default ", ')')] {
            if let Some(at) = doc.find(open) {
                let rest = &doc[at + open.len()..];
                if let Some(end) = rest.find(close) {
                    let d = rest[..end].trim().trim_end_matches(':');
                    if !d.is_empty() && !d.starts_with("by ") {
                        return d.to_string();
                    }
                }
            }
        }
        if doc.contains("(these are the defaults)") {
            return format!("{} (as in the example)", self.example);
        }
        "none (optional)".into()
    }
}

/// Every field the example documents, in its order (a field shown twice, as a second
/// node or server, once).
pub fn fields() -> Vec<Field> {
    let mut out: Vec<Field> = Vec::new();
    let mut table = String::new();
    let mut doc: Vec<String> = Vec::new();
    for line in EXAMPLE.lines() {
        let t = line.trim();
        if let Some(c) = t.strip_prefix('#') {
            doc.push(c.strip_prefix(' ').unwrap_or(c).to_string());
            continue;
        }
        if t.is_empty() {
            // A blank line ends a comment: the file's header, or the documentation of a
            // field left commented out (optional), is no other field's documentation.
            doc.clear();
            continue;
        }
        if t.starts_with('[') {
            table = t.trim_matches(|c| c == '[' || c == ']').to_string();
            // A table's own comment documents the table: kept as its entry.
            if !doc.is_empty() && !out.iter().any(|f| f.table == table && f.key.is_empty()) {
                out.push(Field {
                    table: table.clone(),
                    key: String::new(),
                    doc: std::mem::take(&mut doc),
                    example: String::new(),
                });
            }
            doc.clear();
            continue;
        }
        let Some((key, value)) = t.split_once('=') else {
            doc.clear();
            continue;
        };
        let key = key.trim().to_string();
        if let Some(f) = out.iter_mut().find(|f| f.table == table && f.key == key) {
            // A second example of the field (another node, another server) adds to it.
            f.doc.append(&mut doc);
        } else {
            out.push(Field {
                table: table.clone(),
                key,
                doc: std::mem::take(&mut doc),
                example: value.trim().to_string(),
            });
        }
        doc.clear();
    }
    out
}

/// The documentation of field `path` (`clusters.nodes.fqdn`; a table's own, `ldap`),
/// as comment lines (`# ...`), for a spec that `discover` writes.
pub fn doc(path: &str) -> String {
    fields()
        .into_iter()
        .find(|f| f.path() == path || (f.key.is_empty() && f.table == path))
        .map(|f| {
            f.doc
                .iter()
                .map(|l| format!("# {l}").trim_end().to_string())
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

/// The file's header: what holds for every field.
pub fn header() -> Vec<String> {
    EXAMPLE
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .map(|l| l.trim_start_matches('#').trim().to_string())
        .collect()
}

/// The reference as `imp-verify spec-reference` prints it.
pub fn text() -> String {
    let mut s = String::from(
        "The imp-verify deployment spec (TOML): every field, its meaning and its default.\n",
    );
    s.push_str("`imp-verify spec-reference --example` prints the commented example spec.\n\n");
    for l in header().iter().skip(1) {
        s.push_str(l);
        s.push('\n');
    }
    let mut table = None;
    for f in fields() {
        if table.as_ref() != Some(&f.table) {
            s.push('\n');
            if f.table.is_empty() {
                s.push_str("top level\n");
            } else {
                s.push_str(&format!("[{}]\n", f.table));
            }
            table = Some(f.table.clone());
        }
        if f.key.is_empty() {
            for l in &f.doc {
                s.push_str(&format!("  {l}\n"));
            }
            continue;
        }
        s.push_str(&format!("  {}\n", f.key));
        for l in &f.doc {
            s.push_str(&format!("      {l}\n"));
        }
        s.push_str(&format!(
            "      default: {}; example: {}\n",
            f.default(),
            f.example
        ));
    }
    s
}

fn roff(s: &str) -> String {
    let s = s.replace('\\', "\\e").replace('-', "\\-");
    if s.starts_with('.') || s.starts_with('\'') {
        format!("\\&{s}")
    } else {
        s
    }
}

/// The reference as a manual page, `imp-verify.toml(5)`.
pub fn man_page(version: &str) -> String {
    let mut s = format!(
        ".TH IMP-VERIFY.TOML 5 \"\" \"imp-verify {version}\" \"File Formats\"\n.SH NAME\nimp-verify.toml \\- the imp-verify deployment spec\n.SH DESCRIPTION\n"
    );
    for l in header().iter().skip(1) {
        s.push_str(&roff(l));
        s.push('\n');
    }
    let mut table = None;
    for f in fields() {
        if table.as_ref() != Some(&f.table) {
            let title = if f.table.is_empty() {
                "TOP LEVEL".to_string()
            } else {
                format!("[{}]", f.table.to_uppercase())
            };
            s.push_str(&format!(".SH {}\n", roff(&title)));
            table = Some(f.table.clone());
        }
        if f.key.is_empty() {
            s.push_str(".PP\n");
            for l in &f.doc {
                s.push_str(&roff(l));
                s.push('\n');
            }
            continue;
        }
        s.push_str(&format!(".TP\n.B {}\n", roff(&f.key)));
        for l in &f.doc {
            s.push_str(&roff(l));
            s.push('\n');
        }
        s.push_str(&format!(
            ".br\nDefault: {}. Example: {}\n",
            roff(&f.default()),
            roff(&f.example)
        ));
    }
    s.push_str(".SH SEE ALSO\nimp\\-verify(1), imp\\-verify\\-check\\-spec(1), imp\\-verify\\-spec\\-reference(1)\n");
    s
}

/// The commented example spec (`imp-verify spec-reference --example`).
pub fn example_toml() -> String {
    EXAMPLE.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::path::Path;

    #[test]
    fn the_example_is_a_valid_spec_so_every_documented_field_is_one() {
        // deny_unknown_fields: a documented field the spec does not know fails here.
        crate::spec::Spec::parse_mode(
            EXAMPLE,
            Path::new("example.toml"),
            crate::spec::LoadMode::Structure,
            &BTreeMap::new(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    }

    #[test]
    fn every_field_has_its_meaning_and_a_default() {
        let f = fields();
        let paths: Vec<String> = f
            .iter()
            .filter(|f| !f.key.is_empty())
            .map(Field::path)
            .collect();
        for want in [
            "workflow",
            "domains",
            "im_address_scheme",
            "remote_access",
            "dns.servers",
            "dns.timeout",
            "tls.ca_bundle",
            "tls.use_system_roots",
            "tls.expiry_warning_days",
            "clusters.name",
            "clusters.domain",
            "clusters.nodes.fqdn",
            "clusters.nodes.address",
            "clusters.nodes.role",
            "clusters.nodes.services",
            "clusters.nodes.ports",
            "clusters.redundancy_groups.name",
            "clusters.redundancy_groups.nodes",
            "clusters.sip_trunk.srv_name",
            "clusters.sip_trunk.transports",
            "clusters.sip_trunk.tls_peer_subjects",
            "clusters.sip_trunk.client_cert",
            "clusters.sip_trunk.client_key",
            "clusters.sip_trunk.presence_gateway",
            "clusters.sip_trunk.presentity",
            "ldap.bind_dn",
            "ldap.password_env",
            "ldap.base",
            "ldap.user_filter",
            "ldap.expected_users",
            "ldap.attributes.user_id",
            "ldap.attributes.phone",
            "ldap.servers.url",
            "ldap.servers.starttls",
            "ldap.servers.allow_cleartext",
            "test_users.user_id",
            "test_users.home_node",
            "test_users.jid",
            "test_users.password_env",
            "test_users.password_file",
            "test_users.contacts",
            "federation.domain",
            "federation.test_contact",
            "federation.local_user",
            "sip_federation.domain",
            "sip_federation.tls_peer_subjects",
            "sip_federation.local_domain",
            "sip_federation.nodes",
            "sip_federation.client_cert",
            "sip_federation.client_key",
        ] {
            assert!(
                paths.iter().any(|p| p == want),
                "{want} not documented: {paths:?}"
            );
        }
        let undocumented: Vec<String> = f
            .iter()
            .filter(|f| f.doc.is_empty())
            .map(Field::path)
            .collect();
        assert!(
            undocumented.is_empty(),
            "fields of example.toml without a comment: {undocumented:?}"
        );
        let by = |p: &str| f.iter().find(|x| x.path() == p).unwrap().clone();
        assert_eq!(by("dns.timeout").default(), "\"2s\"");
        assert_eq!(by("remote_access").default(), "false");
        assert_eq!(by("domains").default(), "required");
        assert_eq!(by("tls.expiry_warning_days").default(), "30");
        assert!(by("clusters.nodes.fqdn").doc[0].starts_with("Fully qualified host name"));
        let text = text();
        assert!(text.contains("[clusters.nodes]\n"), "{text}");
        assert!(
            text.contains("  fqdn\n      Fully qualified host name"),
            "{text}"
        );
    }

    #[test]
    fn a_fields_documentation_is_the_examples_comment() {
        assert_eq!(
            doc("clusters.nodes.fqdn"),
            "# Fully qualified host name (required, unique in the spec)."
        );
        assert!(EXAMPLE.contains(&doc("tls.ca_bundle")));
        assert!(EXAMPLE.contains(&doc("ldap")));
    }
}
