//! Reading the directory once for `ldap.base`, `ldap.sync` and `ldap.mapping`: a paged
//! search of the user filter under the base, streamed, with no cap. What is kept is what
//! the checks judge (observe → facts): the count of entries, the expected users'
//! entries with their mapped attributes, and what duplicate detection needs (each
//! entry's DN once, and per checked attribute the values seen), never every entry.

use crate::codes::{Refusal, ResultCode};
use crate::session::{parse_entry, Ctx, SessionError};
use imp_verify_core::{AuthLog, CheckCtx, Outcome};
use ldap3::adapters::{Adapter, EntriesOnly, PagedResults};
use ldap3::{Scope, SearchEntry, SearchOptions};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Entries a page.
pub const PAGE_SIZE: i32 = 500;

/// An expected user's entry: its DN and the values of the mapped attributes it has.
#[derive(Debug, Clone)]
pub(crate) struct ExpectedEntry {
    pub dn: String,
    /// Mapped attribute (as the spec names it) → its first value, when present and
    /// not blank.
    pub attrs: BTreeMap<String, String>,
}

impl ExpectedEntry {
    /// The value of `attr` (as the spec names it), if the entry has one.
    pub fn get(&self, attr: &str) -> Option<&str> {
        self.attrs.get(attr).map(String::as_str)
    }
}

/// A value that more than one entry carries.
#[derive(Debug, Clone)]
pub(crate) struct Duplicate {
    /// What the attribute is for ("user id", "mail").
    pub what: &'static str,
    pub value: String,
    pub dns: Vec<String>,
}

/// What the read found.
#[derive(Debug, Clone)]
pub(crate) struct Directory {
    /// Why the base could not be read (`None`: it exists).
    pub base: Option<Refusal>,
    /// Entries the filter returned.
    pub entries: u64,
    /// How the search ended when not with success (e.g. the server's size limit).
    pub ended: Option<Refusal>,
    /// The expected users found, by lower-case user id.
    pub expected: HashMap<String, ExpectedEntry>,
    /// Values carried by more than one entry, for the attributes that must be unique.
    pub duplicates: Vec<Duplicate>,
    pub took: Duration,
}

impl Directory {
    /// True when the server stopped before the end (its size limit).
    pub fn truncated(&self) -> bool {
        self.ended
            .as_ref()
            .is_some_and(|r| r.code == ResultCode::SizeLimitExceeded)
    }
}

/// The first value of `attr` (case-insensitive, as LDAP attribute names are).
pub(crate) fn first<'a>(e: &'a SearchEntry, attr: &str) -> Option<&'a str> {
    e.attrs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(attr))
        .and_then(|(_, v)| v.first())
        .map(String::as_str)
        .filter(|v| !v.trim().is_empty())
}

/// Values of one attribute that must be unique, seen so far: value → the entries
/// (indexes into the DN list) carrying it.
struct Unique {
    what: &'static str,
    attr: String,
    first: HashMap<Box<str>, u32>,
    more: BTreeMap<Box<str>, Vec<u32>>,
}

impl Unique {
    fn new(what: &'static str, attr: &str) -> Unique {
        Unique {
            what,
            attr: attr.to_string(),
            first: HashMap::new(),
            more: BTreeMap::new(),
        }
    }

    fn see(&mut self, e: &SearchEntry, index: u32) {
        let Some(v) = first(e, &self.attr) else {
            return;
        };
        let v: Box<str> = v.to_ascii_lowercase().into();
        match self.first.get(&v) {
            Some(&i) => self.more.entry(v).or_insert_with(|| vec![i]).push(index),
            None => {
                self.first.insert(v, index);
            }
        }
    }
}

impl Ctx {
    /// The directory, read once per attempt and shared by the checks that need it.
    pub async fn directory(&self, ctx: &CheckCtx) -> Result<Arc<Directory>, Outcome> {
        let budget = ctx.budget();
        self.directory
            .get_or_init(ctx.attempt, || async {
                match tokio::time::timeout(budget, self.read_directory(budget, &ctx.auth)).await {
                    Ok(r) => r.map(Arc::new),
                    Err(_) => Err(Outcome::fail(
                        format!("the directory was not read within {} ms", budget.as_millis()),
                        format!("Check the directory server's load and the search's size (paged, {PAGE_SIZE} an page)"),
                    )),
                }
            })
            .await
    }

    async fn read_directory(&self, budget: Duration, auth: &AuthLog) -> Result<Directory, Outcome> {
        let s = self.ldap();
        let server = &s.servers[0];
        let mut session = self.bound(server, budget, auth).await?;
        let started = Instant::now();
        let base = session
            .ldap
            .search(&s.base, Scope::Base, "(objectClass=*)", vec!["1.1"])
            .await
            .map_err(|e| {
                Outcome::fail(
                    format!(
                        "searching the base {} failed: {}",
                        s.base,
                        session.error(&e)
                    ),
                    "Check the directory server",
                )
            })?;
        let mut dir = Directory {
            base: Refusal::of(&base.1),
            entries: 0,
            ended: None,
            expected: HashMap::new(),
            duplicates: Vec::new(),
            took: Duration::ZERO,
        };
        if dir.base.is_some() {
            dir.took = started.elapsed();
            return Ok(dir);
        }
        let a = &s.attributes;
        let mapped = [
            &a.user_id,
            &a.mail,
            &a.directory_uri,
            &a.display_name,
            &a.phone,
        ];
        let mut attrs: Vec<String> = mapped.iter().map(|s| s.to_string()).collect();
        attrs.sort();
        attrs.dedup();
        let wanted: HashSet<String> = s
            .expected_users
            .iter()
            .map(|u| u.to_ascii_lowercase())
            .collect();
        // The user id, and the mail / directory URI (one label when one attribute).
        let mut unique = vec![Unique::new("user id", &a.user_id)];
        if a.directory_uri.eq_ignore_ascii_case(&a.mail) {
            unique.push(Unique::new("directory URI (mail)", &a.mail));
        } else {
            unique.push(Unique::new("mail", &a.mail));
            unique.push(Unique::new("directory URI", &a.directory_uri));
        }
        let mut dns: Vec<Box<str>> = Vec::new();
        let adapters: Vec<Box<dyn Adapter<_, _>>> = vec![
            Box::new(EntriesOnly::new()),
            Box::new(PagedResults::new(PAGE_SIZE)),
        ];
        session
            .ldap
            .with_search_options(SearchOptions::new().timelimit(budget.as_secs().max(1) as i32));
        let mut stream = session
            .ldap
            .streaming_search_with(adapters, &s.base, Scope::Subtree, &s.user_filter, attrs)
            .await
            .map_err(|e| {
                Outcome::fail(
                    format!("the user search failed: {}", session.error(&e)),
                    "Check the user filter and the service account's rights",
                )
            })?;
        loop {
            match stream.next().await {
                Ok(Some(raw)) => {
                    let Some(e) = parse_entry(raw) else {
                        return Err(Outcome::fail(
                            SessionError::Undecodable.to_string(),
                            "Check the directory server",
                        ));
                    };
                    let index = dns.len() as u32;
                    for u in &mut unique {
                        u.see(&e, index);
                    }
                    if let Some(uid) = first(&e, &a.user_id) {
                        let key = uid.to_ascii_lowercase();
                        if wanted.contains(&key) {
                            let attrs = mapped
                                .iter()
                                .filter_map(|m| {
                                    first(&e, m).map(|v| (m.to_string(), v.to_string()))
                                })
                                .collect();
                            dir.expected.entry(key).or_insert(ExpectedEntry {
                                dn: e.dn.clone(),
                                attrs,
                            });
                        }
                    }
                    dns.push(e.dn.into_boxed_str());
                    dir.entries += 1;
                }
                Ok(None) => break,
                Err(e) => {
                    return Err(Outcome::fail(
                        format!(
                            "the user search broke off after {} entries: {}",
                            dir.entries,
                            session.error(&e)
                        ),
                        "Check the directory server",
                    ))
                }
            }
        }
        let end = stream.finish().await;
        dir.ended = Refusal::of(&end);
        if let Some(r) = &dir.ended {
            if r.code != ResultCode::SizeLimitExceeded {
                return Err(r.evidence(Outcome::fail(
                    format!(
                        "the user search ended with {} after {} entries",
                        r.describe(),
                        dir.entries
                    ),
                    "Check the user filter and the service account's rights",
                )));
            }
        }
        for u in unique {
            for (value, idx) in u.more {
                dir.duplicates.push(Duplicate {
                    what: u.what,
                    value: value.into(),
                    dns: idx.iter().map(|&i| dns[i as usize].to_string()).collect(),
                });
            }
        }
        session.close().await;
        dir.took = started.elapsed();
        Ok(dir)
    }
}
