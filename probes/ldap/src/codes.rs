//! What an LDAP server answered, as types: the result code (RFC 4511 §4.1.9), and for
//! Active Directory the reason code ("data 775") of a refused bind's diagnostic message,
//! read once here so that no decision elsewhere reads the server's text.

use std::fmt;

/// An LDAP result code (RFC 4511 Appendix A).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultCode {
    /// 0
    Success,
    /// 1
    OperationsError,
    /// 2
    ProtocolError,
    /// 3
    TimeLimitExceeded,
    /// 4: the server returned only part of the entries.
    SizeLimitExceeded,
    /// 7
    AuthMethodNotSupported,
    /// 8
    StrongerAuthRequired,
    /// 10: the server does not hold the entry and points elsewhere.
    Referral,
    /// 11
    AdminLimitExceeded,
    /// 13
    ConfidentialityRequired,
    /// 19: to a bind, 389 Directory Server's lockout ("Exceed password retry limit").
    ConstraintViolation,
    /// 20: the value is there already.
    AttributeOrValueExists,
    /// 21
    InvalidAttributeSyntax,
    /// 32
    NoSuchObject,
    /// 34
    InvalidDnSyntax,
    /// 48
    InappropriateAuthentication,
    /// 49: wrong password or no such DN (Active Directory says which in its message).
    InvalidCredentials,
    /// 50
    InsufficientAccessRights,
    /// 51
    Busy,
    /// 52
    Unavailable,
    /// 53
    UnwillingToPerform,
    /// 65
    ObjectClassViolation,
    /// 67
    NotAllowedOnRdn,
    /// 80
    Other,
    /// Any other value.
    Unknown(u32),
}

impl ResultCode {
    /// The code of the wire value `rc`.
    pub fn from_u32(rc: u32) -> ResultCode {
        use ResultCode::*;
        match rc {
            0 => Success,
            1 => OperationsError,
            2 => ProtocolError,
            3 => TimeLimitExceeded,
            4 => SizeLimitExceeded,
            7 => AuthMethodNotSupported,
            8 => StrongerAuthRequired,
            10 => Referral,
            11 => AdminLimitExceeded,
            13 => ConfidentialityRequired,
            19 => ConstraintViolation,
            20 => AttributeOrValueExists,
            21 => InvalidAttributeSyntax,
            32 => NoSuchObject,
            34 => InvalidDnSyntax,
            48 => InappropriateAuthentication,
            49 => InvalidCredentials,
            50 => InsufficientAccessRights,
            51 => Busy,
            52 => Unavailable,
            53 => UnwillingToPerform,
            65 => ObjectClassViolation,
            67 => NotAllowedOnRdn,
            80 => Other,
            n => Unknown(n),
        }
    }

    /// The wire value.
    pub fn value(self) -> u32 {
        use ResultCode::*;
        match self {
            Success => 0,
            OperationsError => 1,
            ProtocolError => 2,
            TimeLimitExceeded => 3,
            SizeLimitExceeded => 4,
            AuthMethodNotSupported => 7,
            StrongerAuthRequired => 8,
            Referral => 10,
            AdminLimitExceeded => 11,
            ConfidentialityRequired => 13,
            ConstraintViolation => 19,
            AttributeOrValueExists => 20,
            InvalidAttributeSyntax => 21,
            NoSuchObject => 32,
            InvalidDnSyntax => 34,
            InappropriateAuthentication => 48,
            InvalidCredentials => 49,
            InsufficientAccessRights => 50,
            Busy => 51,
            Unavailable => 52,
            UnwillingToPerform => 53,
            ObjectClassViolation => 65,
            NotAllowedOnRdn => 67,
            Other => 80,
            Unknown(n) => n,
        }
    }

    /// The name RFC 4511 gives it ("unknown" for others).
    pub fn name(self) -> &'static str {
        use ResultCode::*;
        match self {
            Success => "success",
            OperationsError => "operationsError",
            ProtocolError => "protocolError",
            TimeLimitExceeded => "timeLimitExceeded",
            SizeLimitExceeded => "sizeLimitExceeded",
            AuthMethodNotSupported => "authMethodNotSupported",
            StrongerAuthRequired => "strongerAuthRequired",
            Referral => "referral",
            AdminLimitExceeded => "adminLimitExceeded",
            ConfidentialityRequired => "confidentialityRequired",
            ConstraintViolation => "constraintViolation",
            AttributeOrValueExists => "attributeOrValueExists",
            InvalidAttributeSyntax => "invalidAttributeSyntax",
            NoSuchObject => "noSuchObject",
            InvalidDnSyntax => "invalidDNSyntax",
            InappropriateAuthentication => "inappropriateAuthentication",
            InvalidCredentials => "invalidCredentials",
            InsufficientAccessRights => "insufficientAccessRights",
            Busy => "busy",
            Unavailable => "unavailable",
            UnwillingToPerform => "unwillingToPerform",
            ObjectClassViolation => "objectClassViolation",
            NotAllowedOnRdn => "notAllowedOnRDN",
            Other => "other",
            Unknown(_) => "unknown",
        }
    }
}

impl fmt::Display for ResultCode {
    /// "invalidCredentials (49)"
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.value())
    }
}

/// The name of an LDAP result code (RFC 4511).
pub fn rc_name(rc: u32) -> &'static str {
    ResultCode::from_u32(rc).name()
}

/// Why Active Directory refused a bind: the `data` code of its diagnostic message
/// ("80090308: LdapErr: DSID-0C0903A9, comment: AcceptSecurityContext error, data 775, v1db1").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdReason {
    /// 525: no such user.
    NoSuchUser,
    /// 52e: the password is wrong.
    WrongPassword,
    /// 530: not permitted to log on at this time (logon hours).
    LogonHours,
    /// 531: not permitted to log on from this workstation.
    Workstation,
    /// 532: the password has expired.
    PasswordExpired,
    /// 533: the account is disabled.
    Disabled,
    /// 701: the account has expired.
    AccountExpired,
    /// 773: the user must change the password before logging on.
    MustChangePassword,
    /// 775: the account is locked out.
    Locked,
}

impl AdReason {
    /// The reason of an AD diagnostic message, if it carries a known `data` code.
    pub fn parse(diagnostic: &str) -> Option<AdReason> {
        let (_, rest) = diagnostic.split_once("data ")?;
        let code: String = rest.chars().take_while(|c| c.is_ascii_hexdigit()).collect();
        Some(match code.to_ascii_lowercase().as_str() {
            "525" => AdReason::NoSuchUser,
            "52e" => AdReason::WrongPassword,
            "530" => AdReason::LogonHours,
            "531" => AdReason::Workstation,
            "532" => AdReason::PasswordExpired,
            "533" => AdReason::Disabled,
            "701" => AdReason::AccountExpired,
            "773" => AdReason::MustChangePassword,
            "775" => AdReason::Locked,
            _ => return None,
        })
    }

    /// The code as AD writes it.
    pub fn code(self) -> &'static str {
        match self {
            AdReason::NoSuchUser => "525",
            AdReason::WrongPassword => "52e",
            AdReason::LogonHours => "530",
            AdReason::Workstation => "531",
            AdReason::PasswordExpired => "532",
            AdReason::Disabled => "533",
            AdReason::AccountExpired => "701",
            AdReason::MustChangePassword => "773",
            AdReason::Locked => "775",
        }
    }

    /// What it means, as a phrase ("the account is locked out").
    pub fn meaning(self) -> &'static str {
        match self {
            AdReason::NoSuchUser => "the account does not exist",
            AdReason::WrongPassword => "the password is wrong",
            AdReason::LogonHours => "the account may not log on at this time (logon hours)",
            AdReason::Workstation => {
                "the account may not log on from this computer (workstation restriction)"
            }
            AdReason::PasswordExpired => "the password has expired",
            AdReason::Disabled => "the account is disabled",
            AdReason::AccountExpired => "the account has expired",
            AdReason::MustChangePassword => {
                "the password must be changed before the account can log on"
            }
            AdReason::Locked => "the account is locked out",
        }
    }

    /// What the directory's administrator does about it.
    pub fn fix(self) -> &'static str {
        match self {
            AdReason::NoSuchUser => "create the account, or correct its name",
            AdReason::WrongPassword => "correct the password",
            AdReason::LogonHours => "allow the account to log on at all hours (Logon Hours in Active Directory Users and Computers)",
            AdReason::Workstation => "allow the account to log on to all computers (Log On To in Active Directory Users and Computers)",
            AdReason::PasswordExpired => "set a new password for the account (and, for a service account, make it never expire)",
            AdReason::Disabled => "enable the account in Active Directory",
            AdReason::AccountExpired => "extend the account's expiry date in Active Directory (Account expires)",
            AdReason::MustChangePassword => "set a new password and clear \"User must change password at next logon\"",
            AdReason::Locked => "unlock the account in Active Directory (and find what sent the wrong passwords)",
        }
    }

    /// True when the password itself is what is wrong (not the account's state).
    pub fn is_wrong_password(self) -> bool {
        self == AdReason::WrongPassword
    }
}

impl fmt::Display for AdReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (Active Directory data {})",
            self.meaning(),
            self.code()
        )
    }
}

/// A result other than success, as the server gave it.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    /// The result code.
    pub code: ResultCode,
    /// Active Directory's reason, when its diagnostic message carries one.
    pub ad: Option<AdReason>,
    /// The server's diagnostic message, as sent (kept for the evidence).
    pub diagnostic: String,
    /// Where a referral points (LDAP URLs), for [`ResultCode::Referral`].
    pub referrals: Vec<String>,
}

impl Refusal {
    /// Whether the server refused the credential itself (invalidCredentials, 49: a
    /// wrong password, or an AD account state; constraintViolation, 19, a lockout): a
    /// bind refused so is never retried, and the credential is not sent again.
    pub fn refuses_credentials(&self) -> bool {
        matches!(
            self.code,
            ResultCode::InvalidCredentials | ResultCode::ConstraintViolation
        )
    }

    /// The refusal of an LDAP result; `None` for success.
    pub fn of(r: &crate::wire::LdapResult) -> Option<Refusal> {
        (r.code != 0).then(|| Refusal {
            code: ResultCode::from_u32(r.code),
            ad: AdReason::parse(&r.diagnostic),
            diagnostic: r.diagnostic.clone(),
            referrals: r.referrals.clone(),
        })
    }

    /// The refusal as the run's credential ledger keeps it: which check met it, where,
    /// and the server's words.
    pub fn for_ledger(
        &self,
        by: &str,
        account: &str,
        server: &str,
        locked: bool,
    ) -> imp_verify_core::credentials::Refusal {
        imp_verify_core::credentials::Refusal {
            by_check: by.to_string(),
            at: format!("{account} at {server}"),
            words: self.describe(),
            locked,
        }
    }

    /// The result in words: "invalidCredentials (49): the account is locked out (Active
    /// Directory data 775)", "referral (10) to ldap://...", "unwillingToPerform (53): TEXT".
    pub fn describe(&self) -> String {
        if let Some(ad) = self.ad {
            return format!("{}: {ad}", self.code);
        }
        if self.code == ResultCode::Referral {
            return if self.referrals.is_empty() {
                format!(
                    "{}: the server points elsewhere but names no server",
                    self.code
                )
            } else {
                format!("{} to {}", self.code, self.referrals.join(", "))
            };
        }
        if self.diagnostic.is_empty() {
            self.code.to_string()
        } else {
            format!("{}: {}", self.code, self.diagnostic)
        }
    }

    /// The evidence a refusal adds to an outcome: the code, AD's reason, the server's
    /// own text and where a referral points.
    pub fn evidence(&self, o: imp_verify_core::Outcome) -> imp_verify_core::Outcome {
        let mut o = o.with(
            "result_code",
            format!("{} {}", self.code.value(), self.code.name()),
        );
        if let Some(ad) = self.ad {
            o = o.with("ad_reason", format!("data {}: {}", ad.code(), ad.meaning()));
        }
        if !self.diagnostic.is_empty() {
            o = o.with("diagnostic_message", &self.diagnostic);
        }
        if !self.referrals.is_empty() {
            o = o.with("referral", self.referrals.join(", "));
        }
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ad_data_codes_are_read_from_the_diagnostic_message() {
        let m = |code: &str| {
            format!("80090308: LdapErr: DSID-0C0903A9, comment: AcceptSecurityContext error, data {code}, v1db1")
        };
        assert_eq!(AdReason::parse(&m("52e")), Some(AdReason::WrongPassword));
        assert_eq!(AdReason::parse(&m("775")), Some(AdReason::Locked));
        assert_eq!(
            AdReason::parse(&m("773")),
            Some(AdReason::MustChangePassword)
        );
        assert_eq!(AdReason::parse(&m("532")), Some(AdReason::PasswordExpired));
        assert_eq!(AdReason::parse(&m("533")), Some(AdReason::Disabled));
        assert_eq!(AdReason::parse(&m("701")), Some(AdReason::AccountExpired));
        assert_eq!(AdReason::parse(&m("530")), Some(AdReason::LogonHours));
        assert_eq!(AdReason::parse(&m("531")), Some(AdReason::Workstation));
        assert_eq!(AdReason::parse(&m("999")), None);
        assert_eq!(AdReason::parse("invalid credentials"), None);
        assert_eq!(AdReason::parse(""), None);
    }

    #[test]
    fn codes_round_trip_and_describe() {
        for rc in 0..100 {
            assert_eq!(ResultCode::from_u32(rc).value(), rc);
        }
        assert_eq!(ResultCode::Referral.to_string(), "referral (10)");
        let r = Refusal {
            code: ResultCode::Referral,
            ad: None,
            diagnostic: String::new(),
            referrals: vec!["ldap://dc2.corp.test/DC=corp,DC=test".into()],
        };
        assert_eq!(
            r.describe(),
            "referral (10) to ldap://dc2.corp.test/DC=corp,DC=test"
        );
        let locked = Refusal {
            code: ResultCode::InvalidCredentials,
            ad: Some(AdReason::Locked),
            diagnostic: "... data 775, v1db1".into(),
            referrals: vec![],
        };
        assert_eq!(
            locked.describe(),
            "invalidCredentials (49): the account is locked out (Active Directory data 775)"
        );
    }
}
