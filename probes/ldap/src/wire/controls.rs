//! The controls the probe sends and reads: simple paged results (RFC 2696), the
//! password policy request and response (draft-behera-ldap-password-policy, as OpenLDAP's
//! ppolicy overlay and others implement it), and the Netscape password expired and
//! expiring controls that servers still send.

use super::ber::{self, integer, tag, BerError, Reader};
use super::message::Control;

/// Simple paged results (RFC 2696).
pub const PAGED_RESULTS: &str = "1.2.840.113556.1.4.319";
/// The password policy control (request and response).
pub const PASSWORD_POLICY: &str = "1.3.6.1.4.1.42.2.27.8.5.1";
/// Netscape's "password expired" response control.
pub const NETSCAPE_EXPIRED: &str = "2.16.840.1.113730.3.4.4";
/// Netscape's "password expiring" response control (seconds left, as text).
pub const NETSCAPE_EXPIRING: &str = "2.16.840.1.113730.3.4.5";

/// The paged results request control asking for `size` entries a page after `cookie`.
pub fn paged(size: i32, cookie: &[u8]) -> Control {
    let mut v = Vec::new();
    ber::constructed(&mut v, tag::SEQUENCE, |s| {
        ber::put_integer(s, tag::INTEGER, i64::from(size));
        ber::put(s, tag::OCTET_STRING, cookie);
    });
    Control {
        oid: PAGED_RESULTS.into(),
        critical: false,
        value: Some(v),
    }
}

/// The cookie of a paged results response control among `controls` (empty: the last
/// page), `None` when the server sent none.
pub fn paged_cookie(controls: &[Control]) -> Result<Option<Vec<u8>>, BerError> {
    let Some(c) = controls.iter().find(|c| c.oid == PAGED_RESULTS) else {
        return Ok(None);
    };
    let v = c
        .value
        .as_deref()
        .ok_or(BerError::Missing("the paging cookie"))?;
    let mut r = Reader::new(Reader::new(v).expect(tag::SEQUENCE, "the paging value")?);
    let _size = r.expect(tag::INTEGER, "the paging size")?;
    Ok(Some(
        r.expect(tag::OCTET_STRING, "the paging cookie")?.to_vec(),
    ))
}

/// The password policy request control (no value: "tell me about my password").
pub fn password_policy_request() -> Control {
    Control {
        oid: PASSWORD_POLICY.into(),
        critical: false,
        value: None,
    }
}

/// A password policy error (the response's `error` field).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyError {
    /// 0: the password has expired.
    PasswordExpired,
    /// 1: the account is locked.
    AccountLocked,
    /// 2: the password was reset and must be changed before anything else.
    ChangeAfterReset,
    /// 3..: errors of a password change, which the probe never makes.
    Other(i64),
}

/// What the server said of the password, from the policy and Netscape controls of a
/// bind response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PolicyState {
    /// Seconds before the password expires (a warning).
    pub expires_in: Option<u64>,
    /// Binds left with the expired password (grace logins).
    pub grace_left: Option<u64>,
    /// The policy's error.
    pub error: Option<PolicyError>,
    /// The Netscape "password expired" control was sent (on OpenLDAP: with a reset
    /// password that must be changed too).
    pub netscape_expired: bool,
}

impl PolicyState {
    /// Whether the server said anything of the password.
    pub fn is_empty(&self) -> bool {
        *self == PolicyState::default()
    }
}

/// Reads the password policy state of a bind response's controls. A control the
/// server got wrong is an error, not a silent "nothing said".
pub fn policy_state(controls: &[Control]) -> Result<PolicyState, BerError> {
    let mut s = PolicyState::default();
    for c in controls {
        match c.oid.as_str() {
            PASSWORD_POLICY => {
                let Some(v) = c.value.as_deref() else {
                    continue;
                };
                let mut r = Reader::new(Reader::new(v).expect(tag::SEQUENCE, "the policy value")?);
                if let Some(w) = r.optional(0xa0)? {
                    let mut w = Reader::new(w);
                    if let Some(t) = w.optional(0x80)? {
                        s.expires_in = Some(integer(t)?.max(0) as u64);
                    } else if let Some(g) = w.optional(0x81)? {
                        s.grace_left = Some(integer(g)?.max(0) as u64);
                    }
                }
                if let Some(e) = r.optional(0x81)? {
                    s.error = Some(match integer(e)? {
                        0 => PolicyError::PasswordExpired,
                        1 => PolicyError::AccountLocked,
                        2 => PolicyError::ChangeAfterReset,
                        n => PolicyError::Other(n),
                    });
                }
            }
            NETSCAPE_EXPIRED => s.netscape_expired = true,
            NETSCAPE_EXPIRING => {
                let secs = c
                    .value
                    .as_deref()
                    .and_then(|v| std::str::from_utf8(v).ok())
                    .and_then(|t| t.trim().parse::<u64>().ok());
                if s.expires_in.is_none() {
                    s.expires_in = secs;
                }
            }
            _ => {}
        }
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ppolicy(value: &[u8]) -> Control {
        Control {
            oid: PASSWORD_POLICY.into(),
            critical: false,
            value: Some(value.to_vec()),
        }
    }

    #[test]
    fn policy_responses_as_slapd_sends_them() {
        // changeAfterReset: SEQUENCE { [1] 2 }
        let s = policy_state(&[ppolicy(b"\x30\x03\x81\x01\x02")]).unwrap();
        assert_eq!(s.error, Some(PolicyError::ChangeAfterReset));
        // timeBeforeExpiration 3600: SEQUENCE { [0] { [0] 3600 } }
        let s = policy_state(&[ppolicy(b"\x30\x06\xa0\x04\x80\x02\x0e\x10")]).unwrap();
        assert_eq!(s.expires_in, Some(3600));
        // graceAuthNsRemaining 2 and passwordExpired.
        let s = policy_state(&[ppolicy(b"\x30\x08\xa0\x03\x81\x01\x02\x81\x01\x00")]).unwrap();
        assert_eq!(
            (s.grace_left, s.error),
            (Some(2), Some(PolicyError::PasswordExpired))
        );
        let s = policy_state(&[ppolicy(b"\x30\x03\x81\x01\x01")]).unwrap();
        assert_eq!(s.error, Some(PolicyError::AccountLocked));
        assert!(policy_state(&[ppolicy(b"\x30\x03\x81")]).is_err());
        assert!(policy_state(&[]).unwrap().is_empty());
    }

    #[test]
    fn netscape_controls() {
        let c = |oid: &str, v: &[u8]| Control {
            oid: oid.into(),
            critical: false,
            value: Some(v.to_vec()),
        };
        let s = policy_state(&[c(NETSCAPE_EXPIRING, b"86400")]).unwrap();
        assert_eq!(s.expires_in, Some(86400));
        let s = policy_state(&[c(NETSCAPE_EXPIRED, b"0")]).unwrap();
        assert!(s.netscape_expired);
    }

    #[test]
    fn paging_cookie_round_trip() {
        let c = paged(500, b"abc");
        assert_eq!(paged_cookie(&[c]).unwrap(), Some(b"abc".to_vec()));
        assert_eq!(paged_cookie(&[]).unwrap(), None);
    }
}
