//! imp-verify probe `ldap`: the directory CUCM syncs users from and IM&P authenticates
//! them against (workflow tasks A.3, A.6 and their B/C twins; D.2, D.3).
//!
//! Checks: `ldap.connect` (LDAPS or StartTLS with a verified certificate, per server),
//! `ldap.bind` (the service account, per server), and on the first server:
//! `ldap.base`, `ldap.sync` (the expected users are provisioned), `ldap.mapping`
//! (mapped attributes present, IM addresses valid and unique), `ldap.user-auth` (each
//! test user binds with its own password) and `ldap.contact-search` (a Jabber-style
//! search by name prefix and by phone finds the user).
//!
//! Every connection verifies the server's certificate against the spec's CA bundle;
//! no password is sent over a connection that is not TLS unless the spec allows
//! cleartext for that server explicitly (and then the check warns).

use imp_verify_core::spec::{AddressScheme, LdapSecurity, LdapServer, LdapSpec, Spec, Workflow};
use imp_verify_core::{CheckCtx, CheckKey, Outcome, PerAttempt, PlannedCheck, Probe};
use imp_verify_net::tls::TlsInspector;
use imp_verify_net::Resolver;
use ldap3::adapters::{Adapter, EntriesOnly, PagedResults};
use ldap3::{
    LdapConnAsync, LdapConnSettings, LdapError, Scope, SearchEntry, SearchOptions, StdStream,
};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The name of an LDAP result code (RFC 4511).
pub fn rc_name(rc: u32) -> &'static str {
    match rc {
        0 => "success",
        1 => "operationsError",
        2 => "protocolError",
        3 => "timeLimitExceeded",
        4 => "sizeLimitExceeded",
        7 => "authMethodNotSupported",
        8 => "strongerAuthRequired",
        13 => "confidentialityRequired",
        32 => "noSuchObject",
        34 => "invalidDNSyntax",
        48 => "inappropriateAuthentication",
        49 => "invalidCredentials",
        50 => "insufficientAccessRights",
        51 => "busy",
        52 => "unavailable",
        53 => "unwillingToPerform",
        80 => "other",
        _ => "unknown",
    }
}

/// The tasks of the LDAP integration in the spec's workflow: (secure the LDAP
/// connection, integrate LDAP directory clients incl. LDAP user authentication).
pub fn tasks(w: Workflow) -> (&'static str, &'static str) {
    match w {
        Workflow::A => ("A.3", "A.6"),
        Workflow::B => ("B.3", "B.6"),
        Workflow::C => ("C.3", "C.6"),
        Workflow::D => ("D.2", "D.2"),
    }
}

/// One connection's worth of context.
struct Ctx {
    spec: Arc<Spec>,
    resolver: Resolver,
    config: Result<Arc<rustls::ClientConfig>, String>,
    trust: String,
    /// The first server's directory, read once per attempt by the checks that need it.
    directory: PerAttempt<Result<Directory, Outcome>>,
}

fn ldap_spec(spec: &Spec) -> &LdapSpec {
    spec.ldap
        .as_ref()
        .expect("the ldap probe plans only when the spec has [ldap]")
}

/// Turns an ldap3 error into what happened, in words.
fn describe(e: &LdapError) -> String {
    match e {
        LdapError::LdapResult { result } => format!(
            "{} ({}){}",
            rc_name(result.rc),
            result.rc,
            if result.text.is_empty() {
                String::new()
            } else {
                format!(": {}", result.text)
            }
        ),
        LdapError::Timeout { .. } => "no answer in time".into(),
        other => {
            let t = match other {
                LdapError::Io { source } => format!("connection: {source}"),
                o => o.to_string(),
            };
            if t.contains("UnknownIssuer") {
                format!("the server's certificate is not signed by the deployment's CA ({t})")
            } else if t.contains("NotValidForName") {
                format!("the server's certificate does not name this server ({t})")
            } else if t.contains("Expired") {
                format!("the server's certificate has expired ({t})")
            } else {
                t
            }
        }
    }
}

impl Ctx {
    /// The spec's resolver and its CA's strict TLS configuration.
    fn new(spec: &Arc<Spec>) -> Ctx {
        let inspector = TlsInspector::from_spec(spec);
        Ctx {
            spec: spec.clone(),
            resolver: Resolver::from_spec(spec),
            config: inspector.strict_client_config().map(Arc::new),
            trust: inspector.trust_source.clone(),
            directory: Default::default(),
        }
    }

    /// An LDAP session with `server`, over TLS (LDAPS or StartTLS) verified against the
    /// spec's CA, unless the spec allows cleartext for it.
    async fn session(&self, server: &LdapServer, budget: Duration) -> Result<ldap3::Ldap, String> {
        let ips = match server.host.parse() {
            Ok(ip) => vec![ip],
            Err(_) => self
                .resolver
                .lookup_ip(&server.host)
                .await
                .map_err(|e| format!("cannot resolve {}: {e}", server.host))?,
        };
        let addr = SocketAddr::new(*ips.first().ok_or("no address")?, server.port);
        let tcp = tokio::time::timeout(budget, tokio::net::TcpStream::connect(addr))
            .await
            .map_err(|_| {
                format!(
                    "no TCP connection to {addr} within {} ms",
                    budget.as_millis()
                )
            })?
            .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
        let std = tcp.into_std().map_err(|e| e.to_string())?;
        let mut settings = LdapConnSettings::new()
            .set_conn_timeout(budget)
            .set_std_stream(StdStream::Tcp(std));
        if server.security.is_tls() {
            let config = self.config.clone()?;
            settings = settings
                .set_config(config)
                .set_starttls(server.security == LdapSecurity::StartTls);
        }
        let url = server.connect_url();
        let (conn, mut ldap) = LdapConnAsync::with_settings(settings, &url)
            .await
            .map_err(|e| describe(&e))?;
        ldap3::drive!(conn);
        ldap.with_timeout(budget);
        Ok(ldap)
    }

    async fn bound(&self, server: &LdapServer, budget: Duration) -> Result<ldap3::Ldap, Outcome> {
        let (secure, _) = tasks(self.spec.workflow);
        let ldap_spec = ldap_spec(&self.spec);
        let mut ldap = self.session(server, budget).await.map_err(|e| {
            Outcome::fail(unreachable(e), format!("See ldap.connect (task {secure})"))
        })?;
        let r = ldap
            .simple_bind(&ldap_spec.bind_dn, ldap_spec.password().expose())
            .await
            .map_err(|e| {
                Outcome::fail(
                    format!("the bind was not answered: {}", describe(&e)),
                    format!("Check the directory server (task {secure})"),
                )
            })?;
        if r.rc != 0 {
            return Err(bind_failure(&ldap_spec.bind_dn, r.rc, &r.text, secure));
        }
        Ok(ldap)
    }

    /// The entries the user filter returns under the base, on the first server.
    async fn directory(&self, ctx: &CheckCtx) -> Result<Directory, Outcome> {
        let budget = ctx.timeout.mul_f32(0.8);
        self.directory
            .get_or_init(ctx.attempt, || async {
                match tokio::time::timeout(budget, self.read_directory(budget)).await {
                    Ok(r) => r,
                    Err(_) => Err(Outcome::fail(
                        format!("the directory was not read within {} ms", budget.as_millis()),
                        "Check the directory server's load and the search's size (paged, 500 an page)",
                    )),
                }
            })
            .await
    }

    async fn read_directory(&self, budget: Duration) -> Result<Directory, Outcome> {
        let s = ldap_spec(&self.spec);
        let server = &s.servers[0];
        let mut ldap = self.bound(server, budget).await?;
        let started = Instant::now();
        // The base itself.
        let base = ldap
            .search(&s.base, Scope::Base, "(objectClass=*)", vec!["1.1"])
            .await
            .map_err(|e| {
                Outcome::fail(
                    format!("searching the base {} failed: {}", s.base, describe(&e)),
                    "Check the directory server",
                )
            })?;
        let base_rc = base.1.rc;
        if base_rc != 0 {
            return Ok(Directory {
                base_rc,
                base_text: base.1.text.clone(),
                entries: Vec::new(),
                took: started.elapsed(),
                truncated: false,
            });
        }
        let a = &s.attributes;
        let mut attrs: Vec<String> = vec![
            a.user_id.clone(),
            a.mail.clone(),
            a.directory_uri.clone(),
            a.display_name.clone(),
            a.phone.clone(),
        ];
        attrs.sort();
        attrs.dedup();
        let adapters: Vec<Box<dyn Adapter<_, _>>> = vec![
            Box::new(EntriesOnly::new()),
            Box::new(PagedResults::new(500)),
        ];
        ldap.with_search_options(
            SearchOptions::new()
                .sizelimit(MAX_ENTRIES as i32 + 1)
                .timelimit(budget.as_secs().max(1) as i32),
        );
        let mut stream = ldap
            .streaming_search_with(adapters, &s.base, Scope::Subtree, &s.user_filter, attrs)
            .await
            .map_err(|e| {
                Outcome::fail(
                    format!("the user search failed: {}", describe(&e)),
                    "Check the user filter and the service account's rights",
                )
            })?;
        let mut entries = Vec::new();
        let mut truncated = false;
        loop {
            match stream.next().await {
                Ok(Some(e)) => {
                    if entries.len() >= MAX_ENTRIES {
                        truncated = true;
                        break;
                    }
                    // ldap3 panics on an entry it cannot parse: a hostile server's fault, not ours.
                    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        SearchEntry::construct(e)
                    })) {
                        Ok(entry) => entries.push(entry),
                        Err(_) => {
                            return Err(Outcome::fail(
                                "the server sent an entry that does not parse",
                                "Check the directory server",
                            ))
                        }
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    return Err(Outcome::fail(
                        format!("the user search broke off: {}", describe(&e)),
                        "Check the directory server",
                    ))
                }
            }
        }
        let end = stream.finish().await;
        if end.rc != 0 && end.rc != 4 && !truncated {
            return Err(Outcome::fail(
                format!(
                    "the user search ended with {} ({})",
                    rc_name(end.rc),
                    end.rc
                ),
                "Check the user filter and the service account's rights",
            ));
        }
        let _ = ldap.unbind().await;
        Ok(Directory {
            base_rc,
            base_text: String::new(),
            entries,
            took: started.elapsed(),
            truncated: truncated || end.rc == 4,
        })
    }
}

/// A session that could not be opened, in words ("cannot connect to ..." stays as it is).
fn unreachable(e: String) -> String {
    if e.starts_with("cannot ") || e.starts_with("no ") {
        e
    } else {
        format!("cannot connect: {e}")
    }
}

/// The most entries read for the sync and mapping checks.
pub const MAX_ENTRIES: usize = 100_000;

#[derive(Clone)]
struct Directory {
    base_rc: u32,
    base_text: String,
    entries: Vec<SearchEntry>,
    took: Duration,
    truncated: bool,
}

fn first<'a>(e: &'a SearchEntry, attr: &str) -> Option<&'a str> {
    e.attrs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(attr))
        .and_then(|(_, v)| v.first())
        .map(String::as_str)
}

fn bind_failure(dn: &str, rc: u32, text: &str, task: &str) -> Outcome {
    let (msg, fix) = match rc {
        49 => (
            format!("the bind as {dn} was refused: invalidCredentials (49): the password is wrong, or the DN does not exist (the server does not say which)"),
            format!("Correct the service account's DN and password in the LDAP directory configuration of CUCM and IM&P, and in the spec (task {task})"),
        ),
        32 => (
            format!("the bind DN {dn} does not exist: noSuchObject (32)"),
            format!("Correct the service account's distinguished name (task {task})"),
        ),
        13 | 8 | 48 | 53 => (
            format!("the server refuses the bind: {} ({rc}){}", rc_name(rc), if text.is_empty() { String::new() } else { format!(": {text}") }),
            format!("Use LDAPS or StartTLS, and an account the server lets bind (task {task})"),
        ),
        _ => (
            format!("the bind as {dn} failed: {} ({rc}){}", rc_name(rc), if text.is_empty() { String::new() } else { format!(": {text}") }),
            format!("Check the service account (task {task})"),
        ),
    };
    Outcome::fail(msg, fix)
        .with("bind_dn", dn)
        .with("result_code", format!("{rc} {}", rc_name(rc)))
}

fn server_target(s: &LdapServer) -> String {
    s.url.clone()
}

/// The probe.
pub struct LdapProbe;

impl Probe for LdapProbe {
    fn name(&self) -> &'static str {
        "ldap"
    }

    fn plan(&self, spec: &Arc<Spec>) -> Vec<PlannedCheck> {
        let Some(ldap) = &spec.ldap else {
            return Vec::new();
        };
        let ctx = Arc::new(Ctx::new(spec));
        let mut checks = Vec::new();
        for (i, server) in ldap.servers.iter().enumerate() {
            let target = server_target(server);
            let service = server.security.service().name();
            let port_key = imp_verify_core::keys::services_port(&server.host, server.port, service);
            let c = ctx.clone();
            checks.push(
                PlannedCheck::new("ldap.connect", target.clone(), move |cx| {
                    let c = c.clone();
                    async move { check_connect(&c, i, cx).await }
                })
                .after(port_key),
            );
            let c = ctx.clone();
            checks.push(
                PlannedCheck::new("ldap.bind", target.clone(), move |cx| {
                    let c = c.clone();
                    async move { check_bind(&c, i, cx).await }
                })
                .after(CheckKey::new("ldap.connect", target.clone())),
            );
        }
        let first_bind = CheckKey::new("ldap.bind", server_target(&ldap.servers[0]));
        let base = ldap.base.clone();
        for (id, f) in [
            ("ldap.base", check_base as fn(&Ctx, Directory) -> Outcome),
            ("ldap.sync", check_sync),
            ("ldap.mapping", check_mapping),
        ] {
            let c = ctx.clone();
            let mut check = PlannedCheck::new(id, base.clone(), move |cx| {
                let c = c.clone();
                async move {
                    match c.directory(&cx).await {
                        Ok(d) => f(&c, d),
                        Err(o) => o,
                    }
                }
            })
            .after(first_bind.clone());
            if id != "ldap.base" {
                check = check.after(CheckKey::new("ldap.base", base.clone()));
            }
            checks.push(check);
        }
        for user in &spec.test_users {
            let uid = user.user_id.clone();
            let c = ctx.clone();
            let u = uid.clone();
            checks.push(
                PlannedCheck::new("ldap.user-auth", uid.clone(), move |cx| {
                    let (c, u) = (c.clone(), u.clone());
                    async move { check_user_auth(&c, &u, cx).await }
                })
                .after(first_bind.clone()),
            );
            let c = ctx.clone();
            let u = uid.clone();
            checks.push(
                PlannedCheck::new("ldap.contact-search", uid.clone(), move |cx| {
                    let (c, u) = (c.clone(), u.clone());
                    async move { check_contact_search(&c, &u, cx).await }
                })
                .after(CheckKey::new("ldap.base", base.clone())),
            );
        }
        checks
    }
}

async fn check_connect(c: &Ctx, i: usize, cx: CheckCtx) -> Outcome {
    let server = &ldap_spec(&c.spec).servers[i];
    let (secure, integrate) = tasks(c.spec.workflow);
    let mode = match server.security {
        LdapSecurity::Ldaps => "LDAPS",
        LdapSecurity::StartTls => "StartTLS",
        LdapSecurity::Cleartext => "cleartext (allowed by the spec)",
    };
    let budget = cx.timeout.mul_f32(0.8);
    let run = async {
        let mut ldap = c.session(server, budget).await?;
        let r = ldap
            .search(
                "",
                Scope::Base,
                "(objectClass=*)",
                vec!["namingContexts", "supportedLDAPVersion"],
            )
            .await
            .map_err(|e| describe(&e))?;
        let (entries, _) = r.success().map_err(|e| describe(&e))?;
        let contexts = entries
            .into_iter()
            .next()
            .and_then(|e| {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| SearchEntry::construct(e)))
                    .ok()
            })
            .and_then(|e| e.attrs.get("namingContexts").cloned())
            .unwrap_or_default()
            .join(", ");
        let _ = ldap.unbind().await;
        Ok::<_, String>(contexts)
    };
    let out = match tokio::time::timeout(budget, run).await {
        Ok(r) => r,
        Err(_) => Err(format!("no LDAP answer within {} ms", budget.as_millis())),
    };
    let o = match out {
        Ok(contexts) if server.security.is_tls() => Outcome::pass(format!(
            "{} answers over {mode} with a certificate that verifies for {}",
            &server.url,
            server.host
        ))
        .with("naming_contexts", contexts),
        Ok(contexts) => Outcome::warn(
            format!("{} answers in cleartext: credentials sent to it are readable on the network", &server.url),
            format!("Enable LDAPS or StartTLS on the directory and in the spec: secure the CUCM-LDAP and IM&P-LDAP connections (task {secure})"),
        )
        .with("naming_contexts", contexts),
        Err(e) => {
            let tls_problem = e.contains("certificate") || e.contains("Certificate");
            let fix = if tls_problem {
                format!("Install on the directory server a certificate signed by the deployment's CA and naming {}, and upload that CA to CUCM and IM&P as a directory trust certificate (task {integrate})", server.host)
            } else {
                format!("Check that the directory server answers {mode} on {}:{} (task {secure})", server.host, server.port)
            };
            Outcome::fail(format!("{}: {e}", &server.url), fix)
        }
    };
    o.with("server", &server.url)
        .with("transport", mode)
        .with("trust_anchors", &c.trust)
}

async fn check_bind(c: &Ctx, i: usize, cx: CheckCtx) -> Outcome {
    let s = ldap_spec(&c.spec);
    let server = &s.servers[i];
    let budget = cx.timeout.mul_f32(0.8);
    let started = Instant::now();
    match tokio::time::timeout(budget, c.bound(server, budget)).await {
        Ok(Ok(mut ldap)) => {
            let _ = ldap.unbind().await;
            Outcome::pass(format!("the service account {} binds", s.bind_dn))
                .with("server", &server.url)
                .with("bind_dn", &s.bind_dn)
                .metric(
                    "bind_ms",
                    (started.elapsed().as_secs_f64() * 10_000.0).round() / 10.0,
                )
        }
        Ok(Err(o)) => o.with("server", &server.url),
        Err(_) => Outcome::fail(
            format!("the bind got no answer within {} ms", budget.as_millis()),
            "Check the directory server's load",
        )
        .with("server", &server.url),
    }
}

fn check_base(c: &Ctx, d: Directory) -> Outcome {
    let s = ldap_spec(&c.spec);
    let (_, integrate) = tasks(c.spec.workflow);
    if d.base_rc == 32 {
        return Outcome::fail(
            format!("the search base {} does not exist: noSuchObject (32)", s.base),
            format!("Correct the search base of the LDAP directory synchronization agreement on CUCM (task {integrate})"),
        )
        .with("base", &s.base)
        .with("result_code", "32 noSuchObject");
    }
    if d.base_rc != 0 {
        return Outcome::fail(
            format!(
                "the search base {} cannot be read: {} ({}) {}",
                s.base,
                rc_name(d.base_rc),
                d.base_rc,
                d.base_text
            ),
            format!("Give the service account read access to the search base (task {integrate})"),
        )
        .with("base", &s.base);
    }
    if d.entries.is_empty() {
        return Outcome::fail(
            format!("the user filter {} returns no entry under {}", s.user_filter, s.base),
            format!("Correct the user filter of the synchronization agreement, or the base (task {integrate})"),
        )
        .with("base", &s.base)
        .with("filter", &s.user_filter);
    }
    Outcome::pass(format!(
        "{} exists; the user filter returns {} entries",
        s.base,
        d.entries.len()
    ))
    .with("base", &s.base)
    .with("filter", &s.user_filter)
    .metric("entries", d.entries.len() as f64)
    .metric(
        "search_ms",
        (d.took.as_secs_f64() * 10_000.0).round() / 10.0,
    )
}

fn check_sync(c: &Ctx, d: Directory) -> Outcome {
    let s = ldap_spec(&c.spec);
    let (_, integrate) = tasks(c.spec.workflow);
    let uid_attr = &s.attributes.user_id;
    let found: std::collections::BTreeSet<String> = d
        .entries
        .iter()
        .filter_map(|e| first(e, uid_attr))
        .map(|u| u.to_ascii_lowercase())
        .collect();
    let missing: Vec<&str> = s
        .expected_users
        .iter()
        .filter(|u| !found.contains(&u.to_ascii_lowercase()))
        .map(String::as_str)
        .collect();
    let o = if missing.is_empty() {
        Outcome::pass(format!(
            "all {} expected users are under {} (the filter returns {} entries{})",
            s.expected_users.len(),
            s.base,
            d.entries.len(),
            if d.truncated { ", more than read" } else { "" }
        ))
    } else {
        Outcome::fail(
            format!("{} of the expected users {} not found under {} with {}: {}", missing.len(), if missing.len() == 1 { "is" } else { "are" }, s.base, s.user_filter, missing.join(", ")),
            format!("Add the users to the directory under the base, or widen the synchronization agreement's filter, then run a full sync on CUCM (task {integrate})"),
        )
        .with("missing", missing.join(", "))
    };
    o.with("expected", s.expected_users.join(", "))
        .with("user_id_attribute", uid_attr)
        .metric("entries", d.entries.len() as f64)
}

fn check_mapping(c: &Ctx, d: Directory) -> Outcome {
    let s = ldap_spec(&c.spec);
    let a = &s.attributes;
    let domains: Vec<String> = c
        .spec
        .domains
        .iter()
        .map(|d| d.to_ascii_lowercase())
        .collect();
    let directory_uri = c.spec.im_address_scheme == AddressScheme::DirectoryUri;
    let mut problems = Vec::new();
    let by_uid: BTreeMap<String, &SearchEntry> = d
        .entries
        .iter()
        .filter_map(|e| first(e, &a.user_id).map(|u| (u.to_ascii_lowercase(), e)))
        .collect();
    for user in &s.expected_users {
        let Some(e) = by_uid.get(&user.to_ascii_lowercase()) else {
            continue;
        }; // ldap.sync reports it
        let mut needed = vec![
            ("user id", &a.user_id),
            ("display name", &a.display_name),
            ("phone", &a.phone),
        ];
        if directory_uri {
            needed.push(("directory URI", &a.directory_uri));
        }
        for (what, attr) in needed {
            if first(e, attr).map(|v| v.trim().is_empty()).unwrap_or(true) {
                problems.push(format!("{user} ({}) has no {what} ({attr})", e.dn));
            }
        }
        let address = if directory_uri {
            first(e, &a.directory_uri).map(|m| m.to_ascii_lowercase())
        } else {
            Some(format!(
                "{}@{}",
                user.to_ascii_lowercase(),
                domains.first().cloned().unwrap_or_default()
            ))
        };
        if let Some(addr) = address {
            let ok = addr
                .split_once('@')
                .map(|(l, dom)| {
                    !l.is_empty()
                        && !l.contains(|ch: char| ch.is_whitespace() || "\"&'/:<>@".contains(ch))
                        && domains.iter().any(|d| d == dom)
                })
                .unwrap_or(false);
            if !ok {
                problems.push(format!(
                    "{user}: the IM address {addr} is not an address in {}",
                    domains.join(", ")
                ));
            }
        }
    }
    // Duplicates across the whole filter: IM&P and CUCM reject them.
    let mut dupes = Vec::new();
    for (what, attr) in [("user id", &a.user_id), ("directory URI (mail)", &a.mail)] {
        let mut seen: BTreeMap<String, Vec<&str>> = BTreeMap::new();
        for e in &d.entries {
            if let Some(v) = first(e, attr) {
                seen.entry(v.to_ascii_lowercase()).or_default().push(&e.dn);
            }
        }
        for (v, dns) in seen.into_iter().filter(|(_, d)| d.len() > 1) {
            dupes.push(format!("{what} {v} on {}", dns.join(" and ")));
        }
    }
    let (_, integrate) = tasks(c.spec.workflow);
    let mapping = format!(
        "user id={}, display name={}, phone={}, mail={}, directory URI={}",
        a.user_id, a.display_name, a.phone, a.mail, a.directory_uri
    );
    let o = if problems.is_empty() && dupes.is_empty() {
        Outcome::pass(format!("the {} expected users carry every mapped attribute; no duplicate user id or directory URI among {} entries", s.expected_users.len(), d.entries.len()))
    } else {
        let mut all = problems.clone();
        all.extend(dupes.iter().map(|d| format!("duplicate {d}")));
        Outcome::fail(
            all.join("; "),
            format!("Fill in the missing attributes and make user ids and directory URIs unique in the directory (IM&P rejects duplicates), or correct the attribute mapping of the LDAP directory configuration (tasks {integrate}, D.2)"),
        )
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

/// What the directory says of a test user: the outcome of looking it up with the
/// service account and binding as it with its own password. Other probes use it to
/// explain a refused login (see [`look_up_test_user`]).
#[derive(Debug, Clone, PartialEq)]
pub enum DirectoryUser {
    /// The user's entry, and the LDAP result of binding as it with the spec's password
    /// (0 success, 49 invalidCredentials, ...; [`rc_name`] names it).
    Found {
        dn: String,
        bind_rc: u32,
        bind_text: String,
        took: Duration,
    },
    /// No entry under `base` matches `filter` and the user id.
    Missing { base: String, filter: String },
}

/// Looks the spec's test user `uid` up on the first directory server (bound as the
/// service account, certificate verified against the spec's CA) and binds as it with
/// its own password, all within `budget`. `Err` says, in words, why the directory could
/// not be asked (no `[ldap]` in the spec, unreachable, service account refused...).
pub async fn look_up_test_user(
    spec: &Arc<Spec>,
    uid: &str,
    budget: Duration,
) -> Result<DirectoryUser, String> {
    if spec.ldap.is_none() {
        return Err("the spec has no [ldap] directory".into());
    }
    Ctx::new(spec)
        .user_bind(uid, budget)
        .await
        .map_err(|o| o.message)
}

impl Ctx {
    /// `uid`'s entry and the result of binding as it with its password, within `budget`.
    async fn user_bind(&self, uid: &str, budget: Duration) -> Result<DirectoryUser, Outcome> {
        let s = ldap_spec(&self.spec);
        let (_, integrate) = tasks(self.spec.workflow);
        let user = self
            .spec
            .test_users
            .iter()
            .find(|u| u.user_id == uid)
            .ok_or_else(|| {
                Outcome::fail(
                    format!("{uid} is not a test user of the spec"),
                    "Name a test user of the spec",
                )
            })?;
        let server = &s.servers[0];
        let run = async {
            let mut ldap = self.bound(server, budget).await?;
            let filter = format!(
                "(&{}({}={}))",
                s.user_filter,
                s.attributes.user_id,
                ldap3::ldap_escape(uid)
            );
            let (entries, _) = ldap
                .search(&s.base, Scope::Subtree, &filter, vec!["1.1"])
                .await
                .and_then(|r| r.success())
                .map_err(|e| {
                    Outcome::fail(
                        format!("looking {uid} up failed: {}", describe(&e)),
                        format!("Check the directory (task {integrate})"),
                    )
                })?;
            let Some(entry) = entries.into_iter().next() else {
                let _ = ldap.unbind().await;
                return Ok(DirectoryUser::Missing {
                    base: s.base.clone(),
                    filter: s.user_filter.clone(),
                });
            };
            let dn = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                SearchEntry::construct(entry)
            }))
            .map_err(|_| {
                Outcome::fail(
                    "the server sent an entry that does not parse",
                    "Check the directory server",
                )
            })?
            .dn;
            let _ = ldap.unbind().await;
            let mut user_ldap = self
                .session(server, budget)
                .await
                .map_err(|e| Outcome::fail(unreachable(e), "See ldap.connect"))?;
            let started = Instant::now();
            let r = user_ldap
                .simple_bind(&dn, user.password().expose())
                .await
                .map_err(|e| {
                    Outcome::fail(
                        format!("the bind was not answered: {}", describe(&e)),
                        "Check the directory server",
                    )
                })?;
            let _ = user_ldap.unbind().await;
            Ok(DirectoryUser::Found {
                dn,
                bind_rc: r.rc,
                bind_text: r.text,
                took: started.elapsed(),
            })
        };
        match tokio::time::timeout(budget, run).await {
            Ok(r) => r,
            Err(_) => Err(Outcome::fail(
                format!("no answer within {} ms", budget.as_millis()),
                "Check the directory server's load",
            )),
        }
    }
}

async fn check_user_auth(c: &Ctx, uid: &str, cx: CheckCtx) -> Outcome {
    let s = ldap_spec(&c.spec);
    let (_, integrate) = tasks(c.spec.workflow);
    let budget = cx.timeout.mul_f32(0.8);
    let server = &s.servers[0];
    match c.user_bind(uid, budget).await {
        Ok(DirectoryUser::Found { dn, bind_rc: 0, took, .. }) => Outcome::pass(format!("{uid} authenticates with its own password as {dn}"))
            .with("user_dn", dn)
            .metric("bind_ms", (took.as_secs_f64() * 10_000.0).round() / 10.0),
        Ok(DirectoryUser::Found { dn, bind_rc: 49, .. }) => Outcome::fail(
            format!("{uid}'s password is refused: invalidCredentials (49)"),
            format!("The test user's password in the spec does not match the directory (or the account is locked): LDAP user authentication of IM&P would refuse this user too (task {integrate})"),
        )
        .with("user_dn", dn)
        .with("result_code", "49 invalidCredentials"),
        Ok(DirectoryUser::Found { dn, bind_rc, bind_text, .. }) => Outcome::fail(
            format!("{uid} cannot bind: {} ({bind_rc}) {bind_text}", rc_name(bind_rc)),
            format!("Check the user's account in the directory (task {integrate})"),
        )
        .with("user_dn", dn),
        Ok(DirectoryUser::Missing { base, filter }) => Outcome::fail(
            format!("{uid} is not in the directory under {base} with {filter}"),
            format!("Add the test user to the directory (task {integrate})"),
        ),
        Err(o) => o,
    }
    .with("server", &server.url)
}

async fn check_contact_search(c: &Ctx, uid: &str, cx: CheckCtx) -> Outcome {
    let s = ldap_spec(&c.spec);
    let a = &s.attributes;
    let budget = cx.timeout.mul_f32(0.8);
    let server = &s.servers[0];
    let run = async {
        let mut ldap = c.bound(server, budget).await?;
        ldap.with_search_options(
            SearchOptions::new()
                .sizelimit(50)
                .timelimit(budget.as_secs().max(1) as i32),
        );
        let attrs = vec![
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
        let (entries, _) = ldap
            .search(&s.base, Scope::Subtree, &own, attrs.clone())
            .await
            .and_then(|r| r.success())
            .map_err(|e| {
                Outcome::fail(
                    format!("looking {uid} up failed: {}", describe(&e)),
                    "Check the directory",
                )
            })?;
        let me = entries
            .into_iter()
            .next()
            .map(|e| {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| SearchEntry::construct(e)))
            })
            .transpose()
            .map_err(|_| {
                Outcome::fail(
                    "the server sent an entry that does not parse",
                    "Check the directory server",
                )
            })?
            .ok_or_else(|| {
                Outcome::fail(format!("{uid} is not in the directory"), "See ldap.sync")
            })?;
        let name = first(&me, &a.display_name).unwrap_or_default().to_string();
        let phone = first(&me, &a.phone).unwrap_or_default().to_string();
        let prefix: String = name.chars().take(3).collect();
        let mut seen = Vec::new();
        let mut worst = Duration::ZERO;
        for (how, filter) in [
            (
                "display-name prefix",
                format!(
                    "(&{}({}={}*))",
                    s.user_filter,
                    a.display_name,
                    ldap3::ldap_escape(&prefix)
                ),
            ),
            (
                "phone number",
                format!(
                    "(&{}({}={}))",
                    s.user_filter,
                    a.phone,
                    ldap3::ldap_escape(&phone)
                ),
            ),
        ] {
            if prefix.is_empty() && how.starts_with("display")
                || phone.is_empty() && how.starts_with("phone")
            {
                return Err(Outcome::fail(
                    format!("{uid} has no {how} to search by"),
                    "See ldap.mapping",
                ));
            }
            let started = Instant::now();
            let (entries, _) = ldap
                .search(&s.base, Scope::Subtree, &filter, attrs.clone())
                .await
                .and_then(|r| r.non_error())
                .map_err(|e| {
                    Outcome::fail(
                        format!("the search by {how} failed: {}", describe(&e)),
                        "Check the directory",
                    )
                })?;
            worst = worst.max(started.elapsed());
            let hit = entries.into_iter().any(|e| {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| SearchEntry::construct(e)))
                    .ok()
                    .map(|e| e.dn == me.dn && first(&e, &a.display_name).is_some())
                    .unwrap_or(false)
            });
            seen.push(format!(
                "{how} {filter}: {}",
                if hit { "found" } else { "NOT found" }
            ));
            if !hit {
                return Err(Outcome::fail(
                    format!("a contact search by {how} ({filter}) does not return {uid}"),
                    "Check the attribute mapping and the indexes of the directory (contact search in Jabber, task D.2)",
                )
                .with("searches", seen.join("; ")));
            }
        }
        let _ = ldap.unbind().await;
        Ok((name, phone, seen, worst))
    };
    match tokio::time::timeout(budget, run).await {
        Ok(Ok((name, phone, seen, worst))) => Outcome::pass(format!(
            "searches by name prefix and by phone find {uid} ({name}, {phone})"
        ))
        .with("searches", seen.join("; "))
        .metric("search_ms", (worst.as_secs_f64() * 10_000.0).round() / 10.0),
        Ok(Err(o)) => o,
        Err(_) => Outcome::fail(
            format!(
                "the contact searches took longer than {} ms",
                budget.as_millis()
            ),
            "Check the directory's indexes and load (task D.2)",
        ),
    }
    .with("server", &server.url)
}
