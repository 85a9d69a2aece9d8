//! `[[federation]]`: the federated domains and a contact in each.

use super::error::Ctx;
use super::password::{PasswordFields, Passwords};
use super::raw::RawFederationPeer;
use crate::secret::Secret;
use toml::Spanned;

/// A federated domain and a contact there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FederationPeer {
    /// The federated IM domain (unique in the spec).
    pub domain: String,
    /// A contact in the federated domain (a JID).
    pub test_contact: String,
    /// The local test user who exchanges IM with the contact.
    pub local_user: Option<String>,
    /// The contact's password (to log the contact in on its own server).
    pub password: Secret,
}

impl FederationPeer {
    /// The contact's password.
    pub fn password(&self) -> &Secret {
        &self.password
    }
}

/// Checks the federation peers: each domain once, its contact an address in it, its
/// local user one of the test users, a password for the contact.
pub(crate) fn validate(
    ctx: &mut Ctx,
    raw: &[Spanned<RawFederationPeer>],
    local_domains: &[String],
    user_ids: &[&str],
    passwords: &mut Passwords,
) -> Vec<FederationPeer> {
    let mut peers: Vec<FederationPeer> = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    for spanned in raw {
        let p = spanned.get_ref();
        let domain = p.domain.get_ref();
        if seen.iter().any(|d| d.eq_ignore_ascii_case(domain)) {
            ctx.error(
                p.domain.span(),
                format!("federated domain `{domain}` is listed twice"),
            );
        }
        seen.push(domain.clone());
        if local_domains.iter().any(|d| d.eq_ignore_ascii_case(domain)) {
            ctx.error(
                p.domain.span(),
                format!("`{domain}` is one of the deployment's own domains, not a federated one"),
            );
        }
        let contact = p.test_contact.get_ref();
        let in_domain = contact
            .split_once('@')
            .map(|(l, d)| !l.is_empty() && d.eq_ignore_ascii_case(domain))
            .unwrap_or(false);
        if !in_domain {
            ctx.error(
                p.test_contact.span(),
                format!(
                    "test contact `{contact}` is not an address in the federated domain `{domain}`"
                ),
            );
        }
        if let Some(local) = &p.local_user {
            if !user_ids.contains(&local.get_ref().as_str()) {
                ctx.error(
                    local.span(),
                    format!("`{}` is not one of the test users", local.get_ref()),
                );
            }
        }
        let fields = PasswordFields {
            env: &p.password_env,
            file: &p.password_file,
        };
        let what = format!("federation peer `{domain}`");
        if let Some(password) = passwords.resolve(ctx, &what, spanned.span(), fields) {
            peers.push(FederationPeer {
                domain: domain.clone(),
                test_contact: contact.clone(),
                local_user: p.local_user.as_ref().map(|l| l.get_ref().clone()),
                password,
            });
        }
    }
    peers
}
