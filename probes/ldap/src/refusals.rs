//! What the directory must refuse (issue 22): a simple bind in cleartext
//! (`ldap.cleartext-bind`, found with a DN that does not exist and a made-up password,
//! never a credential of the spec), anonymous reads of the people
//! (`ldap.anonymous-read`), and writes by the service account (`ldap.read-only`, found
//! with a modify that cannot succeed whatever the rights: adding the value its entry's
//! RDN already has, which the protocol refuses as attributeOrValueExists; a server
//! checks the rights first, so insufficientAccessRights says the account may not write).

use crate::client::search::Item;
use crate::client::{Io, Limits, WireError};
use crate::codes::{Refusal, ResultCode};
use crate::error::LdapError;
use crate::session::{task_labels, LdapCtx, ServiceBind, Session, Steps};
use crate::wire::message::{Request, SearchRequest};
use crate::wire::{Filter, Op, Scope};
use imp_verify_core::spec::{LdapSecurity, LdapServer, Workflow};
use imp_verify_core::{CheckCtx, CheckKey, Outcome, Stage};
use std::net::SocketAddr;

/// The plain LDAP endpoint of a server: its own for StartTLS and cleartext, the
/// standard port 389 of its host for LDAPS.
pub(crate) fn cleartext_endpoint(server: &LdapServer) -> (String, u16) {
    match server.security {
        LdapSecurity::Ldaps => (server.host.clone(), 389),
        LdapSecurity::StartTls | LdapSecurity::Cleartext => (server.host.clone(), server.port),
    }
}

/// What a cleartext simple bind with made-up credentials got.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum CleartextFacts {
    /// Nothing listens there.
    NoListener,
    /// The server answered the bind.
    Answered(Refusal),
    /// The server accepted the made-up bind (success): it takes any password.
    Accepted,
    /// No answer to judge.
    Failed(String),
}

/// A made-up value no directory holds: a DN's name, a password.
fn made_up() -> String {
    use std::hash::{BuildHasher, Hash, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    std::time::Instant::now().hash(&mut h);
    std::process::id().hash(&mut h);
    format!("{:016x}", h.finish())
}

pub(crate) async fn observe_cleartext(
    c: &LdapCtx,
    host: &str,
    port: u16,
    steps: &Steps,
) -> CleartextFacts {
    steps.enter(Stage::Resolve);
    let ip = match imp_verify_net::address(c.resolver(), host, host.parse().ok(), steps.deadline)
        .await
    {
        Ok(ip) => ip,
        Err(e) => return CleartextFacts::Failed(e.to_string()),
    };
    steps.enter(Stage::TcpConnect);
    let tcp = match imp_verify_net::connect(SocketAddr::new(ip, port), steps.deadline).await {
        Ok(t) => t,
        Err(imp_verify_net::ConnectError::Connect { .. }) => return CleartextFacts::NoListener,
        Err(e) => return CleartextFacts::Failed(e.to_string()),
    };
    let mut conn = crate::client::Conn::new(
        Io::Plain(tcp),
        Limits::new(64 * 1024),
        c.pool.clone(),
        steps.deadline,
    );
    steps.enter(Stage::LdapBind);
    let dn = format!("cn=imp-verify-probe-{},{}", made_up(), c.ldap().base);
    let password = made_up();
    let request = Request::SimpleBind {
        dn: &dn,
        password: password.as_bytes(),
    };
    let answer = async {
        let id = conn.send(&request, &[]).await?;
        conn.answer(id).await
    }
    .await;
    conn.close().await;
    match answer.map(|m| m.op) {
        Ok(Op::Bind(r)) => {
            Refusal::of(&r).map_or(CleartextFacts::Accepted, CleartextFacts::Answered)
        }
        Ok(_) => CleartextFacts::Failed(WireError::Unexpected.to_string()),
        Err(e) => CleartextFacts::Failed(steps.wire(e).to_string()),
    }
}

/// The settings that require TLS for simple binds, in each directory's terms.
const REQUIRE_TLS: &str = "OpenLDAP: `security simple_bind=128` (or olcSecurity); 389 Directory Server: nsslapd-require-secure-binds: on; Active Directory: require LDAP signing / Samba: ldap server require strong auth = yes";

/// `ldap.cleartext-bind`'s verdict on `host:port`; `allowed` when the spec allows
/// cleartext there.
pub(crate) fn judge_cleartext(
    host: &str,
    port: u16,
    facts: CleartextFacts,
    allowed: bool,
    w: Workflow,
) -> Outcome {
    let (secure, _) = task_labels(w);
    let at = format!("ldap://{host}:{port}");
    let exposed = |how: String| {
        let msg = format!("{at} takes simple binds in cleartext: {how}, so a password sent there travels readable on the network");
        let fix = format!("Require TLS for simple binds ({REQUIRE_TLS}), and use LDAPS or StartTLS in CUCM's and IM&P's LDAP configuration (task {secure})");
        if allowed {
            Outcome::warn(format!("{msg} (the spec allows cleartext there)"), fix)
        } else {
            Outcome::fail(msg, fix)
        }
    };
    let o = match facts {
        CleartextFacts::NoListener => Outcome::pass(format!(
            "nothing listens for cleartext LDAP on {host}:{port}"
        )),
        CleartextFacts::Answered(r) => match r.code {
            ResultCode::ConfidentialityRequired
            | ResultCode::StrongerAuthRequired
            | ResultCode::InappropriateAuthentication
            | ResultCode::UnwillingToPerform => r.evidence(Outcome::pass(format!(
                "{at} refuses a simple bind in cleartext: {}",
                r.code
            ))),
            _ => r.evidence(exposed(format!(
                "a bind with a made-up DN and password was judged on its credentials ({})",
                r.code
            ))),
        },
        CleartextFacts::Accepted => {
            exposed("a bind with a made-up DN and password succeeded".into())
        }
        CleartextFacts::Failed(e) => Outcome::fail(
            format!("{at}: {e}"),
            format!("Check that {host}:{port} is the directory's LDAP port (task {secure})"),
        ),
    };
    o.with("endpoint", &at)
        .with("sent", "a simple bind with a DN that does not exist and a made-up password (no credential of the spec)")
}

pub(crate) async fn check_cleartext(
    c: &LdapCtx,
    host: String,
    port: u16,
    allowed: bool,
    cx: CheckCtx,
    key: CheckKey,
) -> Outcome {
    let facts = observe_cleartext(c, &host, port, &Steps::of(&cx, &key)).await;
    judge_cleartext(&host, port, facts, allowed, c.spec.workflow)
}

/// What an anonymous search under the base returned.
#[derive(Debug, Clone)]
pub(crate) enum AnonymousFacts {
    /// Entries under the base (their DNs, at most two).
    Read(Vec<String>),
    /// None (refused, or nothing readable).
    Nothing(Option<Refusal>),
    /// No answer to judge.
    Failed(LdapError),
}

pub(crate) async fn observe_anonymous(c: &LdapCtx, i: usize, steps: &Steps) -> AnonymousFacts {
    let s = c.ldap();
    let mut session = match c.open(&s.servers[i], steps).await {
        Ok(s) => s,
        Err(e) => return AnonymousFacts::Failed(e),
    };
    let facts = anonymous_search(&mut session, &s.base).await;
    session.close().await;
    facts.unwrap_or_else(AnonymousFacts::Failed)
}

async fn anonymous_search(session: &mut Session, base: &str) -> Result<AnonymousFacts, LdapError> {
    let steps = session.steps.clone();
    let everything = Filter::everything();
    let request = SearchRequest {
        base,
        scope: Scope::Subtree,
        filter: &everything,
        attrs: &["1.1"],
        size_limit: 3,
        time_limit: 0,
    };
    let mut search = session.search(request, &[], 3).await?;
    let mut read = Vec::new();
    loop {
        match search.next().await.map_err(|e| steps.wire(e))? {
            Item::Entry(e) if !e.dn.eq_ignore_ascii_case(base) => read.push(e.dn),
            Item::Entry(_) | Item::Reference(_) => {}
            Item::Done(r, _) => {
                return Ok(if read.is_empty() {
                    AnonymousFacts::Nothing(
                        Refusal::of(&r).filter(|x| x.code != ResultCode::SizeLimitExceeded),
                    )
                } else {
                    AnonymousFacts::Read(read)
                })
            }
            Item::Stopped => return Ok(AnonymousFacts::Read(read)),
        }
    }
}

pub(crate) fn judge_anonymous(
    server: &LdapServer,
    base: &str,
    facts: AnonymousFacts,
    w: Workflow,
) -> Outcome {
    let (secure, _) = task_labels(w);
    match facts {
        AnonymousFacts::Read(dns) => Outcome::fail(
            format!("{}: an anonymous client reads the entries under {base} ({}...)", server.url, dns.join(", ")),
            format!("Refuse anonymous reads of the directory: OpenLDAP `by anonymous auth` / `by * none` in the access rule of {base}; 389 Directory Server: remove the anonymous read ACI (or nsslapd-allow-anonymous-access: off); Active Directory: keep anonymous access off (dSHeuristics) (task {secure})"),
        )
        .with("read_anonymously", dns.join("; ")),
        AnonymousFacts::Nothing(r) => {
            let how = match &r {
                Some(r) => format!("the search is refused: {}", r.describe()),
                None => "the search returns no entry".to_string(),
            };
            Outcome::pass(format!("{}: an anonymous client reads nothing under {base} ({how})", server.url))
        }
        AnonymousFacts::Failed(e) => e.fail(&format!("{}: the anonymous search", server.url), format!("See ldap.connect (task {secure})")),
    }
    .with("server", &server.url)
}

pub(crate) async fn check_anonymous(c: &LdapCtx, i: usize, cx: CheckCtx, key: CheckKey) -> Outcome {
    let facts = observe_anonymous(c, i, &Steps::of(&cx, &key)).await;
    judge_anonymous(&c.ldap().servers[i], &c.ldap().base, facts, c.spec.workflow)
}

/// The attribute and value of a DN's first RDN (`cn`, `impverify-svc`), escapes undone.
pub(crate) fn first_rdn(dn: &str) -> Option<(String, String)> {
    let mut rdn = String::new();
    let mut chars = dn.chars();
    while let Some(ch) = chars.next() {
        match ch {
            '\\' => rdn.extend(chars.next()),
            ',' | '+' => break,
            c => rdn.push(c),
        }
    }
    let (attr, value) = rdn.split_once('=')?;
    Some((attr.trim().to_string(), value.trim().to_string()))
}

/// What the modify that cannot succeed got.
#[derive(Debug, Clone)]
pub(crate) enum WriteFacts {
    /// The server's answer to the modify.
    Answered(Refusal),
    /// It succeeded (it cannot, short of a broken server).
    Succeeded,
    /// The service account did not bind; nothing was asked.
    NotBound(String),
    /// No answer to judge.
    Failed(LdapError),
}

pub(crate) async fn observe_write(c: &LdapCtx, i: usize, steps: &Steps) -> WriteFacts {
    let s = c.ldap();
    let Some((attr, value)) = first_rdn(&s.bind_dn) else {
        return WriteFacts::NotBound(format!("the bind DN {} has no RDN to read", s.bind_dn));
    };
    let mut session = match c.bind_service(&s.servers[i], steps).await {
        Ok(ServiceBind::Bound(session, _)) => session,
        Ok(ServiceBind::Refused(r)) => return WriteFacts::NotBound(r.describe()),
        Ok(ServiceBind::NotSent(r)) => return WriteFacts::NotBound(r.words),
        Err(e) => return WriteFacts::Failed(e),
    };
    let answer = session.modify_add(&s.bind_dn, &attr, &value).await;
    session.close().await;
    match answer {
        Ok(r) => Refusal::of(&r).map_or(WriteFacts::Succeeded, WriteFacts::Answered),
        Err(e) => WriteFacts::Failed(e),
    }
}

pub(crate) fn judge_write(
    server: &LdapServer,
    dn: &str,
    facts: WriteFacts,
    w: Workflow,
) -> Outcome {
    let (secure, _) = task_labels(w);
    let tighten = format!("Give the service account {dn} read access only: CUCM's directory sync and IM&P's LDAP authentication never write (OpenLDAP: `by dn.exact=\"{dn}\" read` in the access rules; 389 Directory Server: an ACI granting read, search and compare only; Active Directory: no write or full-control delegation to the account) (task {secure})");
    match facts {
        WriteFacts::Answered(r) if r.code == ResultCode::InsufficientAccessRights => r.evidence(Outcome::pass(format!(
            "{}: the service account may not write its own entry ({}): read-only",
            server.url, r.code
        ))),
        WriteFacts::Answered(r) => r.evidence(Outcome::warn(
            format!("{}: the service account could write: a modify of its own entry that cannot succeed was refused for what it asked ({}), not for the account's rights", server.url, r.describe()),
            tighten,
        )),
        WriteFacts::Succeeded => Outcome::warn(
            format!("{}: the service account could write: the directory accepted adding a value its entry already has", server.url),
            tighten,
        ),
        WriteFacts::NotBound(why) => Outcome::fail(
            format!("{}: the service account's rights were not asked: {why}", server.url),
            format!("See ldap.bind (task {secure})"),
        ),
        WriteFacts::Failed(e) => e.fail(&format!("{}: the modify", server.url), format!("Check the directory server (task {secure})")),
    }
    .with("server", &server.url)
    .with("sent", "a modify adding to the service account's own entry the value its RDN already has (refused whatever the rights: attributeOrValueExists)")
}

pub(crate) async fn check_write(c: &LdapCtx, i: usize, cx: CheckCtx, key: CheckKey) -> Outcome {
    let facts = observe_write(c, i, &Steps::of(&cx, &key)).await;
    judge_write(
        &c.ldap().servers[i],
        &c.ldap().bind_dn,
        facts,
        c.spec.workflow,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use imp_verify_core::Status;

    fn refusal(code: u32) -> Refusal {
        Refusal {
            code: ResultCode::from_u32(code),
            ad: None,
            diagnostic: String::new(),
            referrals: vec![],
        }
    }

    #[test]
    fn a_cleartext_bind_must_be_refused_before_the_credentials_are_judged() {
        let o = judge_cleartext(
            "ldap.x",
            389,
            CleartextFacts::Answered(refusal(13)),
            false,
            Workflow::A,
        );
        assert_eq!(o.status, Status::Pass, "{}", o.message);
        assert_eq!(
            o.message,
            "ldap://ldap.x:389 refuses a simple bind in cleartext: confidentialityRequired (13)"
        );
        let o = judge_cleartext(
            "ldap.x",
            389,
            CleartextFacts::Answered(refusal(49)),
            false,
            Workflow::A,
        );
        assert_eq!(o.status, Status::Fail);
        assert!(
            o.message
                .contains("judged on its credentials (invalidCredentials (49))"),
            "{}",
            o.message
        );
        assert!(o
            .remediation
            .as_deref()
            .unwrap()
            .contains("simple_bind=128"));
        let o = judge_cleartext(
            "ldap.x",
            389,
            CleartextFacts::Answered(refusal(49)),
            true,
            Workflow::A,
        );
        assert_eq!(o.status, Status::Warn);
        let o = judge_cleartext(
            "ldap.x",
            389,
            CleartextFacts::NoListener,
            false,
            Workflow::A,
        );
        assert_eq!(o.status, Status::Pass);
    }

    #[test]
    fn the_service_account_is_read_only_when_the_rights_refuse_the_modify() {
        let s = crate::testing::spec("userid@domain", "mail")
            .ldap
            .unwrap()
            .servers;
        let o = judge_write(
            &s[0],
            "cn=svc",
            WriteFacts::Answered(refusal(50)),
            Workflow::A,
        );
        assert_eq!(o.status, Status::Pass);
        assert!(
            o.message
                .ends_with("insufficientAccessRights (50)): read-only"),
            "{}",
            o.message
        );
        let o = judge_write(
            &s[0],
            "cn=svc",
            WriteFacts::Answered(refusal(20)),
            Workflow::A,
        );
        assert_eq!(o.status, Status::Warn);
        assert!(o
            .remediation
            .as_deref()
            .unwrap()
            .contains("by dn.exact=\"cn=svc\" read"));
        let o = judge_anonymous(
            &s[0],
            "ou=p",
            AnonymousFacts::Read(vec!["uid=a,ou=p".into()]),
            Workflow::A,
        );
        assert_eq!(o.status, Status::Fail);
        let o = judge_anonymous(&s[0], "ou=p", AnonymousFacts::Nothing(None), Workflow::A);
        assert_eq!(o.status, Status::Pass);
    }

    #[test]
    fn the_rdn_of_a_dn() {
        assert_eq!(
            first_rdn("cn=impverify-svc,ou=services,dc=lab"),
            Some(("cn".into(), "impverify-svc".into()))
        );
        assert_eq!(
            first_rdn("CN=Svc\\, Sync,OU=x"),
            Some(("CN".into(), "Svc, Sync".into()))
        );
        assert_eq!(first_rdn("nonsense"), None);
    }
}
