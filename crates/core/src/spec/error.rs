//! Spec errors and warnings, located by file, line and column, and the context that
//! locates them. No error shows the value of a password field: the source line under an
//! error is shown with every `password*` value masked, and a TOML parser message is
//! scrubbed of those values.

use super::LoadMode;
use crate::secret::scrub_tokens;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// One problem in a spec, at a place in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    /// The spec file.
    pub file: PathBuf,
    /// 1-based; 0 when the problem has no place (the file cannot be read).
    pub line: usize,
    /// 1-based, in characters; 0 when the problem has no place.
    pub column: usize,
    /// What is wrong, and how to fix it.
    pub message: String,
    /// The offending line of the file, for display (password values masked).
    pub source_line: Option<String>,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            return write!(f, "{}: error: {}", self.file.display(), self.message);
        }
        write!(
            f,
            "{}:{}:{}: error: {}",
            self.file.display(),
            self.line,
            self.column,
            self.message
        )?;
        if let Some(src) = &self.source_line {
            let gutter = self.line.to_string().len();
            write!(
                f,
                "\n{:gutter$} |\n{} | {}\n{:gutter$} | {:>col$}",
                "",
                self.line,
                src,
                "",
                "^",
                col = self.column
            )?;
        }
        Ok(())
    }
}

/// Every problem found in a spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecErrors(pub Vec<SpecError>);

impl fmt::Display for SpecErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for SpecErrors {}

impl SpecErrors {
    /// The error of a spec that cannot be read at all.
    pub(crate) fn unreadable(path: &Path, why: impl fmt::Display) -> Self {
        SpecErrors(vec![SpecError {
            file: path.to_path_buf(),
            line: 0,
            column: 0,
            message: format!("cannot read the spec: {why}"),
            source_line: None,
        }])
    }
}

/// Something in a valid spec that the user should know (a password file others can
/// read, a password that is also a word of the spec). Never shows a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecWarning {
    /// The spec file.
    pub file: PathBuf,
    /// 1-based; 0 when the warning concerns no single place.
    pub line: usize,
    /// 1-based; 0 when the warning concerns no single place.
    pub column: usize,
    /// What was found, and what to do about it.
    pub message: String,
}

impl fmt::Display for SpecWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: warning: {}", self.file.display(), self.message)
        } else {
            write!(
                f,
                "{}:{}:{}: warning: {}",
                self.file.display(),
                self.line,
                self.column,
                self.message
            )
        }
    }
}

/// What validation works with: the text (to locate spans), the folder relative paths
/// start from, the load mode, and what was found so far.
pub(crate) struct Ctx<'a> {
    pub file: &'a Path,
    pub text: &'a str,
    pub base_dir: PathBuf,
    pub mode: LoadMode,
    pub errors: Vec<SpecError>,
    pub warnings: Vec<SpecWarning>,
}

impl<'a> Ctx<'a> {
    pub fn new(file: &'a Path, text: &'a str, mode: LoadMode) -> Self {
        let base_dir = file
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        Ctx {
            file,
            text,
            base_dir,
            mode,
            errors: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// Line, column and (masked) source line of a byte offset.
    fn locate(&self, offset: usize) -> (usize, usize, String) {
        let mut start = offset.min(self.text.len());
        while !self.text.is_char_boundary(start) {
            start -= 1;
        }
        let before = &self.text[..start];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
        let column = self.text[line_start..start].chars().count() + 1;
        let source = self.text[line_start..].lines().next().unwrap_or("");
        (line, column, mask_password_values(source).0)
    }

    /// An error at `span`.
    pub fn at(&self, span: Range<usize>, message: String) -> SpecError {
        let (line, column, source_line) = self.locate(span.start);
        SpecError {
            file: self.file.to_path_buf(),
            line,
            column,
            message,
            source_line: Some(source_line),
        }
    }

    /// Records an error at `span`.
    pub fn error(&mut self, span: Range<usize>, message: impl Into<String>) {
        let e = self.at(span, message.into());
        self.errors.push(e);
    }

    /// Records a warning at `span`, or about the whole spec.
    pub fn warn(&mut self, span: Option<Range<usize>>, message: impl Into<String>) {
        let (line, column) = match span {
            Some(s) => {
                let (l, c, _) = self.locate(s.start);
                (l, c)
            }
            None => (0, 0),
        };
        self.warnings.push(SpecWarning {
            file: self.file.to_path_buf(),
            line,
            column,
            message: message.into(),
        });
    }

    /// The error for a TOML syntax or type error: the parser's message, scrubbed of
    /// every password value of the text (parsers quote the values they reject).
    pub fn toml_error(&self, e: &toml::de::Error) -> SpecError {
        let mut message = e.message().trim().to_string();
        let values: Vec<String> = self
            .text
            .lines()
            .flat_map(|l| mask_password_values(l).1)
            .collect();
        message = scrub_tokens(&message, values.iter().map(String::as_str));
        // Where the parser points: a key `password` (an inline password) gets the hint.
        // Decided from the spec's own text at the error's span, not the parser's words.
        let at_password_key = e
            .span()
            .and_then(|r| self.text.get(r))
            .is_some_and(|key| key.trim().trim_matches('"') == "password");
        if at_password_key {
            message.push_str(
                "; passwords are never written in the spec: name an environment \
                 variable with `password_env` or a file with `password_file`",
            );
        }
        let span = e.span().unwrap_or(0..0);
        let mut err = self.at(span, message);
        if e.span().is_none() {
            err.line = 1;
            err.column = 1;
        }
        err
    }
}

/// `line` with the value of every key containing `password` replaced by `"***"`, and
/// the values so hidden (their text without quotes).
pub(crate) fn mask_password_values(line: &str) -> (String, Vec<String>) {
    let lower = line.to_ascii_lowercase();
    let bytes = line.as_bytes();
    let mut out = String::with_capacity(line.len());
    let mut hidden = Vec::new();
    let mut copied = 0;
    let mut search = 0;
    while let Some(found) = lower[search..].find("password") {
        let key_start = search + found;
        let mut i = key_start + "password".len();
        while i < bytes.len()
            && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] == b'-')
        {
            i += 1;
        }
        search = i;
        // An optional closing quote of a quoted key, blanks, `=`, blanks.
        if i < bytes.len() && (bytes[i] == b'"' || bytes[i] == b'\'') {
            i += 1;
        }
        while i < bytes.len() && (bytes[i] == b' ' || bytes[i] == b'\t') {
            i += 1;
        }
        if i >= bytes.len() || bytes[i] != b'=' {
            continue;
        }
        i += 1;
        while i < bytes.len() && (bytes[i] == b' ' || bytes[i] == b'\t') {
            i += 1;
        }
        let value_start = i;
        let rest = &line[i..];
        let (inner, value_end) = match bytes.get(i) {
            None => continue,
            // A multi-line string: everything to the end of the line is its text.
            Some(_) if rest.starts_with("\"\"\"") || rest.starts_with("'''") => {
                (rest[3..].trim_end_matches(['"', '\'']), bytes.len())
            }
            Some(b'"') => {
                let mut j = i + 1;
                while j < bytes.len() && bytes[j] != b'"' {
                    j += if bytes[j] == b'\\' { 2 } else { 1 };
                }
                let j = j.min(bytes.len());
                (&line[i + 1..j], (j + 1).min(bytes.len()))
            }
            Some(b'\'') => {
                let j = line[i + 1..]
                    .find('\'')
                    .map(|k| i + 1 + k)
                    .unwrap_or(bytes.len());
                (&line[i + 1..j], (j + 1).min(bytes.len()))
            }
            Some(_) => {
                let j = line[i..]
                    .find([',', '}', ']', ' ', '\t', '#'])
                    .map(|k| i + k)
                    .unwrap_or(bytes.len());
                (&line[i..j], j)
            }
        };
        // A variable's name and a file's path are not secrets: shown, unless they might
        // be a password written in the wrong field.
        let key = &lower[key_start..search];
        let shown = (key == "password_env" && super::password::shows_var(inner))
            || (key == "password_file" && super::password::shows_file(inner));
        if shown {
            continue;
        }
        if !inner.is_empty() {
            hidden.push(inner.to_string());
        }
        out.push_str(&line[copied..value_start]);
        out.push_str("\"***\"");
        copied = value_end;
        search = value_end;
    }
    out.push_str(&line[copied..]);
    (out, hidden)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_values_are_masked() {
        let (m, v) = mask_password_values(r#"password = "hunter2hunter2""#);
        assert_eq!(m, r#"password = "***""#);
        assert_eq!(v, ["hunter2hunter2"]);
        let (m, v) = mask_password_values(r#"u = { user_id = "a", password_env='Pa55 w' }"#);
        assert_eq!(m, r#"u = { user_id = "a", password_env="***" }"#);
        assert_eq!(v, ["Pa55 w"]);
        let (m, v) = mask_password_values(r#"password = "a\"b" # note"#);
        assert_eq!(m, r#"password = "***" # note"#);
        assert_eq!(v, [r#"a\"b"#]);
        let (m, v) = mask_password_values("user_id = \"password\"");
        assert_eq!(m, "user_id = \"password\"");
        assert!(v.is_empty());
        let (m, _) = mask_password_values("password = 1234 ");
        assert_eq!(m, "password = \"***\" ");
        let (m, v) = mask_password_values(r#"password = """hunter2""""#);
        assert_eq!(m, r#"password = "***""#);
        assert_eq!(v, ["hunter2"]);
        let (m, v) = mask_password_values("password = '''");
        assert_eq!(m, r#"password = "***""#);
        assert!(v.is_empty());
    }
}
