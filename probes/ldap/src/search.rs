//! `ldap.contact-search`: the searches Jabber makes (by display-name prefix, by phone
//! number), each with Jabber's size limit, counted by the probe as entries arrive; a
//! server that stops at its size limit gives partial results, which Jabber shows as
//! they are. Observed into [`ContactFacts`], judged by [`judge_contact_search`].

use crate::client::search::Item;
use crate::codes::{Refusal, ResultCode};
use crate::error::LdapError;
use crate::session::{LdapCtx, Session, Steps};
use crate::wire::message::SearchRequest;
use crate::wire::{Entry, Filter, Scope};
use imp_verify_core::catalog::Task;
use imp_verify_core::{CheckCtx, CheckKey, Outcome};
use std::time::{Duration, Instant};

/// The most entries a contact search asks for (Jabber asks for few).
pub const CONTACT_SEARCH_LIMIT: i32 = 50;

/// One search's result: the entries and whether a size limit cut it.
#[derive(Debug, Clone)]
struct Found {
    entries: Vec<Entry>,
    partial: bool,
}

/// Whose limit cut a search of `n` entries: the check's own (Jabber's) when it got
/// that many.
fn whose_limit(n: usize) -> &'static str {
    if n >= CONTACT_SEARCH_LIMIT as usize {
        "the client's size limit, as Jabber's"
    } else {
        "the server's size limit"
    }
}

/// One of the two searches, as it went.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Searched {
    /// "display-name prefix" or "phone number".
    pub how: &'static str,
    /// The filter sent.
    pub filter: String,
    /// Entries returned.
    pub entries: usize,
    /// Whether the user's own entry (with a display name) was among them.
    pub hit: bool,
    /// Whether a size limit cut the search.
    pub partial: bool,
    /// How long it took.
    pub took: Duration,
}

/// What the contact searches showed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ContactFacts {
    /// The user's own entry is not there.
    NotFound,
    /// The searches, in order, up to the first one that could not be made.
    Searched {
        /// The user's display name and phone.
        name: String,
        phone: String,
        /// The searches made.
        searches: Vec<Searched>,
        /// The search that could not be made for want of a value (its kind).
        no_value: Option<&'static str>,
    },
}

/// Why a contact search gave no entries to judge.
#[derive(Debug, thiserror::Error)]
enum SearchFailure {
    /// The server refused it.
    #[error("{}", .0.describe())]
    Refused(Refusal),
    /// The session failed.
    #[error("{0}")]
    Session(LdapError),
}

impl SearchFailure {
    /// A failed outcome: `what` failed, and why (a timeout with its reason).
    fn fail(&self, what: &str) -> Outcome {
        match self {
            SearchFailure::Session(e) => e.fail(what, "Check the directory"),
            SearchFailure::Refused(r) => r.evidence(Outcome::fail(
                format!("{what}: {self}"),
                "Check the directory",
            )),
        }
    }
}

/// A search with the contact-search limit, counted as entries arrive.
async fn limited_search(
    session: &mut Session,
    base: &str,
    filter: &Filter,
    attrs: &[&str],
) -> Result<Found, SearchFailure> {
    let steps = session.steps.clone();
    let request = SearchRequest {
        base,
        scope: Scope::Subtree,
        filter,
        attrs,
        size_limit: CONTACT_SEARCH_LIMIT,
        time_limit: steps.budget_secs(),
    };
    let run = async {
        let mut search = session
            .search(request, &[], CONTACT_SEARCH_LIMIT as u64)
            .await?;
        let mut entries = Vec::new();
        loop {
            match search.next().await.map_err(|e| steps.wire(e))? {
                Item::Entry(e) => entries.push(e),
                Item::Reference(_) => {}
                Item::Stopped => {
                    return Ok(Ok(Found {
                        entries,
                        partial: true,
                    }))
                }
                Item::Done(r, _) => {
                    return Ok(match Refusal::of(&r) {
                        None => Ok(Found {
                            entries,
                            partial: false,
                        }),
                        Some(x) if x.code == ResultCode::SizeLimitExceeded => Ok(Found {
                            entries,
                            partial: true,
                        }),
                        Some(x) => Err(SearchFailure::Refused(x)),
                    })
                }
            }
        }
    };
    run.await
        .unwrap_or_else(|e: LdapError| Err(SearchFailure::Session(e)))
}

impl LdapCtx {
    /// Looks `uid` up, then searches as Jabber does by its name's prefix and its phone.
    pub(crate) async fn observe_contacts(
        &self,
        uid: &str,
        steps: &Steps,
    ) -> Result<ContactFacts, Outcome> {
        let s = self.ldap();
        let a = &s.attributes;
        let user_filter = self.filter().map_err(|o| *o)?.clone();
        let mut session = self.bound(self.serving(), steps).await?;
        let attrs = [
            a.user_id.as_str(),
            a.display_name.as_str(),
            a.phone.as_str(),
            a.mail.as_str(),
        ];
        let own = user_filter.clone().and(Filter::equal(&a.user_id, uid));
        let me = limited_search(&mut session, &s.base, &own, &attrs)
            .await
            .map_err(|e| e.fail(&format!("looking {uid} up failed")))?
            .entries
            .into_iter()
            .next();
        let Some(me) = me else {
            session.close().await;
            return Ok(ContactFacts::NotFound);
        };
        let name = me.first(&a.display_name).unwrap_or_default().to_string();
        let phone = me.first(&a.phone).unwrap_or_default().to_string();
        let prefix: String = name.chars().take(3).collect();
        let mut searches = Vec::new();
        let mut no_value = None;
        for (how, value, filter) in [
            (
                "display-name prefix",
                &prefix,
                user_filter
                    .clone()
                    .and(Filter::prefix(&a.display_name, &prefix)),
            ),
            (
                "phone number",
                &phone,
                user_filter.clone().and(Filter::equal(&a.phone, &phone)),
            ),
        ] {
            if value.is_empty() {
                no_value = Some(how);
                break;
            }
            let started = Instant::now();
            let found = limited_search(&mut session, &s.base, &filter, &attrs)
                .await
                .map_err(|e| e.fail(&format!("the search by {how} failed")))?;
            let hit = found
                .entries
                .iter()
                .any(|e| e.dn == me.dn && e.first(&a.display_name).is_some());
            searches.push(Searched {
                how,
                filter: filter.to_string(),
                entries: found.entries.len(),
                hit,
                partial: found.partial,
                took: started.elapsed(),
            });
            if !hit {
                break;
            }
        }
        session.close().await;
        Ok(ContactFacts::Searched {
            name,
            phone,
            searches,
            no_value,
        })
    }
}

/// The searches as the evidence lists them.
fn shown(searches: &[Searched]) -> String {
    searches
        .iter()
        .map(|x| {
            let note = if x.partial {
                format!(
                    " (partial: {} stopped it at {} entries)",
                    whose_limit(x.entries),
                    x.entries
                )
            } else {
                String::new()
            };
            format!(
                "{} {}: {}{note}",
                x.how,
                x.filter,
                if x.hit { "found" } else { "NOT found" }
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// `ldap.contact-search`'s verdict on `uid`.
pub(crate) fn judge_contact_search(uid: &str, facts: ContactFacts, task: &str) -> Outcome {
    let (name, phone, searches, no_value) = match facts {
        ContactFacts::NotFound => {
            return Outcome::fail(
                format!("{uid} is not visible to the service account"),
                "See ldap.sync and ldap.user-auth",
            )
        }
        ContactFacts::Searched {
            name,
            phone,
            searches,
            no_value,
        } => (name, phone, searches, no_value),
    };
    if let Some(miss) = searches.iter().find(|x| !x.hit) {
        let seen = shown(&searches);
        return if miss.partial {
            Outcome::warn(
                format!("a contact search by {} ({}) returns {} entries, cut by {}, and {uid} is not among them: Jabber shows the same partial list", miss.how, miss.filter, miss.entries, whose_limit(miss.entries)),
                format!("Users find this contact only with a more specific search; raise the directory's size limit for the IM&P account if Jabber users need wider results{task}"),
            )
        } else {
            Outcome::fail(
                format!("a contact search by {} ({}) does not return {uid}", miss.how, miss.filter),
                format!("Check the attribute mapping and the indexes of the directory (contact search in Jabber){task}"),
            )
        }
        .with("searches", seen);
    }
    if let Some(how) = no_value {
        return Outcome::fail(
            format!("{uid} has no {how} to search by"),
            "See ldap.mapping",
        );
    }
    let partial: Vec<&str> = searches
        .iter()
        .filter(|x| x.partial)
        .map(|x| x.how)
        .collect();
    let note = if partial.is_empty() {
        String::new()
    } else {
        format!(
            "; the search by {} returned partial results (a size limit), as Jabber shows them",
            partial.join(" and by ")
        )
    };
    let worst = searches.iter().map(|x| x.took).max().unwrap_or_default();
    Outcome::pass(format!(
        "searches by name prefix and by phone find {uid} ({name}, {phone}){note}"
    ))
    .with("searches", shown(&searches))
    .with("size_limit", CONTACT_SEARCH_LIMIT.to_string())
    .metric("search_ms", imp_verify_core::ms(worst))
}

pub(crate) async fn check_contact_search(
    c: &LdapCtx,
    uid: &str,
    cx: CheckCtx,
    key: CheckKey,
) -> Outcome {
    let task = cx.cite(&[Task::LdapClients, Task::LdapForJabber]);
    let server = c.serving();
    match c.observe_contacts(uid, &Steps::of(&cx, &key)).await {
        Ok(facts) => judge_contact_search(uid, facts, &task),
        Err(o) => o,
    }
    .with("server", &server.url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use imp_verify_core::Status;

    fn searched(how: &'static str, entries: usize, hit: bool, partial: bool) -> Searched {
        Searched {
            how,
            filter: format!("(f-{how})"),
            entries,
            hit,
            partial,
            took: Duration::from_millis(3),
        }
    }

    fn facts(searches: Vec<Searched>, no_value: Option<&'static str>) -> ContactFacts {
        ContactFacts::Searched {
            name: "Alice Liddell".into(),
            phone: "+1 408 555 0101".into(),
            searches,
            no_value,
        }
    }

    #[test]
    fn both_searches_finding_the_user_pass_noting_partial_results() {
        let o = judge_contact_search(
            "alice",
            facts(
                vec![
                    searched("display-name prefix", 2, true, true),
                    searched("phone number", 1, true, false),
                ],
                None,
            ),
            " (task C.6)",
        );
        assert_eq!(o.status, Status::Pass, "{}", o.message);
        assert!(
            o.message
                .contains("the search by display-name prefix returned partial results"),
            "{}",
            o.message
        );
        assert!(o.evidence.iter().any(|(k, v)| k == "searches"
            && v.contains("partial: the server's size limit stopped it at 2 entries")));
    }

    #[test]
    fn a_miss_fails_unless_a_limit_cut_the_search_then_it_warns() {
        let o = judge_contact_search(
            "alice",
            facts(vec![searched("display-name prefix", 3, false, false)], None),
            "",
        );
        assert_eq!(o.status, Status::Fail);
        assert!(
            o.message
                .starts_with("a contact search by display-name prefix"),
            "{}",
            o.message
        );
        let o = judge_contact_search(
            "alice",
            facts(vec![searched("display-name prefix", 50, false, true)], None),
            "",
        );
        assert_eq!(o.status, Status::Warn);
        assert!(
            o.message
                .contains("cut by the client's size limit, as Jabber's"),
            "{}",
            o.message
        );
        let o = judge_contact_search(
            "alice",
            facts(
                vec![searched("display-name prefix", 2, true, false)],
                Some("phone number"),
            ),
            "",
        );
        assert_eq!(o.message, "alice has no phone number to search by");
        let o = judge_contact_search("alice", ContactFacts::NotFound, "");
        assert_eq!(o.message, "alice is not visible to the service account");
    }
}
