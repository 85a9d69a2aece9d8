//! Reading the directory once for `ldap.base`, `ldap.sync` and `ldap.mapping`: a paged
//! search of the user filter under the base, each entry judged as it arrives and then
//! dropped. What is kept is what the checks judge (observe → facts): the count of
//! entries, the expected users' entries with their mapped attributes, and for duplicate
//! detection one 8-byte hash a unique attribute an entry ([`crate::unique`]); only when
//! hashes repeat is the search made a second time, to name the values and their
//! entries. Memory is bounded by the entries the read takes ([`MAX_ENTRIES`]), not by
//! what a server sends.

use crate::client::search::Item;
use crate::codes::{Refusal, ResultCode};
use crate::error::LdapError;
use crate::session::{LdapCtx, Session, Steps};
use crate::unique::{Suspects, Unique};
use crate::visibility::{self, BaseSeen, Visibility};
use crate::wire::controls;
use crate::wire::message::SearchRequest;
use crate::wire::{Entry, Filter, Scope};
use imp_verify_core::spec::LdapSpec;
use imp_verify_core::{Outcome, Reason};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Entries a page.
pub const PAGE_SIZE: i32 = 500;

/// The most entries the read takes: far beyond any directory CUCM syncs (a cluster
/// holds at most some 160,000 users), and what bounds the read's memory (at most 24
/// bytes an entry for duplicate detection).
pub const MAX_ENTRIES: u64 = 2_000_000;

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
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Duplicate {
    /// What the attribute is for ("user id", "mail").
    pub what: &'static str,
    pub value: String,
    /// The entries carrying it (the first few).
    pub dns: Vec<String>,
    /// How many more entries carry it.
    pub more: usize,
}

/// What the read found.
#[derive(Debug, Clone)]
pub(crate) struct Directory {
    /// Why the base could not be read (`None`: it exists).
    pub base: Option<Refusal>,
    /// What the service account can see of the base, when the base read was refused
    /// or the filter returned nothing (servers hide unreadable entries as missing ones).
    pub visibility: Option<Visibility>,
    /// Entries the filter returned.
    pub entries: u64,
    /// How the search ended when not with success (e.g. the server's size limit).
    pub ended: Option<Refusal>,
    /// The expected users found, by lower-case user id.
    pub expected: HashMap<String, ExpectedEntry>,
    /// Values carried by more than one entry, for the attributes that must be unique
    /// (the first few).
    pub duplicates: Vec<Duplicate>,
    /// How many more duplicated values there are.
    pub more_duplicates: usize,
    /// Whether the read stopped at [`MAX_ENTRIES`] (the directory holds more).
    pub capped: bool,
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

impl LdapCtx {
    /// The directory, read once per attempt and shared by the checks that need it.
    pub async fn directory(&self, steps: &Steps, attempt: u32) -> Result<Arc<Directory>, Outcome> {
        self.directory
            .get_or_init(attempt, || async {
                let server = self.serving();
                let mut session = self.bound(server, steps).await?;
                let read = self.read_directory(&mut session).await;
                session.close().await;
                read.map(Arc::new).map_err(|(e, entries)| {
                    let fix = format!("Check the directory server's load and the search's size (paged, {PAGE_SIZE} a page), or give the checks a longer --timeout");
                    match e {
                        LdapError::TimedOut { stage, after } if entries > 0 => Outcome::fail(
                            format!("the user search was still under way after {entries} entries when the check's time ran out ({} ms, in {})", after.as_millis(), stage.describe()),
                            fix,
                        )
                        .with("stage", stage.as_str())
                        .metric("entries", entries as f64)
                        .because(Reason::TimedOut { after, stage: Some(stage) }),
                        e if entries > 0 => e.fail(&format!("the user search broke off after {entries} entries"), fix),
                        e => e.fail("the directory was not read", fix),
                    }
                })
            })
            .await
    }

    /// Reads the base, then the users; an error with the entries read before it.
    async fn read_directory(&self, session: &mut Session) -> Result<Directory, (LdapError, u64)> {
        let s = self.ldap();
        let started = Instant::now();
        let seen = visibility::observe_base(session, &s.base)
            .await
            .map_err(|e| (e, 0))?;
        let mut dir = Directory {
            base: match &seen {
                BaseSeen::Refused(r, _) => Some(r.clone()),
                _ => None,
            },
            visibility: None,
            entries: 0,
            ended: None,
            expected: HashMap::new(),
            duplicates: Vec::new(),
            more_duplicates: 0,
            capped: false,
            took: Duration::ZERO,
        };
        if let BaseSeen::Refused(..) = seen {
            dir.visibility = Some(Visibility {
                base: seen,
                anything: false,
            });
            dir.took = started.elapsed();
            return Ok(dir);
        }
        let (None, Ok(filter)) = (&dir.base, &self.user_filter) else {
            dir.took = started.elapsed();
            return Ok(dir);
        };
        let mut reader = UserReader::new(s);
        let read = read_users(session, &s.base, filter, &mut reader).await;
        let entries = reader.entries;
        match read {
            Ok(Ended::Done(r)) => dir.ended = r,
            Ok(Ended::Capped) => dir.capped = true,
            Err(e) => return Err((e, entries)),
        }
        let suspects = reader.finish(&mut dir);
        if dir.entries == 0 && dir.ended.is_none() {
            let v = visibility::observe(session, &s.base, seen).await;
            dir.visibility = Some(v.map_err(|e| (e, 0))?);
        }
        if !suspects.is_empty() {
            // Hashes repeat: the search again, to name the values and their entries.
            let mut names = NameReader { suspects };
            read_users(session, &s.base, filter, &mut names)
                .await
                .map_err(|e| (e, entries))?;
            (dir.duplicates, dir.more_duplicates) = names.suspects.duplicates();
        }
        dir.took = started.elapsed();
        Ok(dir)
    }
}

/// What takes the entries of the user search as they arrive.
trait Sink {
    /// The attributes to ask for.
    fn attrs(&self) -> Vec<String>;
    /// Entries taken so far.
    fn taken(&self) -> u64;
    /// One entry.
    fn see(&mut self, e: Entry);
}

/// How the user search ended.
enum Ended {
    /// The server ended it (`Some`: not with success, e.g. its size limit).
    Done(Option<Refusal>),
    /// At [`MAX_ENTRIES`]: abandoned there.
    Capped,
}

/// The paged search of the user filter under the base, each entry handed to `sink`
/// as it arrives, at most [`MAX_ENTRIES`] in all.
async fn read_users(
    session: &mut Session,
    base: &str,
    filter: &Filter,
    sink: &mut impl Sink,
) -> Result<Ended, LdapError> {
    let steps = session.steps.clone();
    let attrs = sink.attrs();
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
        // Entries and continuation references count against the read's bound: a
        // server that ignores paging may send every entry in one search.
        let left = MAX_ENTRIES.saturating_sub(sink.taken());
        let mut search = session.search(request, &paging, left).await?;
        let next = loop {
            match search.next().await.map_err(|e| steps.wire(e))? {
                Item::Entry(e) => sink.see(e),
                Item::Reference(_) => {}
                Item::Done(r, controls) => {
                    if let Some(refusal) = Refusal::of(&r) {
                        return Ok(Ended::Done(Some(refusal)));
                    }
                    break controls::paged_cookie(&controls)
                        .map_err(|e| LdapError::Wire(crate::wire::DecodeError::Ber(e).into()))?;
                }
                Item::Stopped => return Ok(Ended::Capped),
            }
        };
        match next {
            Some(c) if !c.is_empty() => cookie = c,
            _ => return Ok(Ended::Done(None)),
        }
    }
}

/// What the first read keeps of the entries: their count, the expected users'
/// entries, and a hash a unique attribute an entry.
struct UserReader {
    /// The mapped attributes, as the spec names them (the search asks for them).
    mapped: Vec<String>,
    attrs: Vec<String>,
    wanted: HashSet<String>,
    user_id: String,
    unique: Vec<Unique>,
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
        UserReader {
            mapped,
            attrs,
            wanted: s
                .expected_users
                .iter()
                .map(|u| u.to_ascii_lowercase())
                .collect(),
            user_id: a.user_id.clone(),
            unique: Unique::of(&a.user_id, &a.mail, &a.directory_uri),
            entries: 0,
            expected: HashMap::new(),
        }
    }

    /// Fills `dir` with what was seen; the hashes that repeat, to be named.
    fn finish(self, dir: &mut Directory) -> Suspects {
        dir.entries = self.entries;
        dir.expected = self.expected;
        Suspects::of(self.unique)
    }
}

impl Sink for UserReader {
    fn attrs(&self) -> Vec<String> {
        self.attrs.clone()
    }

    fn taken(&self) -> u64 {
        self.entries
    }

    fn see(&mut self, e: Entry) {
        for u in &mut self.unique {
            u.see(&e);
        }
        if let Some(uid) = e.first(&self.user_id) {
            let key = uid.to_ascii_lowercase();
            if self.wanted.contains(&key) {
                let attrs = self
                    .mapped
                    .iter()
                    .filter_map(|m| e.first(m).map(|v| (m.clone(), v.to_string())))
                    .collect();
                self.expected
                    .entry(key)
                    .or_insert(ExpectedEntry { dn: e.dn, attrs });
            }
        }
        self.entries += 1;
    }
}

/// The second read: the entries whose values hashed as a repeated value.
struct NameReader {
    suspects: Suspects,
}

impl Sink for NameReader {
    fn attrs(&self) -> Vec<String> {
        self.suspects.attrs()
    }

    fn taken(&self) -> u64 {
        self.suspects.seen()
    }

    fn see(&mut self, e: Entry) {
        self.suspects.see(&e);
    }
}
