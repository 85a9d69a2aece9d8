//! `[[test_users]]`: the users the checks log in as.

use super::clusters::NodeIndex;
use super::error::Ctx;
use super::kinds::Role;
use super::password::{PasswordFields, Passwords};
use super::raw::RawTestUser;
use crate::secret::Secret;
use std::collections::HashSet;
use toml::Spanned;

/// A test user the checks log in as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestUser {
    /// The user id (unique in the spec).
    pub user_id: String,
    /// The FQDN of the IM&P node the user is assigned to.
    pub home_node: String,
    /// The user's IM address; default `user_id@<home cluster's domain>`.
    pub jid: Option<String>,
    /// The user's password.
    pub password: Secret,
    /// The contacts the user's roster must hold (a migrated or imported contact list),
    /// as bare JIDs: `xmpp.roster` reads the roster and names the missing ones.
    pub contacts: Vec<String>,
}

impl TestUser {
    /// The user's password.
    pub fn password(&self) -> &Secret {
        &self.password
    }
}

/// Checks the test users: each listed once, at home on an IM&P node of the spec, with
/// a password.
pub(crate) fn validate(
    ctx: &mut Ctx,
    raw: &[Spanned<RawTestUser>],
    nodes: &NodeIndex,
    passwords: &mut Passwords,
) -> Vec<TestUser> {
    let mut ids = HashSet::new();
    let mut users = Vec::new();
    for spanned in raw {
        let u = spanned.get_ref();
        let id = u.user_id.get_ref();
        if !ids.insert(id.clone()) {
            ctx.error(
                u.user_id.span(),
                format!("test user `{id}` is listed twice"),
            );
        }
        let home = u.home_node.get_ref();
        match nodes.get(&home.to_ascii_lowercase()) {
            None => ctx.error(
                u.home_node.span(),
                format!("test user `{id}` has home node `{home}`, which is not a node of the spec"),
            ),
            Some(Role::Cucm) => ctx.error(
                u.home_node.span(),
                format!("test user `{id}` has home node `{home}`, a CUCM node; users are assigned to IM&P nodes"),
            ),
            Some(Role::Imp) => {}
        }
        let fields = PasswordFields {
            env: &u.password_env,
            file: &u.password_file,
        };
        let mut contacts = Vec::new();
        for c in &u.contacts {
            let jid = c.get_ref().trim().to_ascii_lowercase();
            let (local, domain) = jid.split_once('@').unwrap_or(("", ""));
            if local.is_empty() || domain.is_empty() || domain.contains(['@', '/']) {
                ctx.error(
                    c.span(),
                    format!(
                        "contact `{}` of test user `{id}` is not a bare JID like user@domain",
                        c.get_ref()
                    ),
                );
            } else if contacts.contains(&jid) {
                ctx.error(
                    c.span(),
                    format!("contact `{jid}` of test user `{id}` is listed twice"),
                );
            } else {
                contacts.push(jid);
            }
        }
        let what = format!("test user `{id}`");
        if let Some(password) = passwords.resolve(ctx, &what, spanned.span(), fields) {
            users.push(TestUser {
                user_id: id.clone(),
                home_node: home.clone(),
                jid: u.jid.clone(),
                password,
                contacts,
            });
        }
    }
    users
}
