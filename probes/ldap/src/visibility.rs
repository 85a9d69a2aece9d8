//! What the service account can see, when a search of it returns nothing. Servers hide
//! whether an entry is missing or unreadable (OpenLDAP answers both with noSuchObject;
//! others with success and no entry), so a search that finds nothing is not absence:
//! read-only searches of one or two entries tell which of three things holds — the base
//! is missing or unreadable, the account may read nothing under it, or the filter
//! matches nothing the account may read — and the fix names the read rights as well as
//! the filter.

use crate::client::search::Item;
use crate::codes::Refusal;
use crate::error::LdapError;
use crate::session::Session;
use crate::wire::message::SearchRequest;
use crate::wire::{Filter, Scope};

/// What a base-scope read of the base showed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum BaseSeen {
    /// The base entry was returned.
    Readable,
    /// Success, and no entry: the server hides it from the account.
    Hidden,
    /// A refusal (noSuchObject: missing, or not visible to the account), and the
    /// deepest entry the server said it matched (OpenLDAP names the parent of a base
    /// that does not exist, and nothing for one the account may not see).
    Refused(Refusal, String),
}

/// What the service account can see of the base.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Visibility {
    /// The base entry itself.
    pub base: BaseSeen,
    /// Whether any entry under the base (not the base itself) is readable.
    pub anything: bool,
}

/// Which of the three holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Finding {
    /// The base is missing or unreadable.
    BaseMissingOrUnreadable,
    /// The account may read nothing under the base.
    NothingReadable,
    /// The filter matches nothing the account may read.
    FilterMatchesNothing,
}

impl Visibility {
    /// Which finding holds.
    pub fn finding(&self) -> Finding {
        match (&self.base, self.anything) {
            (BaseSeen::Refused(..) | BaseSeen::Hidden, false) => Finding::BaseMissingOrUnreadable,
            (_, false) => Finding::NothingReadable,
            (_, true) => Finding::FilterMatchesNothing,
        }
    }

    /// The finding in words, for `base` and `filter`.
    pub fn words(&self, base: &str, filter: &str) -> String {
        match self.finding() {
            Finding::BaseMissingOrUnreadable => match &self.base {
                BaseSeen::Refused(r, matched) if !matched.is_empty() => format!("the search base {base} is missing or unreadable for the service account ({}; the server matched {matched})", r.describe()),
                BaseSeen::Refused(r, _) => format!("the search base {base} is missing or unreadable for the service account ({})", r.describe()),
                _ => format!("the search base {base} is unreadable for the service account (a read of it answers success with no entry)"),
            },
            Finding::NothingReadable => format!("the service account may read nothing under {base}"),
            Finding::FilterMatchesNothing => format!("the user filter {filter} matches nothing the service account may read under {base}"),
        }
    }
}

/// The read rights to check, in each directory's terms.
pub(crate) fn read_rights(base: &str, bind_dn: &str) -> String {
    format!("give the service account {bind_dn} read access to the entries under {base} (OpenLDAP: an `access to dn.subtree=\"{base}\" by dn.exact=\"{bind_dn}\" read` ACL; 389 Directory Server / Oracle: a read and search ACI; Active Directory: the delegated Read permission on the OU)")
}

/// The fix for `finding`.
pub(crate) fn fix(finding: Finding, base: &str, bind_dn: &str, task: &str) -> String {
    let rights = read_rights(base, bind_dn);
    match finding {
        Finding::BaseMissingOrUnreadable => format!("Correct the search base of the synchronization agreement on CUCM if it is wrong; if it is right, {rights} (task {task})"),
        Finding::NothingReadable => format!("The base is there but the service account sees no entry under it: {rights} (task {task})"),
        Finding::FilterMatchesNothing => format!("Correct the user filter of the synchronization agreement; if the users are there, {rights} (task {task})"),
    }
}

/// One read-only search taking at most two entries: whether it returned one other than
/// `base` itself (or, for a base-scope search, any), and its refusal with the matched DN.
async fn one(
    session: &mut Session,
    base: &str,
    scope: Scope,
) -> Result<(bool, Option<(Refusal, String)>), LdapError> {
    let steps = session.steps.clone();
    let everything = Filter::everything();
    let request = SearchRequest {
        base,
        scope,
        filter: &everything,
        attrs: &["1.1"],
        size_limit: 2,
        time_limit: 0,
    };
    let mut search = session.search(request, &[], 2).await?;
    let mut found = false;
    loop {
        match search.next().await.map_err(|e| steps.wire(e))? {
            Item::Entry(e) => found |= scope == Scope::Base || !e.dn.eq_ignore_ascii_case(base),
            Item::Reference(_) => {}
            // A size limit (of 2, or the server's) ended it: what was seen stands.
            Item::Done(r, _) if r.code == 4 => return Ok((found, None)),
            Item::Done(r, _) => return Ok((found, Refusal::of(&r).map(|x| (x, r.matched_dn)))),
            Item::Stopped => return Ok((true, None)),
        }
    }
}

/// How a base-scope read of `base` went.
pub(crate) async fn observe_base(session: &mut Session, base: &str) -> Result<BaseSeen, LdapError> {
    Ok(match one(session, base, Scope::Base).await? {
        (_, Some((r, matched))) => BaseSeen::Refused(r, matched),
        (true, None) => BaseSeen::Readable,
        (false, None) => BaseSeen::Hidden,
    })
}

/// What the account can see of `base`, its base read already known.
pub(crate) async fn observe(
    session: &mut Session,
    base: &str,
    seen: BaseSeen,
) -> Result<Visibility, LdapError> {
    let anything = match seen {
        BaseSeen::Refused(..) => false,
        _ => one(session, base, Scope::Subtree).await?.0,
    };
    Ok(Visibility {
        base: seen,
        anything,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codes::ResultCode;

    #[test]
    fn each_case_is_told_apart_with_its_fix() {
        let missing = Visibility {
            base: BaseSeen::Refused(
                Refusal {
                    code: ResultCode::NoSuchObject,
                    ad: None,
                    diagnostic: String::new(),
                    referrals: vec![],
                },
                String::new(),
            ),
            anything: false,
        };
        assert_eq!(missing.finding(), Finding::BaseMissingOrUnreadable);
        assert_eq!(
            missing.words("ou=people,dc=x", "(uid=*)"),
            "the search base ou=people,dc=x is missing or unreadable for the service account (noSuchObject (32))"
        );
        let hidden = Visibility {
            base: BaseSeen::Hidden,
            anything: false,
        };
        assert!(hidden
            .words("ou=p", "(f)")
            .contains("a read of it answers success with no entry"));
        let nothing = Visibility {
            base: BaseSeen::Readable,
            anything: false,
        };
        assert_eq!(
            nothing.words("ou=p", "(f)"),
            "the service account may read nothing under ou=p"
        );
        let filter = Visibility {
            base: BaseSeen::Readable,
            anything: true,
        };
        assert_eq!(
            filter.words("ou=p", "(f)"),
            "the user filter (f) matches nothing the service account may read under ou=p"
        );
        let f = fix(Finding::NothingReadable, "ou=p", "cn=svc", "C.6");
        assert!(
            f.contains("access to dn.subtree=\"ou=p\" by dn.exact=\"cn=svc\" read")
                && f.contains("ACI")
                && f.contains("delegated Read"),
            "{f}"
        );
    }
}
