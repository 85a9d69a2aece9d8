//! Duplicate user ids, mails and directory URIs among a directory's entries within a
//! bounded memory: the first read keeps one 8-byte hash of each entry's value
//! ([`Unique`]); the hashes that repeat ([`Suspects`], at most [`NAMED_VALUES`] an
//! attribute) are looked for in a second read, which names their values and entries and
//! drops hash collisions (two values with one hash are not a duplicate).

use crate::directory::Duplicate;
use crate::wire::Entry;
use std::collections::{BTreeMap, HashSet};
use std::hash::{DefaultHasher, Hasher};

/// The most duplicated values named an attribute (the others are counted).
pub const NAMED_VALUES: usize = 20;
/// The most entries named a duplicated value (the others are counted).
pub const NAMED_ENTRIES: usize = 10;

/// The hash of a value, case-insensitively (as LDAP compares user ids and mails).
fn hash(v: &str) -> u64 {
    let mut h = DefaultHasher::new();
    for b in v.bytes() {
        h.write_u8(b.to_ascii_lowercase());
    }
    h.finish()
}

/// The values of one attribute that must be unique, as hashes.
pub(crate) struct Unique {
    what: &'static str,
    attr: String,
    hashes: Vec<u64>,
}

impl Unique {
    /// The attributes that must be unique: the user id, and the mail and the directory
    /// URI (one, labelled so, when they are one attribute).
    pub fn of(user_id: &str, mail: &str, directory_uri: &str) -> Vec<Unique> {
        let one = |what, attr: &str| Unique {
            what,
            attr: attr.to_string(),
            hashes: Vec::new(),
        };
        let mut v = vec![one("user id", user_id)];
        if directory_uri.eq_ignore_ascii_case(mail) {
            v.push(one("directory URI (mail)", mail));
        } else {
            v.push(one("mail", mail));
            v.push(one("directory URI", directory_uri));
        }
        v
    }

    /// Notes `e`'s value, if it has one.
    pub fn see(&mut self, e: &Entry) {
        if let Some(v) = e.first(&self.attr) {
            self.hashes.push(hash(v));
        }
    }
}

/// The values of one attribute whose hashes repeat, and what the second read found.
struct Suspect {
    what: &'static str,
    attr: String,
    hashes: HashSet<u64>,
    /// Repeated hashes beyond [`NAMED_VALUES`].
    unnamed: usize,
    /// Value (lower case) → the entries carrying it (the first few) and how many more.
    found: BTreeMap<String, (Vec<String>, usize)>,
}

/// The repeated hashes of every unique attribute.
pub(crate) struct Suspects {
    per: Vec<Suspect>,
    seen: u64,
}

impl Suspects {
    /// The hashes that repeat, from the first read's (which are dropped).
    pub fn of(unique: Vec<Unique>) -> Suspects {
        let per = unique
            .into_iter()
            .filter_map(|mut u| {
                u.hashes.sort_unstable();
                let mut repeated: Vec<u64> = u
                    .hashes
                    .windows(2)
                    .filter(|w| w[0] == w[1])
                    .map(|w| w[0])
                    .collect();
                repeated.dedup();
                if repeated.is_empty() {
                    return None;
                }
                let unnamed = repeated.len().saturating_sub(NAMED_VALUES);
                repeated.truncate(NAMED_VALUES);
                Some(Suspect {
                    what: u.what,
                    attr: u.attr,
                    hashes: repeated.into_iter().collect(),
                    unnamed,
                    found: BTreeMap::new(),
                })
            })
            .collect();
        Suspects { per, seen: 0 }
    }

    /// Whether no hash repeats.
    pub fn is_empty(&self) -> bool {
        self.per.is_empty()
    }

    /// The attributes the second read asks for.
    pub fn attrs(&self) -> Vec<String> {
        self.per.iter().map(|s| s.attr.clone()).collect()
    }

    /// Entries the second read saw.
    pub fn seen(&self) -> u64 {
        self.seen
    }

    /// Notes `e` if one of its values hashes as a repeated one.
    pub fn see(&mut self, e: &Entry) {
        self.seen += 1;
        for s in &mut self.per {
            let Some(v) = e.first(&s.attr) else { continue };
            if !s.hashes.contains(&hash(v)) {
                continue;
            }
            let (dns, more) = s.found.entry(v.to_ascii_lowercase()).or_default();
            if dns.len() < NAMED_ENTRIES {
                dns.push(e.dn.clone());
            } else {
                *more += 1;
            }
        }
    }

    /// The duplicates named, attribute by attribute and value by value, and how many
    /// more duplicated values there are.
    pub fn duplicates(self) -> (Vec<Duplicate>, usize) {
        let mut named = Vec::new();
        let mut unnamed = 0;
        for s in self.per {
            unnamed += s.unnamed;
            for (value, (dns, more)) in s.found {
                if dns.len() + more >= 2 {
                    named.push(Duplicate {
                        what: s.what,
                        value,
                        dns,
                        more,
                    });
                }
            }
        }
        (named, unnamed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::message::Attribute;

    fn entry(dn: &str, uid: &str, mail: &str) -> Entry {
        Entry {
            dn: dn.into(),
            attrs: vec![
                Attribute {
                    name: "uid".into(),
                    values: vec![uid.into()],
                },
                Attribute {
                    name: "mail".into(),
                    values: vec![mail.into()],
                },
            ],
        }
    }

    #[test]
    fn a_repeated_value_is_named_after_a_second_look_and_others_are_not() {
        let entries: Vec<Entry> = (0..1000)
            .map(|i| {
                entry(
                    &format!("uid=u{i}"),
                    &format!("u{i}"),
                    &format!("u{i}@x.test"),
                )
            })
            .chain([entry("uid=dup", "dup", "U7@X.test")])
            .collect();
        let mut unique = Unique::of("uid", "mail", "mail");
        for e in &entries {
            unique.iter_mut().for_each(|u| u.see(e));
        }
        let mut suspects = Suspects::of(unique);
        assert_eq!(suspects.attrs(), vec!["mail".to_string()]);
        for e in &entries {
            suspects.see(e);
        }
        let (dups, more) = suspects.duplicates();
        assert_eq!(more, 0);
        assert_eq!(
            dups,
            vec![Duplicate {
                what: "directory URI (mail)",
                value: "u7@x.test".into(),
                dns: vec!["uid=u7".into(), "uid=dup".into()],
                more: 0
            }]
        );
    }

    #[test]
    fn many_duplicates_are_counted_beyond_those_named() {
        let mut unique = Unique::of("uid", "mail", "mail");
        let entries: Vec<Entry> = (0..100)
            .flat_map(|i| {
                (0..15).map(move |j| {
                    entry(
                        &format!("uid=u{i}-{j}"),
                        &format!("u{i}"),
                        &format!("{i}-{j}@x"),
                    )
                })
            })
            .collect();
        for e in &entries {
            unique.iter_mut().for_each(|u| u.see(e));
        }
        let mut suspects = Suspects::of(unique);
        entries.iter().for_each(|e| suspects.see(e));
        let (dups, more) = suspects.duplicates();
        assert_eq!(dups.len(), NAMED_VALUES);
        assert_eq!(more, 100 - NAMED_VALUES);
        assert!(dups
            .iter()
            .all(|d| d.dns.len() == NAMED_ENTRIES && d.more == 5));
    }
}
