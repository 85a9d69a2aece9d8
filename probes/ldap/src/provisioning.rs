//! Judging the directory read ([`Directory`]): `ldap.base` (the base exists and the
//! filter returns entries), `ldap.sync` (every expected user is there) and
//! `ldap.mapping` (the mapped attributes, the IM address, uniqueness). Pure functions of
//! the spec and the facts.

use crate::codes::ResultCode;
use crate::directory::Directory;
use crate::session::task_labels;
use crate::visibility::{self, Finding};
use imp_verify_core::ms;
use imp_verify_core::spec::{AddressScheme, Spec};
use imp_verify_core::Outcome;

/// The user search ended with a refusal (not the server's size limit): what every
/// judge of the read says first.
fn search_refused(spec: &Spec, d: &Directory) -> Option<Outcome> {
    let s = spec.ldap.as_ref().expect("planned with [ldap]");
    let (_, integrate) = task_labels(spec.workflow);
    let r = d.refused()?;
    Some(
        r.evidence(Outcome::fail(
            format!(
                "the user search ended with {} after {} entries",
                r.describe(),
                d.entries
            ),
            format!("Check the user filter and the service account's rights (task {integrate})"),
        ))
        .with("base", &s.base)
        .with("filter", &s.user_filter),
    )
}

pub(crate) fn check_base(spec: &Spec, d: &Directory) -> Outcome {
    let s = spec.ldap.as_ref().expect("planned with [ldap]");
    let (_, integrate) = task_labels(spec.workflow);
    if let Some(o) = search_refused(spec, d) {
        return o;
    }
    let seen = |o: Outcome| match &d.visibility {
        Some(v) => o.with("visibility", v.words(&s.base, &s.user_filter)),
        None => o,
    };
    if let Some(r) = &d.base {
        let o = match (r.code, &d.visibility) {
            (ResultCode::NoSuchObject, Some(v)) => Outcome::fail(
                v.words(&s.base, &s.user_filter),
                visibility::fix(v.finding(), &s.base, &s.bind_dn, integrate),
            ),
            (ResultCode::NoSuchObject, None) => Outcome::fail(
                format!("the search base {} is missing or unreadable for the service account: {}", s.base, r.describe()),
                visibility::fix(Finding::BaseMissingOrUnreadable, &s.base, &s.bind_dn, integrate),
            ),
            (ResultCode::Referral, _) => Outcome::fail(
                format!("the server does not hold the search base {}: {}", s.base, r.describe()),
                format!("Point the synchronization agreement at a directory server that holds the base (the referral names it), or correct the base (task {integrate})"),
            ),
            _ => Outcome::fail(
                format!("the search base {} cannot be read: {}", s.base, r.describe()),
                format!("Give the service account read access to the search base: {} (task {integrate})", visibility::read_rights(&s.base, &s.bind_dn)),
            ),
        };
        return seen(r.evidence(o).with("base", &s.base));
    }
    if d.entries == 0 {
        let (msg, fix) = match &d.visibility {
            Some(v) => (
                format!("the user filter {} returns no entry under {}: {}", s.user_filter, s.base, v.words(&s.base, &s.user_filter)),
                visibility::fix(v.finding(), &s.base, &s.bind_dn, integrate),
            ),
            None => (
                format!("the user filter {} returns no entry under {}", s.user_filter, s.base),
                format!("Correct the user filter of the synchronization agreement, or the base (task {integrate})"),
            ),
        };
        return seen(Outcome::fail(msg, fix))
            .with("base", &s.base)
            .with("filter", &s.user_filter);
    }
    Outcome::pass(format!(
        "{} exists; the user filter returns {} entries{}",
        s.base,
        d.entries,
        if d.truncated() {
            " (the server's size limit stopped the search there)"
        } else if d.capped {
            " (the read stops there: the directory holds more)"
        } else {
            ""
        }
    ))
    .with("base", &s.base)
    .with("filter", &s.user_filter)
    .metric("entries", d.entries as f64)
    .metric("search_ms", ms(d.took))
}

pub(crate) fn check_sync(spec: &Spec, d: &Directory) -> Outcome {
    let s = spec.ldap.as_ref().expect("planned with [ldap]");
    let (_, integrate) = task_labels(spec.workflow);
    if let Some(o) = search_refused(spec, d) {
        return o;
    }
    let uid_attr = &s.attributes.user_id;
    let missing: Vec<&str> = s
        .expected_users
        .iter()
        .filter(|u| !d.expected.contains_key(&u.to_ascii_lowercase()))
        .map(String::as_str)
        .collect();
    let o = if missing.is_empty() {
        Outcome::pass(format!(
            "all {} expected users are under {} (the filter returns {} entries{})",
            s.expected_users.len(),
            s.base,
            d.entries,
            if d.truncated() {
                ", more than the server's size limit lets one search return"
            } else if d.capped {
                ", the most the read takes"
            } else {
                ""
            }
        ))
    } else if d.capped {
        Outcome::fail(
            format!("{} of the expected users {} not among the first {} entries under {} with {}, the most the read takes: {}", missing.len(), if missing.len() == 1 { "is" } else { "are" }, d.entries, s.base, s.user_filter, missing.join(", ")),
            format!("Narrow the base or the filter of the synchronization agreement to the users IM&P serves (task {integrate})"),
        )
        .with("missing", missing.join(", "))
    } else if d.truncated() {
        Outcome::fail(
            format!("{} of the expected users {} not among the {} entries the server returned before its size limit stopped the search: {}", missing.len(), if missing.len() == 1 { "is" } else { "are" }, d.entries, missing.join(", ")),
            format!("Raise the directory's size limit for the service account (paged searches must reach every user, as CUCM's sync does), or narrow the base and filter (task {integrate})"),
        )
        .with("missing", missing.join(", "))
    } else {
        Outcome::fail(
            format!("{} of the expected users {} not visible to the service account under {} with {}: {}", missing.len(), if missing.len() == 1 { "is" } else { "are" }, s.base, s.user_filter, missing.join(", ")),
            format!("Add the users to the directory under the base, or widen the synchronization agreement's filter, or {}; then run a full sync on CUCM (task {integrate})", visibility::read_rights(&s.base, &s.bind_dn)),
        )
        .with("missing", missing.join(", "))
    };
    let o = match &d.ended {
        Some(r) => r.evidence(o),
        None => o,
    };
    o.with("expected", s.expected_users.join(", "))
        .with("user_id_attribute", uid_attr)
        .metric("entries", d.entries as f64)
        .metric("search_ms", ms(d.took))
}

/// Whether `addr` is an IM address of one of `domains` (lower case).
fn valid_im_address(addr: &str, domains: &[String]) -> bool {
    addr.split_once('@')
        .map(|(l, dom)| {
            !l.is_empty()
                && !l.contains(|ch: char| ch.is_whitespace() || "\"&'/:<>@".contains(ch))
                && domains.iter().any(|d| d == dom)
        })
        .unwrap_or(false)
}

/// What the mapped attributes of the expected users showed: failures, warnings, how
/// many users were checked, and the attributes looked at (those that must be there,
/// then those that should).
struct MappingSeen {
    problems: Vec<String>,
    warnings: Vec<String>,
    checked: usize,
    attrs_checked: Vec<&'static str>,
}

fn mapping_seen(spec: &Spec, d: &Directory) -> MappingSeen {
    let s = spec.ldap.as_ref().expect("planned with [ldap]");
    let a = &s.attributes;
    let domains: Vec<String> = spec
        .domains
        .iter()
        .map(|d| d.to_ascii_lowercase())
        .collect();
    let directory_uri = spec.im_address_scheme == AddressScheme::DirectoryUri;
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    // What must be there (fail) and what should be (warn) under the address scheme.
    let mut needed = vec![
        ("user id", &a.user_id),
        ("display name", &a.display_name),
        ("phone", &a.phone),
    ];
    let mut wanted = Vec::new();
    if directory_uri {
        needed.push(("directory URI", &a.directory_uri));
        if !a.mail.eq_ignore_ascii_case(&a.directory_uri) {
            wanted.push(("mail", &a.mail));
        }
    } else {
        wanted.push(("mail", &a.mail));
        if !a.mail.eq_ignore_ascii_case(&a.directory_uri) {
            wanted.push(("directory URI", &a.directory_uri));
        }
    }
    let mut checked = 0;
    for user in &s.expected_users {
        let Some(e) = d.expected.get(&user.to_ascii_lowercase()) else {
            continue; // ldap.sync reports it
        };
        checked += 1;
        for (what, attr) in &needed {
            if e.get(attr).is_none() {
                problems.push(format!("{user} ({}) has no {what} ({attr})", e.dn));
            }
        }
        for (what, attr) in &wanted {
            if e.get(attr).is_none() {
                warnings.push(format!("{user} ({}) has no {what} ({attr})", e.dn));
            }
        }
        let address = if directory_uri {
            e.get(&a.directory_uri).map(|m| m.to_ascii_lowercase())
        } else {
            Some(format!(
                "{}@{}",
                user.to_ascii_lowercase(),
                domains.first().cloned().unwrap_or_default()
            ))
        };
        if let Some(addr) = address {
            if !valid_im_address(&addr, &domains) {
                problems.push(format!(
                    "{user}: the IM address {addr} is not an address in {}",
                    domains.join(", ")
                ));
            }
        }
    }
    MappingSeen {
        problems,
        warnings,
        checked,
        attrs_checked: needed
            .iter()
            .chain(wanted.iter())
            .map(|(w, _)| *w)
            .collect(),
    }
}

pub(crate) fn check_mapping(spec: &Spec, d: &Directory) -> Outcome {
    let s = spec.ldap.as_ref().expect("planned with [ldap]");
    if let Some(o) = search_refused(spec, d) {
        return o;
    }
    let a = &s.attributes;
    let directory_uri = spec.im_address_scheme == AddressScheme::DirectoryUri;
    let MappingSeen {
        problems,
        warnings,
        checked,
        attrs_checked,
    } = mapping_seen(spec, d);
    let dupes: Vec<String> = d
        .duplicates
        .iter()
        .map(|x| {
            let more = if x.more > 0 {
                format!(" and {} more entries", x.more)
            } else {
                String::new()
            };
            format!(
                "duplicate {} {} on {}{more}",
                x.what,
                x.value,
                x.dns.join(" and ")
            )
        })
        .chain(
            (d.more_duplicates > 0)
                .then(|| format!("{} more duplicated values", d.more_duplicates)),
        )
        .collect();
    let mapping = format!(
        "user id={}, display name={}, phone={}, mail={}, directory URI={}",
        a.user_id, a.display_name, a.phone, a.mail, a.directory_uri
    );
    let unique = if a.directory_uri.eq_ignore_ascii_case(&a.mail) {
        "user id or directory URI (mail)"
    } else {
        "user id, mail or directory URI"
    };
    let scope = format!(
        "no duplicate {unique} among {} entries{}",
        d.entries,
        if d.truncated() {
            " (all the server's size limit let through)"
        } else if d.capped {
            " (the most the read takes)"
        } else {
            ""
        }
    );
    let o = if !problems.is_empty() || !dupes.is_empty() {
        let mut all = problems.clone();
        all.extend(dupes.iter().cloned());
        all.extend(warnings.iter().cloned());
        Outcome::fail(
            all.join("; "),
            format!("Fill in the missing attributes and make user ids and directory URIs unique in the directory (IM&P rejects duplicates), or correct the attribute mapping of the LDAP directory configuration ({})", imp_verify_core::catalog::named(spec.workflow, &[imp_verify_core::catalog::Task::LdapClients, imp_verify_core::catalog::Task::LdapForJabber, imp_verify_core::catalog::Task::ImAddressing])),
        )
    } else if !warnings.is_empty() {
        Outcome::warn(
            format!("{}: without it the user has no directory URI (URI dialing fails and Jabber cannot find the user by mail in a contact search); the IM address itself is userid@domain", warnings.join("; ")),
            format!("Fill in the mail attribute of these users in the directory, or map the directory URI to an attribute they carry ({})", imp_verify_core::catalog::named(spec.workflow, &[imp_verify_core::catalog::Task::LdapClients, imp_verify_core::catalog::Task::LdapForJabber, imp_verify_core::catalog::Task::ImAddressing])),
        )
    } else if checked == 0 {
        Outcome::pass(format!(
            "no expected user to check the mapped attributes of (see ldap.sync); {scope}"
        ))
    } else {
        Outcome::pass(format!(
            "the {checked} expected users carry {}; {}; {scope}",
            attrs_checked.join(", "),
            if directory_uri {
                "their directory URIs are IM addresses of the domain"
            } else {
                "their userid@domain IM addresses are valid"
            },
        ))
    };
    o.with("mapping", mapping).with(
        "address_scheme",
        if directory_uri {
            "directory-uri"
        } else {
            "userid@domain"
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::{Duplicate, ExpectedEntry};
    use crate::testing::spec;
    use std::collections::{BTreeMap, HashMap};
    use std::time::Duration;

    fn user(uid: &str, attrs: &[(&str, &str)]) -> (String, ExpectedEntry) {
        let mut a: BTreeMap<String, String> = [
            ("sAMAccountName", uid),
            ("displayName", "Some One"),
            ("telephoneNumber", "+1 555 0100"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        for (k, v) in attrs {
            a.insert(k.to_string(), v.to_string());
        }
        (
            uid.to_string(),
            ExpectedEntry {
                dn: format!("CN={uid},OU=people,DC=corp,DC=test"),
                attrs: a,
            },
        )
    }

    fn facts(users: Vec<(String, ExpectedEntry)>) -> Directory {
        Directory {
            base: None,
            entries: 1000,
            ended: None,
            expected: users.into_iter().collect::<HashMap<_, _>>(),
            visibility: None,
            duplicates: Vec::new(),
            more_duplicates: 0,
            capped: false,
            took: Duration::ZERO,
        }
    }

    #[test]
    fn a_missing_mail_under_userid_at_domain_warns_saying_what_it_breaks() {
        let s = spec("userid@domain", "mail");
        let d = facts(vec![
            user("ann", &[("mail", "ann@corp.test")]),
            user("ben", &[]),
        ]);
        let o = check_mapping(&s, &d);
        assert_eq!(o.status, imp_verify_core::Status::Warn, "{}", o.message);
        assert!(o
            .message
            .contains("ben (CN=ben,OU=people,DC=corp,DC=test) has no mail (mail)"));
        assert!(o.message.contains("URI dialing"), "{}", o.message);
        assert!(!o.message.contains("ann ("), "{}", o.message);
        let d = facts(vec![
            user("ann", &[("mail", "ann@corp.test")]),
            user("ben", &[("mail", "ben@corp.test")]),
        ]);
        let o = check_mapping(&s, &d);
        assert_eq!(o.status, imp_verify_core::Status::Pass, "{}", o.message);
        assert!(
            o.message
                .starts_with("the 2 expected users carry user id, display name, phone, mail;"),
            "{}",
            o.message
        );
    }

    #[test]
    fn under_the_directory_uri_scheme_the_uri_must_be_an_address_of_the_domain() {
        let s = spec("directory-uri", "msRTCSIP-PrimaryUserAddress");
        let d = facts(vec![
            user(
                "ann",
                &[
                    ("mail", "ann@corp.test"),
                    ("msRTCSIP-PrimaryUserAddress", "ann@other.test"),
                ],
            ),
            user("ben", &[("msRTCSIP-PrimaryUserAddress", "ben@corp.test")]),
        ]);
        let o = check_mapping(&s, &d);
        assert_eq!(o.status, imp_verify_core::Status::Fail, "{}", o.message);
        assert!(o
            .message
            .contains("ann: the IM address ann@other.test is not an address in corp.test"));
        // ben has no mail: said too, though the IM address does not depend on it.
        assert!(o
            .message
            .contains("ben (CN=ben,OU=people,DC=corp,DC=test) has no mail (mail)"));
        let mut d = facts(vec![
            user(
                "ann",
                &[
                    ("mail", "ann@corp.test"),
                    ("msRTCSIP-PrimaryUserAddress", "ann@corp.test"),
                ],
            ),
            user(
                "ben",
                &[
                    ("mail", "ben@corp.test"),
                    ("msRTCSIP-PrimaryUserAddress", "ben@corp.test"),
                ],
            ),
        ]);
        let o = check_mapping(&s, &d);
        assert_eq!(o.status, imp_verify_core::Status::Pass, "{}", o.message);
        assert!(
            o.message
                .contains("user id, display name, phone, directory URI, mail"),
            "{}",
            o.message
        );
        assert!(
            o.message
                .contains("no duplicate user id, mail or directory URI among 1000 entries"),
            "{}",
            o.message
        );
        d.duplicates.push(Duplicate {
            what: "directory URI",
            value: "ann@corp.test".into(),
            dns: vec!["CN=ann,OU=people".into(), "CN=ann2,OU=people".into()],
            more: 0,
        });
        let o = check_mapping(&s, &d);
        assert_eq!(o.status, imp_verify_core::Status::Fail);
        assert!(o.message.contains(
            "duplicate directory URI ann@corp.test on CN=ann,OU=people and CN=ann2,OU=people"
        ));
    }
}
