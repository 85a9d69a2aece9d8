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
//!
//! Layout: [`wire`] (BER, framing, messages, filters, controls: bytes only),
//! `client` (a connection through `imp_verify_net`, bounded reads, searches counted on
//! receipt), `session` (the probe's context, sessions and the service bind through the
//! credential ledger), [`codes`] (result codes and Active Directory's reasons, typed);
//! then each check as observe → facts → judge: `bind` (connect and bind), `directory`
//! (the streamed read, facts only) and `provisioning` (base, sync, mapping judged from
//! them), `users` (user-auth and [`look_up_test_user`]), `search` (contact-search).

#![warn(missing_docs)]

mod bind;
mod client;
pub mod codes;
mod directory;
mod error;
mod lockout;
mod policy;
mod provisioning;
mod refusals;
mod search;
mod session;
#[cfg(test)]
mod testing;
mod unique;
mod users;
mod visibility;
pub mod wire;

pub use bind::{is_account_state, service_bind_failure, user_bind_failure};
pub use codes::{rc_name, AdReason, Refusal, ResultCode};
pub use directory::{MAX_ENTRIES, PAGE_SIZE};
pub use error::LdapError;
pub use lockout::{Lock, LockEnd};
pub use policy::{is_lockout, span};
pub use search::CONTACT_SEARCH_LIMIT;
pub use session::DEFAULT_MESSAGE_LIMIT;
pub use users::{look_up_test_user, DirectoryUser, LdapDirectory, LookupError};

use directory::Directory;
use imp_verify_core::keys;
use imp_verify_core::spec::Spec;
use imp_verify_core::{CheckKey, Outcome, PlannedCheck, Probe};
use session::LdapCtx;
use std::sync::Arc;

/// The probe.
pub struct LdapProbe {
    net: Arc<imp_verify_net::Net>,
}

impl LdapProbe {
    /// The probe, with the run's network toolkit.
    pub fn new(net: Arc<imp_verify_net::Net>) -> Self {
        LdapProbe { net }
    }
}

/// A judge of the directory read.
type ReadJudge = fn(&Spec, &Directory) -> Outcome;

impl Probe for LdapProbe {
    fn name(&self) -> &'static str {
        "ldap"
    }

    fn plan(&self, spec: &Arc<Spec>) -> Vec<PlannedCheck> {
        let Some(ldap) = &spec.ldap else {
            return Vec::new();
        };
        let ctx = Arc::new(LdapCtx::new(spec, &self.net));
        let mut checks = Vec::new();
        for (i, server) in ldap.servers.iter().enumerate() {
            let service = server.security.service();
            let port_key = keys::services_port(&server.host, server.port, service);
            let c = ctx.clone();
            checks.push(
                PlannedCheck::keyed(keys::ldap_connect(&server.url), move |cx| {
                    let c = c.clone();
                    let key = keys::ldap_connect(&c.ldap().servers[i].url);
                    async move { bind::check_connect(&c, i, cx, key).await }
                })
                .after(port_key)
                .on(&server.host),
            );
            let c = ctx.clone();
            let key = keys::ldap_bind(&server.url);
            checks.push(
                PlannedCheck::keyed(key.clone(), move |cx| {
                    let (c, key) = (c.clone(), key.clone());
                    async move { bind::check_bind(&c, i, cx, key).await }
                })
                .after(keys::ldap_connect(&server.url))
                .on(&server.host),
            );
        }
        checks.extend(refusal_checks(&ctx));
        let first = &ldap.servers[0];
        // The content checks wait for the first server whose service account binds.
        let binds: Vec<CheckKey> = ldap
            .servers
            .iter()
            .map(|s| keys::ldap_bind(&s.url))
            .collect();
        let base_key = keys::ldap_base(&ldap.base);
        let reads: [(&'static str, ReadJudge); 3] = [
            ("ldap.base", provisioning::check_base),
            ("ldap.sync", provisioning::check_sync),
            ("ldap.mapping", provisioning::check_mapping),
        ];
        for (id, judge) in reads {
            let c = ctx.clone();
            let key = CheckKey::new(id, ldap.base.clone());
            let mut check = PlannedCheck::keyed(key.clone(), move |cx| {
                let (c, key) = (c.clone(), key.clone());
                async move {
                    if let Err(o) = c.filter() {
                        return *o;
                    }
                    let steps = session::Steps::of(&cx, &key);
                    let o = match c.directory(&steps, cx.attempt).await {
                        Ok(d) => judge(&c.spec, &d),
                        Err(o) => o,
                    };
                    c.served(o)
                }
            })
            .after_first_of(binds.clone())
            .on(&first.host);
            if id != "ldap.base" {
                check = check.after(base_key.clone());
            }
            checks.push(check);
        }
        for user in &spec.test_users {
            let uid = user.user_id.clone();
            let c = ctx.clone();
            let key = CheckKey::new("ldap.user-auth", uid.clone());
            let u = uid.clone();
            checks.push(
                PlannedCheck::keyed(key.clone(), move |cx| {
                    let (c, u, key) = (c.clone(), u.clone(), key.clone());
                    async move { c.served(users::check_user_auth(&c, &u, cx, key).await) }
                })
                .after_first_of(binds.clone())
                .on(&first.host),
            );
            let c = ctx.clone();
            let key = CheckKey::new("ldap.contact-search", uid.clone());
            checks.push(
                PlannedCheck::keyed(key.clone(), move |cx| {
                    let (c, u, key) = (c.clone(), uid.clone(), key.clone());
                    async move { c.served(search::check_contact_search(&c, &u, cx, key).await) }
                })
                .after(base_key.clone())
                .on(&first.host),
            );
        }
        checks
    }
}

/// The checks of what the directory must refuse: cleartext simple binds on each plain
/// LDAP endpoint, anonymous reads and writes by the service account on each server.
fn refusal_checks(ctx: &Arc<LdapCtx>) -> Vec<PlannedCheck> {
    let ldap = ctx.ldap();
    let mut checks = Vec::new();
    let mut endpoints: Vec<(String, u16)> = Vec::new();
    for server in &ldap.servers {
        let (host, port) = refusals::cleartext_endpoint(server);
        if endpoints
            .iter()
            .any(|(h, p)| h.eq_ignore_ascii_case(&host) && *p == port)
        {
            continue;
        }
        endpoints.push((host.clone(), port));
        let allowed = ldap.servers.iter().any(|s| {
            s.security == imp_verify_core::spec::LdapSecurity::Cleartext
                && s.host.eq_ignore_ascii_case(&host)
                && s.port == port
        });
        let c = ctx.clone();
        let key = CheckKey::new("ldap.cleartext-bind", format!("ldap://{host}:{port}"));
        let on = host.clone();
        checks.push(
            PlannedCheck::keyed(key.clone(), move |cx| {
                let (c, key, host) = (c.clone(), key.clone(), host.clone());
                async move { refusals::check_cleartext(&c, host, port, allowed, cx, key).await }
            })
            .on(on),
        );
    }
    for (i, server) in ldap.servers.iter().enumerate() {
        let c = ctx.clone();
        let key = CheckKey::new("ldap.anonymous-read", server.url.clone());
        checks.push(
            PlannedCheck::keyed(key.clone(), move |cx| {
                let (c, key) = (c.clone(), key.clone());
                async move { refusals::check_anonymous(&c, i, cx, key).await }
            })
            .after(keys::ldap_connect(&server.url))
            .on(&server.host),
        );
        let c = ctx.clone();
        let key = CheckKey::new("ldap.read-only", server.url.clone());
        checks.push(
            PlannedCheck::keyed(key.clone(), move |cx| {
                let (c, key) = (c.clone(), key.clone());
                async move { refusals::check_write(&c, i, cx, key).await }
            })
            .after(keys::ldap_bind(&server.url))
            .on(&server.host),
        );
    }
    checks
}
