//! `[ldap]`: the directory, its servers and how each is secured, the service account.

use super::clusters::Cluster;
use super::error::Ctx;
use super::kinds::Service;
use super::password::{PasswordFields, Passwords};
use super::raw::{RawAttributes, RawLdap, RawLdapServer};
use crate::secret::Secret;
use std::net::{IpAddr, Ipv6Addr};
use toml::Spanned;

/// The LDAP directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LdapSpec {
    /// The directory servers (at least one, each scheme, host and port once).
    pub servers: Vec<LdapServer>,
    /// The service account's DN (the one CUCM and IM&P bind with).
    pub bind_dn: String,
    /// The service account's password.
    pub password: Secret,
    /// The search base of the users.
    pub base: String,
    /// The filter that selects the users (default `(objectClass=inetOrgPerson)`).
    pub user_filter: String,
    /// Which attributes carry what.
    pub attributes: AttributeMap,
    /// User ids that must be in the directory under the base with the filter.
    pub expected_users: Vec<String>,
    /// The largest LDAP message the probe accepts from a server, in bytes (`None`: the
    /// probe's default, 4 MiB): a message announced larger ends the session at its
    /// header, before anything of it is buffered.
    pub max_message_bytes: Option<usize>,
}

/// The range `max_message_bytes` may take: from 4 KiB (a search entry of a few
/// attributes) to 1 GiB.
pub const MESSAGE_LIMIT_RANGE: std::ops::RangeInclusive<u64> = 4096..=(1 << 30);

impl LdapSpec {
    /// The service account's password.
    pub fn password(&self) -> &Secret {
        &self.password
    }
}

/// How the connection to a directory server is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LdapSecurity {
    /// TLS from the first byte (`ldaps://`).
    Ldaps,
    /// `ldap://` upgraded with the StartTLS extended operation (`starttls = true`).
    StartTls,
    /// `ldap://` in cleartext, allowed explicitly by the spec (`allow_cleartext = true`).
    Cleartext,
}

impl LdapSecurity {
    /// Whether the connection is encrypted (LDAPS or StartTLS).
    pub fn is_tls(self) -> bool {
        !matches!(self, LdapSecurity::Cleartext)
    }

    /// The URL scheme: `ldaps` or `ldap`.
    pub fn scheme(self) -> &'static str {
        match self {
            LdapSecurity::Ldaps => "ldaps",
            LdapSecurity::StartTls | LdapSecurity::Cleartext => "ldap",
        }
    }

    /// The port service the server listens with: [`Service::Ldaps`] or [`Service::Ldap`].
    pub fn service(self) -> Service {
        match self {
            LdapSecurity::Ldaps => Service::Ldaps,
            LdapSecurity::StartTls | LdapSecurity::Cleartext => Service::Ldap,
        }
    }
}

/// One directory server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LdapServer {
    /// The URL as the spec writes it.
    pub url: String,
    /// The host: a DNS name, or an IP address without brackets (`::1`).
    pub host: String,
    /// The port (from the URL, or 636 for LDAPS and 389 otherwise).
    pub port: u16,
    /// How the connection is secured.
    pub security: LdapSecurity,
}

impl LdapServer {
    /// The host's address when the host is an IP literal.
    pub fn ip(&self) -> Option<IpAddr> {
        self.host.parse().ok()
    }

    /// `host:port`, an IPv6 address in brackets (`[::1]:636`).
    pub fn authority(&self) -> String {
        if self.host.parse::<Ipv6Addr>().is_ok() {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The URL to connect to: scheme, host and port, an IPv6 host in brackets
    /// (`ldaps://[::1]:636`).
    pub fn connect_url(&self) -> String {
        format!("{}://{}", self.security.scheme(), self.authority())
    }
}

/// Which LDAP attributes carry what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributeMap {
    /// The user id (default `uid`).
    pub user_id: String,
    /// The mail address (default `mail`).
    pub mail: String,
    /// The directory URI (default `mail`).
    pub directory_uri: String,
    /// The display name (default `displayName`).
    pub display_name: String,
    /// The phone number (default `telephoneNumber`).
    pub phone: String,
}

impl Default for AttributeMap {
    fn default() -> Self {
        AttributeMap::from(&RawAttributes::default())
    }
}

impl From<&RawAttributes> for AttributeMap {
    fn from(raw: &RawAttributes) -> Self {
        let or = |v: &Option<String>, d: &str| v.clone().unwrap_or_else(|| d.to_string());
        AttributeMap {
            user_id: or(&raw.user_id, "uid"),
            mail: or(&raw.mail, "mail"),
            directory_uri: or(&raw.directory_uri, "mail"),
            display_name: or(&raw.display_name, "displayName"),
            phone: or(&raw.phone, "telephoneNumber"),
        }
    }
}

/// Checks `[ldap]`: at least one server, each URL valid and secured (or cleartext
/// allowed explicitly), no scheme, host and port twice (nor as a node's service), the
/// service password available.
pub(crate) fn validate(
    ctx: &mut Ctx,
    raw: &Spanned<RawLdap>,
    clusters: &[Cluster],
    passwords: &mut Passwords,
) -> Option<LdapSpec> {
    let section = raw.span();
    let raw = raw.get_ref();
    if raw.servers.is_empty() {
        ctx.error(section.clone(), "[ldap] lists no servers");
    }
    let mut servers: Vec<LdapServer> = Vec::new();
    for s in &raw.servers {
        let Some(server) = validate_server(ctx, s.get_ref()) else {
            continue;
        };
        let same = |o: &&LdapServer| {
            o.host.eq_ignore_ascii_case(&server.host)
                && o.port == server.port
                && o.security.service() == server.security.service()
        };
        if let Some(first) = servers.iter().find(same) {
            ctx.error(
                s.get_ref().url.span(),
                format!(
                    "LDAP server `{}` is listed twice (as `{}`): each scheme, host and port once",
                    server.url, first.url
                ),
            );
            continue;
        }
        let service = server.security.service();
        let as_node = clusters.iter().flat_map(|c| &c.nodes).find(|n| {
            n.fqdn.eq_ignore_ascii_case(&server.host)
                && n.services.contains(&service)
                && n.port(service) == server.port
        });
        if let Some(node) = as_node {
            ctx.error(
                s.get_ref().url.span(),
                format!(
                    "LDAP server `{}` is also the `{}` service of node `{}`: list it once, here",
                    server.url,
                    service.name(),
                    node.fqdn
                ),
            );
            continue;
        }
        servers.push(server);
    }
    let fields = PasswordFields {
        env: &raw.password_env,
        file: &raw.password_file,
    };
    let max_message_bytes = raw.max_message_bytes.as_ref().and_then(|m| {
        let n = *m.get_ref();
        if MESSAGE_LIMIT_RANGE.contains(&n) {
            usize::try_from(n).ok()
        } else {
            ctx.error(
                m.span(),
                format!(
                    "`max_message_bytes = {n}` is out of range: from {} (4 KiB) to {} (1 GiB)",
                    MESSAGE_LIMIT_RANGE.start(),
                    MESSAGE_LIMIT_RANGE.end()
                ),
            );
            None
        }
    });
    let password = passwords.resolve(ctx, "[ldap]", section, fields)?;
    Some(LdapSpec {
        servers,
        bind_dn: raw.bind_dn.clone(),
        password,
        base: raw.base.clone(),
        user_filter: raw.user_filter.clone(),
        attributes: AttributeMap::from(&raw.attributes),
        expected_users: raw.expected_users.clone(),
        max_message_bytes,
    })
}

fn validate_server(ctx: &mut Ctx, raw: &RawLdapServer) -> Option<LdapServer> {
    let url = raw.url.get_ref();
    let (ldaps, host, port) = match parse_ldap_url(url) {
        Ok(parts) => parts,
        Err(why) => {
            ctx.error(raw.url.span(), why);
            return None;
        }
    };
    let security = match (ldaps, raw.starttls, raw.allow_cleartext) {
        (true, true, _) => {
            ctx.error(
                raw.url.span(),
                "`starttls = true` goes with an ldap:// URL; ldaps:// is already TLS",
            );
            return None;
        }
        (true, false, _) => LdapSecurity::Ldaps,
        (false, true, _) => LdapSecurity::StartTls,
        (false, false, true) => LdapSecurity::Cleartext,
        (false, false, false) => {
            ctx.error(
                raw.url.span(),
                format!("`{url}` would send the service password in cleartext: use ldaps://, set `starttls = true`, or set `allow_cleartext = true` to allow it explicitly"),
            );
            return None;
        }
    };
    Some(LdapServer {
        url: url.clone(),
        host,
        port,
        security,
    })
}

/// Splits an LDAP URL into (ldaps?, host, port); an IPv6 host is given in brackets in
/// the URL and returned without them.
fn parse_ldap_url(url: &str) -> Result<(bool, String, u16), String> {
    let (ldaps, rest) = if let Some(r) = url.strip_prefix("ldaps://") {
        (true, r)
    } else if let Some(r) = url.strip_prefix("ldap://") {
        (false, r)
    } else {
        return Err(format!(
            "`{url}` is not an LDAP URL (expected ldaps://host[:port] or ldap://host[:port])"
        ));
    };
    let hostport = rest.split(['/', '?']).next().unwrap_or("");
    let default_port = if ldaps { 636 } else { 389 };
    let bad_port = |p: &str| format!("`{url}`: bad port `{p}`");
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or_else(|| format!("`{url}`: unclosed IPv6 bracket"))?;
        if h.parse::<Ipv6Addr>().is_err() {
            return Err(format!("`{url}`: `{h}` in brackets is not an IPv6 address"));
        }
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().map_err(|_| bad_port(p))?,
            None if after.is_empty() => default_port,
            None => return Err(format!("`{url}`: `{after}` after the IPv6 address")),
        };
        (h.to_string(), port)
    } else {
        match hostport.rsplit_once(':') {
            Some((h, _)) if h.contains(':') => {
                return Err(format!(
                    "`{url}`: an IPv6 address goes in brackets, like ldaps://[::1]:636"
                ))
            }
            Some((h, p)) => (h.to_string(), p.parse().map_err(|_| bad_port(p))?),
            None => (hostport.to_string(), default_port),
        }
    };
    if host.is_empty() {
        return Err(format!("`{url}` names no host"));
    }
    if port == 0 {
        return Err(bad_port("0"));
    }
    Ok((ldaps, host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ldap_urls() {
        assert_eq!(
            parse_ldap_url("ldaps://ldap.lab.test").unwrap(),
            (true, "ldap.lab.test".into(), 636)
        );
        assert_eq!(
            parse_ldap_url("ldap://[::1]:1389/").unwrap(),
            (false, "::1".into(), 1389)
        );
        assert_eq!(
            parse_ldap_url("ldaps://[2001:db8::7]").unwrap(),
            (true, "2001:db8::7".into(), 636)
        );
        assert!(parse_ldap_url("http://x").is_err());
        assert!(parse_ldap_url("ldap://x:notaport").is_err());
        assert!(parse_ldap_url("ldap://::1:389").is_err());
        assert!(parse_ldap_url("ldap://[::1").is_err());
        assert!(parse_ldap_url("ldap://[nothex]:389").is_err());
    }

    #[test]
    fn ipv6_hosts_keep_their_brackets_in_urls() {
        let s = LdapServer {
            url: "ldaps://[::1]:636".into(),
            host: "::1".into(),
            port: 636,
            security: LdapSecurity::Ldaps,
        };
        assert_eq!(s.connect_url(), "ldaps://[::1]:636");
        assert_eq!(s.authority(), "[::1]:636");
        assert_eq!(s.ip(), Some("::1".parse().unwrap()));
        let s = LdapServer {
            host: "ldap.lab.test".into(),
            port: 389,
            security: LdapSecurity::StartTls,
            url: "ldap://ldap.lab.test".into(),
        };
        assert_eq!(s.connect_url(), "ldap://ldap.lab.test:389");
        assert_eq!(s.ip(), None);
    }
}
