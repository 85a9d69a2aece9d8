//! What the deployment's directory says of a test user, for probes that must explain a
//! refused login (XMPP): defined here, implemented by the LDAP probe and handed to the
//! others by the binary, so that probe crates do not depend on each other.
//!
//! The look-up binds as the user only through the run's ledger of credentials
//! ([`Credentials`]): once a server refused the user's password in the run (the XMPP
//! login being explained, or `ldap.user-auth`), the directory is not sent it again and
//! the verdict is [`UserVerdict::NotTried`], carrying that first refusal.

use crate::credentials::{Credentials, Refusal};
use crate::model::AuthLog;
use crate::spec::Spec;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// What binding as a test user with the spec's password showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserVerdict {
    /// No entry under `base` matches `filter` and the user id.
    Missing {
        /// The search base.
        base: String,
        /// The user filter.
        filter: String,
    },
    /// The directory takes the password.
    Accepted {
        /// The user's entry.
        dn: String,
    },
    /// The directory refuses the password itself (invalidCredentials, no other reason).
    WrongPassword {
        /// The user's entry.
        dn: String,
    },
    /// The directory refuses the user for a reason of the account (locked, disabled,
    /// expired, must change its password: Active Directory says which).
    AccountState {
        /// The user's entry.
        dn: String,
        /// The reason, in words.
        why: String,
        /// What to do about it.
        fix: String,
    },
    /// Another refusal: the result code's name and number, and the server's text.
    Refused {
        /// The user's entry.
        dn: String,
        /// The result code's name (`unwillingToPerform`).
        name: String,
        /// The result code.
        code: u32,
        /// The server's diagnostic message.
        text: String,
    },
    /// The user's password was not sent to the directory: a server refused it earlier
    /// in the run (a second refusal can lock the account).
    NotTried {
        /// The user's entry, when the directory was searched for it (with the service
        /// account, no bind as the user); `None` when it was not asked at all.
        dn: Option<String>,
        /// The first refusal of the password in the run.
        refusal: Refusal,
    },
}

/// A boxed lookup.
pub type LookupFuture<'a> = Pin<Box<dyn Future<Output = Result<UserVerdict, String>> + Send + 'a>>;

/// The directory of a run: looks a test user up and binds as it.
pub trait UserDirectory: Send + Sync {
    /// Looks `uid` up in `spec`'s directory and binds as it with its password, within
    /// `budget`, unless `credentials` holds a refusal of that password
    /// ([`crate::Principal::user`]): then [`UserVerdict::NotTried`]. The bind is recorded
    /// in `auth`. `Err` says why the directory could not be asked.
    fn look_up<'a>(
        &'a self,
        spec: &'a Arc<Spec>,
        uid: &'a str,
        budget: Duration,
        auth: &'a AuthLog,
        credentials: &'a Credentials,
    ) -> LookupFuture<'a>;
}
