//! `ldap.contact-search`: the searches Jabber makes (by display-name prefix, by phone
//! number), each with Jabber's size limit; a server that stops at its size limit gives
//! partial results, which Jabber shows as they are.

use crate::codes::{Refusal, ResultCode};
use crate::directory::first;
use crate::session::{only_entries, parse_entry, Ctx, Session, SessionError};
use imp_verify_core::{CheckCtx, Outcome};
use ldap3::{Scope, SearchEntry, SearchOptions};
use std::time::{Duration, Instant};

/// The most entries a contact search asks for (Jabber asks for few).
pub const CONTACT_SEARCH_LIMIT: i32 = 50;

/// One search's result: the entries and whether a size limit cut it.
struct Found {
    entries: Vec<SearchEntry>,
    partial: bool,
}

impl Found {
    /// Whose limit cut the search: the check's own (Jabber's) when it got that many.
    fn whose_limit(&self) -> &'static str {
        if self.entries.len() >= CONTACT_SEARCH_LIMIT as usize {
            "the client's size limit, as Jabber's"
        } else {
            "the server's size limit"
        }
    }
}

/// A search with the contact-search limits (set again for each search: ldap3's search
/// options apply to the next operation only).
async fn limited_search(
    session: &mut Session,
    base: &str,
    filter: &str,
    attrs: &[&str],
    budget: Duration,
) -> Result<Found, String> {
    session.ldap.with_search_options(
        SearchOptions::new()
            .sizelimit(CONTACT_SEARCH_LIMIT)
            .timelimit(budget.as_secs().max(1) as i32),
    );
    let r = session
        .ldap
        .search(base, Scope::Subtree, filter, attrs.to_vec())
        .await
        .map_err(|e| session.error(&e).to_string())?;
    let partial = match Refusal::of(&r.1) {
        None => false,
        Some(x) if x.code == ResultCode::SizeLimitExceeded => true,
        Some(x) => return Err(x.describe()),
    };
    let mut entries = Vec::new();
    for raw in only_entries(r.0) {
        entries.push(parse_entry(raw).ok_or_else(|| SessionError::Undecodable.to_string())?);
    }
    Ok(Found { entries, partial })
}

pub(crate) async fn check_contact_search(c: &Ctx, uid: &str, cx: CheckCtx) -> Outcome {
    let task = cx.cite(&[
        imp_verify_core::catalog::Task::LdapClients,
        imp_verify_core::catalog::Task::LdapForJabber,
    ]);
    let task = task.as_str();
    let s = c.ldap();
    let a = &s.attributes;
    let budget = cx.budget();
    let server = &s.servers[0];
    let run = async {
        let mut session = c.bound(server, budget, &cx.auth).await?;
        let attrs = [
            a.user_id.as_str(),
            a.display_name.as_str(),
            a.phone.as_str(),
            a.mail.as_str(),
        ];
        let own = format!(
            "(&{}({}={}))",
            s.user_filter,
            a.user_id,
            ldap3::ldap_escape(uid)
        );
        let me = limited_search(&mut session, &s.base, &own, &attrs, budget)
            .await
            .map_err(|e| {
                Outcome::fail(
                    format!("looking {uid} up failed: {e}"),
                    "Check the directory",
                )
            })?
            .entries
            .into_iter()
            .next()
            .ok_or_else(|| {
                Outcome::fail(format!("{uid} is not in the directory"), "See ldap.sync")
            })?;
        let name = first(&me, &a.display_name).unwrap_or_default().to_string();
        let phone = first(&me, &a.phone).unwrap_or_default().to_string();
        let prefix: String = name.chars().take(3).collect();
        let mut seen = Vec::new();
        let mut partial = Vec::new();
        let mut worst = Duration::ZERO;
        for (how, value, filter) in [
            (
                "display-name prefix",
                &prefix,
                format!(
                    "(&{}({}={}*))",
                    s.user_filter,
                    a.display_name,
                    ldap3::ldap_escape(&prefix)
                ),
            ),
            (
                "phone number",
                &phone,
                format!(
                    "(&{}({}={}))",
                    s.user_filter,
                    a.phone,
                    ldap3::ldap_escape(&phone)
                ),
            ),
        ] {
            if value.is_empty() {
                return Err(Outcome::fail(
                    format!("{uid} has no {how} to search by"),
                    "See ldap.mapping",
                ));
            }
            let started = Instant::now();
            let found = limited_search(&mut session, &s.base, &filter, &attrs, budget)
                .await
                .map_err(|e| {
                    Outcome::fail(
                        format!("the search by {how} failed: {e}"),
                        "Check the directory",
                    )
                })?;
            worst = worst.max(started.elapsed());
            let hit = found
                .entries
                .iter()
                .any(|e| e.dn == me.dn && first(e, &a.display_name).is_some());
            let note = if found.partial {
                partial.push(how);
                format!(
                    " (partial: {} stopped it at {} entries)",
                    found.whose_limit(),
                    found.entries.len()
                )
            } else {
                String::new()
            };
            seen.push(format!(
                "{how} {filter}: {}{note}",
                if hit { "found" } else { "NOT found" }
            ));
            if !hit && found.partial {
                return Err(Outcome::warn(
                    format!("a contact search by {how} ({filter}) returns {} entries, cut by {}, and {uid} is not among them: Jabber shows the same partial list", found.entries.len(), found.whose_limit()),
                    format!("Users find this contact only with a more specific search; raise the directory's size limit for the IM&P account if Jabber users need wider results{task}"),
                )
                .with("searches", seen.join("; ")));
            }
            if !hit {
                return Err(Outcome::fail(
                    format!("a contact search by {how} ({filter}) does not return {uid}"),
                    format!("Check the attribute mapping and the indexes of the directory (contact search in Jabber){task}"),
                )
                .with("searches", seen.join("; ")));
            }
        }
        session.close().await;
        Ok((name, phone, seen, partial, worst))
    };
    match tokio::time::timeout(budget, run).await {
        Ok(Ok((name, phone, seen, partial, worst))) => {
            let note = if partial.is_empty() {
                String::new()
            } else {
                format!(
                    "; the search by {} returned partial results (a size limit), as Jabber shows them",
                    partial.join(" and by ")
                )
            };
            Outcome::pass(format!(
                "searches by name prefix and by phone find {uid} ({name}, {phone}){note}"
            ))
            .with("searches", seen.join("; "))
            .with("size_limit", CONTACT_SEARCH_LIMIT.to_string())
            .metric("search_ms", imp_verify_core::ms(worst))
        }
        Ok(Err(o)) => o,
        Err(_) => Outcome::fail(
            format!("the contact searches took longer than {} ms", budget.as_millis()),
            format!("Check the directory's indexes and load{task}"),
        ),
    }
    .with("server", &server.url)
}
