//! When a locked account unlocks, where the directory lets the service account read it:
//! OpenLDAP's ppolicy (`pwdAccountLockedTime` on the entry, `pwdLockoutDuration` of its
//! policy), 389 Directory Server's `accountUnlockTime`, Active Directory's `lockoutTime`
//! and the domain's `lockoutDuration`. Read-only searches of one entry each; what cannot
//! be read is said to be unknown, never guessed.

use crate::client::search::Item;
use crate::session::Session;
use crate::wire::message::SearchRequest;
use crate::wire::{Entry, Filter, Scope};

/// When the lock ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockEnd {
    /// At this time (Unix seconds).
    At(i64),
    /// Only when an administrator unlocks the account.
    WhenUnlocked,
    /// The directory does not let the service account read it.
    Unknown,
}

/// What the directory says of an account's lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lock {
    /// Since when (Unix seconds), when readable.
    pub since: Option<i64>,
    /// When it ends.
    pub ends: LockEnd,
}

impl Lock {
    /// The lock in words, relative to `now` (Unix seconds): "until 2026-11-25T16:30:00Z
    /// (in 42 min)".
    pub fn describe(&self, now: i64) -> String {
        let since = self
            .since
            .map(|s| format!(" since {}", imp_verify_net::tls::rfc3339(s)))
            .unwrap_or_default();
        match self.ends {
            LockEnd::At(t) if t > now => format!(
                "locked{since} until {} (in {})",
                imp_verify_net::tls::rfc3339(t),
                minutes(t - now)
            ),
            LockEnd::At(t) => format!(
                "locked{since}; the lock ended at {}",
                imp_verify_net::tls::rfc3339(t)
            ),
            LockEnd::WhenUnlocked => format!("locked{since} until an administrator unlocks it"),
            LockEnd::Unknown => {
                format!("locked{since}; when it ends is not readable by the service account")
            }
        }
    }
}

fn minutes(secs: i64) -> String {
    match secs {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min", s / 60),
        s if s < 86_400 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        s => format!("{} d {} h", s / 86_400, s % 86_400 / 3600),
    }
}

/// Unix seconds of an LDAP GeneralizedTime (`20261125153000Z`, fractions ignored);
/// `None` for anything else.
pub fn generalized_time(t: &str) -> Option<i64> {
    let d = t.get(..14)?;
    if !d.bytes().all(|b| b.is_ascii_digit()) || !t.ends_with('Z') {
        return None;
    }
    let n = |r: std::ops::Range<usize>| d[r].parse::<i64>().ok();
    let (y, mo, day) = (n(0..4)?, n(4..6)?, n(6..8)?);
    let (h, mi, s) = (n(8..10)?, n(10..12)?, n(12..14)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&day) {
        return None;
    }
    // Days from the civil date (H. Hinnant's algorithm).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if mo > 2 { mo - 3 } else { mo + 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + mi * 60 + s)
}

/// Unix seconds of an Active Directory FILETIME (100 ns since 1601).
fn filetime(v: i64) -> i64 {
    v / 10_000_000 - 11_644_473_600
}

/// One entry by DN with `attrs`, if readable.
async fn read(session: &mut Session, dn: &str, attrs: &[&str]) -> Option<Entry> {
    let steps = session.steps.clone();
    let everything = Filter::everything();
    let request = SearchRequest {
        base: dn,
        scope: Scope::Base,
        filter: &everything,
        attrs,
        size_limit: 1,
        time_limit: 0,
    };
    let mut search = session.search(request, &[], 1).await.ok()?;
    let mut found = None;
    loop {
        match search.next().await.map_err(|e| steps.wire(e)).ok()? {
            Item::Entry(e) => found = Some(e),
            Item::Reference(_) => {}
            Item::Done(..) | Item::Stopped => return found,
        }
    }
}

/// The password policies under `suffix` (`(objectClass=pwdPolicy)`), when exactly one
/// is readable: the one that applies to entries without a `pwdPolicySubentry`.
async fn only_policy(session: &mut Session, suffix: &str) -> Option<Entry> {
    let steps = session.steps.clone();
    let filter = Filter::equal("objectClass", "pwdPolicy");
    let request = SearchRequest {
        base: suffix,
        scope: Scope::Subtree,
        filter: &filter,
        attrs: &["pwdLockoutDuration"],
        size_limit: 2,
        time_limit: 0,
    };
    let mut search = session.search(request, &[], 2).await.ok()?;
    let mut found = Vec::new();
    loop {
        match search.next().await.map_err(|e| steps.wire(e)).ok()? {
            Item::Entry(e) => found.push(e),
            Item::Reference(_) => {}
            Item::Done(..) | Item::Stopped => break,
        }
    }
    (found.len() == 1).then(|| found.remove(0))
}

/// The DN made of `dn`'s trailing `DC=` components (the domain, or the suffix).
fn domain_of(dn: &str) -> String {
    let parts: Vec<&str> = dn.split(',').map(str::trim).collect();
    let start = parts
        .iter()
        .position(|p| p.len() > 3 && p[..3].eq_ignore_ascii_case("dc="))
        .unwrap_or(parts.len());
    parts[start..].join(",")
}

/// What the directory lets `session` (the service account) read of the lock of `dn`.
pub(crate) async fn observe(session: &mut Session, dn: &str) -> Lock {
    let attrs = [
        "pwdAccountLockedTime",
        "pwdPolicySubentry",
        "accountUnlockTime",
        "lockoutTime",
    ];
    let Some(e) = read(session, dn, &attrs).await else {
        return Lock {
            since: None,
            ends: LockEnd::Unknown,
        };
    };
    if let Some(t) = e.first("accountUnlockTime").and_then(generalized_time) {
        return Lock {
            since: None,
            ends: LockEnd::At(t),
        };
    }
    if let Some(locked) = e.first("pwdAccountLockedTime") {
        // 000001010000Z: locked by an administrator, for good.
        if locked.starts_with("000001010000") {
            return Lock {
                since: None,
                ends: LockEnd::WhenUnlocked,
            };
        }
        let since = generalized_time(locked);
        let policy = match e.first("pwdPolicySubentry") {
            Some(p) => read(session, p, &["pwdLockoutDuration"]).await,
            None => only_policy(session, &domain_of(dn)).await,
        };
        let duration = policy.and_then(|p| {
            p.first("pwdLockoutDuration")
                .and_then(|d| d.parse::<i64>().ok())
        });
        let ends = match (since, duration) {
            (_, Some(0)) => LockEnd::WhenUnlocked,
            (Some(s), Some(d)) => LockEnd::At(s + d),
            _ => LockEnd::Unknown,
        };
        return Lock { since, ends };
    }
    if let Some(t) = e
        .first("lockoutTime")
        .and_then(|v| v.parse::<i64>().ok())
        .filter(|t| *t > 0)
    {
        let since = filetime(t);
        let domain = domain_of(dn);
        let duration = read(session, &domain, &["lockoutDuration"])
            .await
            .and_then(|d| {
                d.first("lockoutDuration")
                    .and_then(|v| v.parse::<i64>().ok())
            });
        let ends = match duration {
            Some(i64::MIN) => LockEnd::WhenUnlocked,
            Some(d) if d < 0 => LockEnd::At(since + (-d) / 10_000_000),
            _ => LockEnd::Unknown,
        };
        return Lock {
            since: Some(since),
            ends,
        };
    }
    Lock {
        since: None,
        ends: LockEnd::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_as_directories_write_them() {
        assert_eq!(generalized_time("19700101000000Z"), Some(0));
        assert_eq!(generalized_time("20261125153000Z"), Some(1_795_620_600));
        assert_eq!(
            generalized_time("20261125153000.123456Z"),
            Some(1_795_620_600)
        );
        assert_eq!(generalized_time("2026112515"), None);
        assert_eq!(filetime(116_444_736_000_000_000), 0);
        assert_eq!(
            domain_of("uid=a,ou=people,dc=lab,dc=test"),
            "dc=lab,dc=test"
        );
        assert_eq!(
            domain_of("CN=A B,OU=people,DC=lab,DC=test"),
            "DC=lab,DC=test"
        );
    }

    #[test]
    fn a_lock_says_when_it_ends() {
        let l = Lock {
            since: Some(1_795_620_600),
            ends: LockEnd::At(1_795_620_600 + 3600),
        };
        assert_eq!(
            l.describe(1_795_620_600 + 60),
            "locked since 2026-11-25T15:30:00Z until 2026-11-25T16:30:00Z (in 59 min)"
        );
        let l = Lock {
            since: None,
            ends: LockEnd::WhenUnlocked,
        };
        assert_eq!(l.describe(0), "locked until an administrator unlocks it");
    }
}
