//! Passwords: where the spec says they come from (`password_env` or `password_file`),
//! and reading them. No error shows a password field's value, not even a variable's
//! name (a password written in `password_env` by mistake may well look like one): the
//! error's place in the spec tells which field it is.

use super::error::Ctx;
use super::LoadMode;
use crate::secret::Secret;
use std::collections::BTreeMap;
use std::io::Read;
use std::ops::Range;
use std::path::Path;
use toml::Spanned;

/// The largest password file read (a password is far shorter; a device or a log named
/// by mistake is refused instead of read).
pub const MAX_PASSWORD_FILE: u64 = 4096;

/// Where a spec looks up environment variables (the process environment, or a map in
/// tests).
pub trait Env {
    /// The value of variable `name`, if it is set.
    fn var(&self, name: &str) -> Option<String>;

    /// Forgets variable `name` once the spec has read it (the process environment
    /// removes it, so that no child process or later reader sees the password).
    fn forget(&self, _name: &str) {}
}

/// The process environment. A password variable read from it is removed from it once
/// the spec is loaded; imp-verify loads the spec before it starts any thread.
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }

    fn forget(&self, name: &str) {
        // Safe in edition 2021; sound here because the binary loads its spec before it
        // starts the async runtime or any other thread that could read the environment.
        std::env::remove_var(name);
    }
}

impl Env for BTreeMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

/// Whether `name` can be an environment variable's name: `[A-Za-z_][A-Za-z0-9_]*`.
pub fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The two fields of a section that has a password.
pub(crate) struct PasswordFields<'r> {
    pub env: &'r Option<Spanned<String>>,
    pub file: &'r Option<Spanned<String>>,
}

/// Reads the spec's passwords, remembering which variables it read and every secret
/// with whose it is (for the warning about passwords found in the spec's text).
pub(crate) struct Passwords<'e> {
    env: &'e dyn Env,
    pub read_vars: Vec<String>,
    pub resolved: Vec<(String, Secret)>,
}

impl<'e> Passwords<'e> {
    pub fn new(env: &'e dyn Env) -> Self {
        Passwords {
            env,
            read_vars: Vec::new(),
            resolved: Vec::new(),
        }
    }

    /// The password of `what` (like "test user `alice`"), whose section starts at
    /// `section`. In [`LoadMode::Structure`] the source is checked but not read.
    pub fn resolve(
        &mut self,
        ctx: &mut Ctx,
        what: &str,
        section: Range<usize>,
        fields: PasswordFields,
    ) -> Option<Secret> {
        let secret = match (fields.env, fields.file) {
            (Some(_), Some(f)) => {
                ctx.error(
                    f.span(),
                    format!("{what}: give either `password_env` or `password_file`, not both"),
                );
                return None;
            }
            (None, None) => {
                ctx.error(
                    section,
                    format!("{what} has no password: add `password_env = \"VARIABLE\"` or `password_file = \"PATH\"`"),
                );
                return None;
            }
            (Some(var), None) => self.read_env(ctx, what, var)?,
            (None, Some(file)) => read_file(ctx, what, file)?,
        };
        self.resolved.push((what.to_string(), secret.clone()));
        Some(secret)
    }

    fn read_env(&mut self, ctx: &mut Ctx, what: &str, var: &Spanned<String>) -> Option<Secret> {
        let name = var.get_ref();
        if !is_variable_name(name) {
            ctx.error(
                var.span(),
                format!("{what}: `password_env` must name an environment variable (letters, digits and `_`, not starting with a digit); its value is not shown here, in case it is the password itself"),
            );
            return None;
        }
        if ctx.mode == LoadMode::Structure {
            return Some(Secret::unread());
        }
        let value = self.env.var(name);
        if !self.read_vars.iter().any(|v| v == name) {
            self.read_vars.push(name.clone());
        }
        match value {
            Some(v) if !v.is_empty() => Some(Secret::new(v)),
            Some(_) => {
                ctx.error(
                    var.span(),
                    format!(
                        "{what}: the environment variable {} is empty",
                        shown_var(name)
                    ),
                );
                None
            }
            None => {
                ctx.error(
                    var.span(),
                    format!(
                        "{what}: the environment variable {} is not set",
                        shown_var(name)
                    ),
                );
                None
            }
        }
    }
}

/// Whether `password_env`'s value is shown in errors: a variable name as they are
/// conventionally written (`IMPV_LDAP_PASSWORD`: upper case, digits, `_`), not a word
/// that could be the password itself, written there by mistake.
pub(crate) fn shows_var(name: &str) -> bool {
    name.chars()
        .next()
        .is_some_and(|c| c.is_ascii_uppercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// Whether `password_file`'s value is shown in errors: a path (with a `/` or a `.`),
/// not a word that could be the password itself.
pub(crate) fn shows_file(path: &str) -> bool {
    path.contains('/') || path.contains('.')
}

/// The variable as an error names it: `` `IMPV_X` (password_env) ``, or only the
/// field when its value might be a password.
fn shown_var(name: &str) -> String {
    if shows_var(name) {
        format!("`{name}` (password_env)")
    } else {
        "that `password_env` names (not shown: it could be a password)".to_string()
    }
}

/// The file as an error names it.
fn shown_file(path: &str) -> String {
    if shows_file(path) {
        format!("`{path}` (password_file)")
    } else {
        "(password_file; its value is not shown: it could be a password)".to_string()
    }
}

/// Reads a password file: a regular file of at most [`MAX_PASSWORD_FILE`] bytes, one
/// trailing newline ignored. A file that others can read is taken, with a warning.
fn read_file(ctx: &mut Ctx, what: &str, file: &Spanned<String>) -> Option<Secret> {
    if file.get_ref().is_empty() {
        ctx.error(file.span(), format!("{what}: `password_file` is empty"));
        return None;
    }
    if ctx.mode == LoadMode::Structure {
        return Some(Secret::unread());
    }
    let full = ctx.base_dir.join(file.get_ref());
    match read_password_file(&full) {
        Ok((secret, mode)) => {
            if mode & 0o044 != 0 {
                ctx.warn(
                    Some(file.span()),
                    format!("{what}: the password file is readable by {} (mode {:04o}): make it readable by its owner only (chmod 600)", if mode & 0o004 != 0 { "every user" } else { "its group" }, mode & 0o7777),
                );
            }
            Some(secret)
        }
        Err(why) => {
            let relative = if Path::new(file.get_ref()).is_relative() {
                format!(" (relative paths start from `{}`)", ctx.base_dir.display())
            } else {
                String::new()
            };
            ctx.error(
                file.span(),
                format!(
                    "{what}: the password file {} {why}{relative}",
                    shown_file(file.get_ref())
                ),
            );
            None
        }
    }
}

/// Why a password file is refused: the tail of "the password file ...".
fn read_password_file(path: &Path) -> Result<(Secret, u32), String> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    // Non-blocking, so that opening a FIFO does not wait for a writer; the type is then
    // judged on the opened file itself, so nothing can be swapped in between.
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(O_NONBLOCK)
        .open(path)
        .map_err(|e| format!("cannot be opened: {}", io_reason(&e)))?;
    let meta = f
        .metadata()
        .map_err(|e| format!("cannot be read: {}", io_reason(&e)))?;
    if !meta.is_file() {
        let kind = if meta.is_dir() {
            "a folder"
        } else {
            "a device, FIFO or socket"
        };
        return Err(format!(
            "is {kind}, not a regular file: write the password alone in a file"
        ));
    }
    if meta.len() > MAX_PASSWORD_FILE {
        return Err(format!(
            "is larger than {MAX_PASSWORD_FILE} bytes: it holds the password alone"
        ));
    }
    let mut bytes = zeroize::Zeroizing::new(Vec::with_capacity(meta.len() as usize + 1));
    f.by_ref()
        .take(MAX_PASSWORD_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot be read: {}", io_reason(&e)))?;
    if bytes.len() as u64 > MAX_PASSWORD_FILE {
        return Err(format!(
            "is larger than {MAX_PASSWORD_FILE} bytes: it holds the password alone"
        ));
    }
    let mut end = bytes.len();
    if bytes[..end].ends_with(b"\n") {
        end -= 1;
    }
    if bytes[..end].ends_with(b"\r") {
        end -= 1;
    }
    if end == 0 {
        return Err("is empty".into());
    }
    let text = std::str::from_utf8(&bytes[..end]).map_err(|_| "is not UTF-8 text".to_string())?;
    Ok((Secret::new(text), meta.permissions().mode()))
}

#[cfg(any(target_os = "linux", target_os = "android"))]
const O_NONBLOCK: i32 = 0o4000;
#[cfg(not(any(target_os = "linux", target_os = "android")))]
const O_NONBLOCK: i32 = 0x0004; // the BSDs and macOS

/// An I/O error's reason without the path (the spec's place names the file).
fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

/// Warns about each password that is also part of the spec's own text (a name, a
/// domain, a user id): outputs quote that text, and the scrubber replaces whole tokens
/// only, so the password would show there. The warning says whose, never where.
pub(crate) fn warn_of_passwords_in_text(ctx: &mut Ctx, resolved: &[(String, Secret)]) {
    let Ok(value) = ctx.text.parse::<toml::Table>() else {
        return;
    };
    let mut strings = Vec::new();
    collect_strings(&toml::Value::Table(value), false, &mut strings);
    for (what, secret) in resolved {
        if !secret.is_read() {
            continue;
        }
        let pw = zeroize::Zeroizing::new(secret.expose().to_lowercase());
        let n = strings
            .iter()
            .filter(|s| s.to_lowercase().contains(pw.as_str()))
            .count();
        if n > 0 {
            ctx.warn(
                None,
                format!("the password of {what} is part of {n} value(s) of the spec (names, domains, user ids): reports quote those values, and they are scrubbed of whole words only, so choose a password that is no part of the spec's text"),
            );
        }
    }
}

fn collect_strings(v: &toml::Value, under_password_key: bool, out: &mut Vec<String>) {
    match v {
        toml::Value::String(s) if !under_password_key => out.push(s.clone()),
        toml::Value::Array(a) => a
            .iter()
            .for_each(|x| collect_strings(x, under_password_key, out)),
        toml::Value::Table(t) => {
            for (k, x) in t {
                collect_strings(x, k.to_ascii_lowercase().contains("password"), out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variable_names() {
        for ok in ["IMPV_LDAP_PASSWORD", "_x", "a1"] {
            assert!(is_variable_name(ok), "{ok}");
        }
        for bad in ["", "1abc", "hunter 2", "pa$$", "x-y", "Ünïcode"] {
            assert!(!is_variable_name(bad), "{bad}");
        }
    }
}
