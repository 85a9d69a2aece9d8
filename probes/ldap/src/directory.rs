//! Reading the directory once for `ldap.base`, `ldap.sync` and `ldap.mapping`: a paged
//! search of the user filter under the base, streamed, with no cap. What is kept is what
//! the checks judge (observe → facts): the count of entries, the expected users'
//! entries with their mapped attributes, and what duplicate detection needs (each
//! entry's DN once, and per checked attribute the values seen), never every entry.

use crate::client::search::Item;
use crate::codes::{Refusal, ResultCode};
use crate::error::LdapError;
use crate::session::{LdapCtx, Session};
use crate::wire::controls;
use crate::wire::message::SearchRequest;
use crate::wire::{Entry, Filter, Scope};
use imp_verify_core::spec::LdapSpec;
use imp_verify_core::{CheckCtx, CheckKey, Outcome};
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
    /// How the user search ended when neither with success nor at the server's size
    /// limit (e.g. insufficientAccessRights, unwillingToPerform).
    pub fn refused(&self) -> Option<&Refusal> {
        self.ended
            .as_ref()
            .filter(|r| r.code != ResultCode::SizeLimitExceeded)
    }

    /// True when the server stopped before the end (its size limit).
    pub fn truncated(&self) -> bool {
        self.ended
            .as_ref()
            .is_some_and(|r| r.code == ResultCode::SizeLimitExceeded)
    }
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

    fn see(&mut self, e: &Entry, index: u32) {
        let Some(v) = e.first(&self.attr) else {
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

impl LdapCtx {
    /// The directory, read once per attempt and shared by the checks that need it.
    pub async fn directory(
        &self,
        cx: &CheckCtx,
        key: &CheckKey,
    ) -> Result<Arc<Directory>, Outcome> {
        self.directory
            .get_or_init(cx.attempt, || async {
                let server = &self.ldap().servers[0];
                let mut session = self.bound(server, cx, key).await?;
                let read = self.read_directory(&mut session).await;
                session.close().await;
                read.map(Arc::new).map_err(|e| {
                    e.fail(
                        "the directory was not read",
                        format!("Check the directory server's load and the search's size (paged, {PAGE_SIZE} a page)"),
                    )
                })
            })
            .await
    }

    async fn read_directory(&self, session: &mut Session) -> Result<Directory, LdapError> {
        let s = self.ldap();
        let started = Instant::now();
        let mut dir = Directory {
            base: read_base(session, &s.base).await?,
            entries: 0,
            ended: None,
            expected: HashMap::new(),
            duplicates: Vec::new(),
            took: Duration::ZERO,
        };
        if let (None, Ok(filter)) = (&dir.base, &self.user_filter) {
            let mut reader = UserReader::new(s);
            dir.ended = read_users(session, &s.base, filter, &mut reader).await?;
            reader.finish(&mut dir);
        }
        dir.took = started.elapsed();
        Ok(dir)
    }
}

/// How a base-scope search of the base ended (`None`: success).
async fn read_base(session: &mut Session, base: &str) -> Result<Option<Refusal>, LdapError> {
    let steps = session.steps.clone();
    let everything = Filter::everything();
    let request = SearchRequest {
        base,
        scope: Scope::Base,
        filter: &everything,
        attrs: &["1.1"],
        size_limit: 1,
        time_limit: 0,
    };
    let mut search = session.search(request, &[], 1).await?;
    loop {
        match search.next().await.map_err(|e| steps.wire(e))? {
            Item::Done(r, _) => return Ok(Refusal::of(&r)),
            Item::Stopped => return Ok(None),
            Item::Entry(_) | Item::Reference(_) => {}
        }
    }
}

/// The paged search of the user filter under the base, each entry handed to `reader`
/// as it arrives; how it ended when not with success.
async fn read_users(
    session: &mut Session,
    base: &str,
    filter: &Filter,
    reader: &mut UserReader,
) -> Result<Option<Refusal>, LdapError> {
    let steps = session.steps.clone();
    let attrs = reader.attrs.clone();
    let attrs: Vec<&str> = attrs.iter().map(String::as_str).collect();
    let mut cookie = Vec::new();
    loop {
        let request = SearchRequest {
            base,
            scope: Scope::Subtree,
            filter,
            attrs: &attrs,
            size_limit: 0,
            time_limit: steps.budget_secs(),
        };
        let paging = [controls::paged(PAGE_SIZE, &cookie)];
        // A page holds at most PAGE_SIZE entries, and a few continuation references.
        let mut search = session
            .search(request, &paging, PAGE_SIZE as u64 + 64)
            .await?;
        let next = loop {
            match search.next().await.map_err(|e| steps.wire(e))? {
                Item::Entry(e) => reader.see(e),
                Item::Reference(_) => {}
                Item::Done(r, controls) => {
                    if let Some(refusal) = Refusal::of(&r) {
                        return Ok(Some(refusal));
                    }
                    break controls::paged_cookie(&controls)
                        .map_err(|e| LdapError::Wire(crate::wire::DecodeError::Ber(e).into()))?;
                }
                Item::Stopped => {
                    return Err(LdapError::Overflow {
                        asked: PAGE_SIZE as u64,
                        what: "a page holds",
                    })
                }
            }
        };
        match next {
            Some(c) if !c.is_empty() => cookie = c,
            _ => return Ok(None),
        }
    }
}

/// What the read keeps of the entries, as they arrive: their count, the expected
/// users' entries, and what duplicate detection needs.
struct UserReader {
    /// The mapped attributes, as the spec names them (the search asks for them).
    mapped: Vec<String>,
    attrs: Vec<String>,
    wanted: HashSet<String>,
    user_id: String,
    unique: Vec<Unique>,
    dns: Vec<Box<str>>,
    entries: u64,
    expected: HashMap<String, ExpectedEntry>,
}

impl UserReader {
    fn new(s: &LdapSpec) -> UserReader {
        let a = &s.attributes;
        let mapped: Vec<String> = [
            &a.user_id,
            &a.mail,
            &a.directory_uri,
            &a.display_name,
            &a.phone,
        ]
        .into_iter()
        .cloned()
        .collect();
        let mut attrs = mapped.clone();
        attrs.sort_unstable();
        attrs.dedup();
        // The user id, and the mail / directory URI (one label when one attribute).
        let mut unique = vec![Unique::new("user id", &a.user_id)];
        if a.directory_uri.eq_ignore_ascii_case(&a.mail) {
            unique.push(Unique::new("directory URI (mail)", &a.mail));
        } else {
            unique.push(Unique::new("mail", &a.mail));
            unique.push(Unique::new("directory URI", &a.directory_uri));
        }
        UserReader {
            mapped,
            attrs,
            wanted: s
                .expected_users
                .iter()
                .map(|u| u.to_ascii_lowercase())
                .collect(),
            user_id: a.user_id.clone(),
            unique,
            dns: Vec::new(),
            entries: 0,
            expected: HashMap::new(),
        }
    }

    fn see(&mut self, e: Entry) {
        let index = self.dns.len() as u32;
        for u in &mut self.unique {
            u.see(&e, index);
        }
        if let Some(uid) = e.first(&self.user_id) {
            let key = uid.to_ascii_lowercase();
            if self.wanted.contains(&key) {
                let attrs = self
                    .mapped
                    .iter()
                    .filter_map(|m| e.first(m).map(|v| (m.clone(), v.to_string())))
                    .collect();
                self.expected.entry(key).or_insert(ExpectedEntry {
                    dn: e.dn.clone(),
                    attrs,
                });
            }
        }
        self.dns.push(e.dn.into_boxed_str());
        self.entries += 1;
    }

    fn finish(self, dir: &mut Directory) {
        dir.entries = self.entries;
        dir.expected = self.expected;
        for u in self.unique {
            for (value, idx) in u.more {
                dir.duplicates.push(Duplicate {
                    what: u.what,
                    value: value.into(),
                    dns: idx
                        .iter()
                        .map(|&i| self.dns[i as usize].to_string())
                        .collect(),
                });
            }
        }
    }
}
