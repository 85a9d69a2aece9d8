//! Secrets (passwords) that never print, and the scrubber that keeps them out of outputs.

#![warn(missing_docs)]

use std::fmt;
use zeroize::Zeroizing;

/// A password read from an environment variable or a file named in the spec.
///
/// It has no `Display`, and its `Debug` prints `***`: the only way to the text is
/// [`Secret::expose`], which a probe calls where it hands the password to its protocol.
/// Its memory is zeroed when it is dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Inner);

#[derive(Clone, PartialEq, Eq)]
enum Inner {
    Value(Zeroizing<String>),
    /// The spec was loaded for planning only ([`crate::spec::LoadMode::Structure`]):
    /// the password's source was checked but never read.
    Unread,
}

impl Secret {
    /// A secret holding `value`.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(Inner::Value(Zeroizing::new(value.into())))
    }

    /// The stand-in of a password that a structure-only load did not read.
    pub(crate) fn unread() -> Self {
        Secret(Inner::Unread)
    }

    /// Whether the secret holds its value (false only in a spec loaded with
    /// [`crate::spec::LoadMode::Structure`], which plans and lists but never runs).
    pub fn is_read(&self) -> bool {
        matches!(self.0, Inner::Value(_))
    }

    /// The secret's text, for the protocol exchange that needs it and nothing else.
    ///
    /// # Panics
    /// On a secret of a spec loaded with [`crate::spec::LoadMode::Structure`]: such a
    /// spec is for listing the checks, and running one of them is a bug.
    pub fn expose(&self) -> &str {
        match &self.0 {
            Inner::Value(v) => v.as_str(),
            Inner::Unread => panic!(
                "a password of a spec loaded for listing only was used: load the spec with Spec::load to run checks"
            ),
        }
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Secret::new(value)
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret::new(value)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// A character that makes up words and names.
fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Whether the text beside an occurrence continues it into a longer token: a word
/// character, or a `.` or `-` followed by one (`imp1.example.com`, `example-host`).
fn continues(mut beside: impl Iterator<Item = char>) -> bool {
    match beside.next() {
        Some(c) if is_word(c) => true,
        Some('.' | '-') => beside.next().is_some_and(is_word),
        _ => false,
    }
}

/// `text` with every whole-token occurrence of each secret replaced by `***`.
///
/// An occurrence that is only part of a longer token is left alone: a password
/// `example` does not turn `imp1.example.com` into `imp1.***.com` (which would reveal
/// it), and a one-letter password does not garble words. Such a password is told at load
/// time instead (a spec warning), since outputs quote the spec's names. Longer secrets
/// are replaced first.
pub fn scrub_tokens<'a>(text: &str, secrets: impl IntoIterator<Item = &'a str>) -> String {
    let mut secrets: Vec<&str> = secrets.into_iter().filter(|s| !s.is_empty()).collect();
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    let mut out = text.to_string();
    for secret in secrets {
        if !out.contains(secret) {
            continue;
        }
        let starts_word = secret.chars().next().is_some_and(is_word);
        let ends_word = secret.chars().next_back().is_some_and(is_word);
        let mut result = String::with_capacity(out.len());
        let mut copied = 0;
        for (at, _) in out.match_indices(secret) {
            if at < copied {
                continue; // overlaps the previous replacement
            }
            let end = at + secret.len();
            let glued_left = starts_word && continues(out[..at].chars().rev());
            let glued_right = ends_word && continues(out[end..].chars());
            if glued_left || glued_right {
                continue;
            }
            result.push_str(&out[copied..at]);
            result.push_str("***");
            copied = end;
        }
        result.push_str(&out[copied..]);
        out = result;
    }
    out
}

/// Scrubs `text` in place of the `secrets` (whole tokens, see [`scrub_tokens`]).
pub fn scrub_in_place(text: &mut String, secrets: &[Secret]) {
    let values = secrets.iter().filter(|s| s.is_read()).map(|s| s.expose());
    let scrubbed = scrub_tokens(text, values);
    if scrubbed != *text {
        *text = scrubbed;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_value() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn whole_tokens_only() {
        let scrub = |t: &str, s: &str| scrub_tokens(t, [s]);
        assert_eq!(scrub("imp1.example.com", "example"), "imp1.example.com");
        assert_eq!(scrub("alice@example.com", "example"), "alice@example.com");
        assert_eq!(scrub("example-host", "example"), "example-host");
        assert_eq!(scrub("password example.", "example"), "password ***.");
        assert_eq!(scrub("pass=example, user", "example"), "pass=***, user");
        assert_eq!(scrub("\"example\"", "example"), "\"***\"");
        assert_eq!(scrub("a message for alice", "a"), "*** message for alice");
        assert_eq!(scrub("alice and bob", "a"), "alice and bob");
        assert_eq!(
            scrub("user=alice pass=s3cret", "s3cret"),
            "user=alice pass=***"
        );
        assert_eq!(scrub("pw=Tr0ub4dor&3 sent", "Tr0ub4dor&3"), "pw=*** sent");
        // A secret that begins or ends with punctuation is a token of its own.
        assert_eq!(scrub("x!pw!y", "!pw!"), "x***y");
    }

    #[test]
    fn longer_secrets_first() {
        assert_eq!(
            scrub_tokens("pw abc abcdef", ["abc", "abcdef"]),
            "pw *** ***"
        );
    }

    #[test]
    fn an_unread_secret_scrubs_nothing_and_cannot_be_exposed() {
        let s = Secret::unread();
        assert!(!s.is_read());
        let mut t = "nothing".to_string();
        scrub_in_place(&mut t, std::slice::from_ref(&s));
        assert_eq!(t, "nothing");
        assert!(std::panic::catch_unwind(|| s.expose().len()).is_err());
    }
}
