//! `[xmpp]`: what the deployment's XMPP service may offer clients.

use super::raw::RawXmpp;

/// Whether the nodes may offer clients, after TLS, a SASL mechanism that sends the
/// password itself in a reversible form (PLAIN), and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlainAfterTls {
    /// The spec says so (`[xmpp] allow_plain = true`).
    Allowed,
    /// The spec says not (`[xmpp] allow_plain = false`).
    Refused,
    /// Not said, and the spec has an `[ldap]` directory: with LDAP user
    /// authentication the node needs the password itself to bind as the user, which
    /// only PLAIN gives it.
    LdapAuthentication,
    /// Not said, and the spec has no directory.
    NotAllowed,
}

impl PlainAfterTls {
    /// Whether PLAIN after TLS is allowed.
    pub fn allowed(self) -> bool {
        matches!(
            self,
            PlainAfterTls::Allowed | PlainAfterTls::LdapAuthentication
        )
    }

    /// Why, as evidence says it.
    pub fn describe(self) -> &'static str {
        match self {
            PlainAfterTls::Allowed => "allowed by the spec ([xmpp] allow_plain = true)",
            PlainAfterTls::Refused => "not allowed by the spec ([xmpp] allow_plain = false)",
            PlainAfterTls::LdapAuthentication => {
                "allowed: the spec has an [ldap] directory, and LDAP user authentication needs the password itself"
            }
            PlainAfterTls::NotAllowed => {
                "not allowed: the spec has no [ldap] directory and no [xmpp] allow_plain"
            }
        }
    }
}

/// What the deployment's XMPP service may offer clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XmppSpec {
    /// PLAIN after TLS.
    pub plain_after_tls: PlainAfterTls,
}

/// `[xmpp]` of a spec that has (`ldap`) or has not a directory.
pub(crate) fn validate(raw: Option<&RawXmpp>, ldap: bool) -> XmppSpec {
    let plain_after_tls = match raw.and_then(|x| x.allow_plain) {
        Some(true) => PlainAfterTls::Allowed,
        Some(false) => PlainAfterTls::Refused,
        None if ldap => PlainAfterTls::LdapAuthentication,
        None => PlainAfterTls::NotAllowed,
    };
    XmppSpec { plain_after_tls }
}
