//! Text that came from a peer, made fit for a report: what a server sent is shown
//! escaped (control characters and invalid UTF-8 visible, not acted upon) and cut, and
//! long lists are cut with a count, so that a hostile or broken server cannot flood a
//! message or smuggle terminal escapes into it.

use std::fmt::Write;

/// How many characters of a peer's text a message shows.
pub const PEER_TEXT_MAX: usize = 200;

/// How many items of a list a message shows before "and N more".
pub const LIST_MAX: usize = 10;

/// `bytes` from a peer as a message may show them: valid UTF-8 kept, control
/// characters (but space) and invalid bytes escaped (`\n`, `\x1b`, `\xff`), cut at
/// [`PEER_TEXT_MAX`] characters with the number of bytes left out.
pub fn peer_bytes(bytes: &[u8]) -> String {
    let mut out = String::new();
    let mut shown = 0usize;
    let chunks = bytes.utf8_chunks();
    let mut consumed = 0usize;
    'outer: for chunk in chunks {
        for c in chunk.valid().chars() {
            if shown >= PEER_TEXT_MAX {
                break 'outer;
            }
            push_char(&mut out, c);
            shown += 1;
            consumed += c.len_utf8();
        }
        for b in chunk.invalid() {
            if shown >= PEER_TEXT_MAX {
                break 'outer;
            }
            let _ = write!(out, "\\x{b:02x}");
            shown += 1;
            consumed += 1;
        }
    }
    if consumed < bytes.len() {
        let _ = write!(out, "… ({} more bytes)", bytes.len() - consumed);
    }
    out
}

/// [`peer_bytes`] of a string a peer sent.
pub fn peer_text(s: &str) -> String {
    peer_bytes(s.as_bytes())
}

fn push_char(out: &mut String, c: char) {
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\u{fffd}' => out.push_str("\\u{fffd}"),
        c if c.is_control() => {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
        c => out.push(c),
    }
}

/// The items joined with `sep`, at most [`LIST_MAX`] of them, then "and N more".
pub fn cut_list<I, T>(items: I, sep: &str) -> String
where
    I: IntoIterator<Item = T>,
    T: std::fmt::Display,
{
    let mut out = String::new();
    let mut n = 0usize;
    for item in items {
        if n < LIST_MAX {
            if n > 0 {
                out.push_str(sep);
            }
            let _ = write!(out, "{item}");
        }
        n += 1;
    }
    if n > LIST_MAX {
        let _ = write!(out, "{sep}and {} more", n - LIST_MAX);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_and_invalid_bytes_are_shown_escaped() {
        assert_eq!(peer_bytes(b"a\x1b[31mb\n\xffc"), "a\\u{1b}[31mb\\n\\xffc");
        assert_eq!(peer_text("ok text"), "ok text");
    }

    #[test]
    fn long_text_is_cut_with_what_was_left_out() {
        let long = "x".repeat(33_000);
        let shown = peer_text(&long);
        assert!(shown.starts_with(&"x".repeat(PEER_TEXT_MAX)));
        assert!(shown.ends_with(&format!("({} more bytes)", 33_000 - PEER_TEXT_MAX)));
        assert!(shown.chars().count() < PEER_TEXT_MAX + 30);
    }

    #[test]
    fn lists_are_cut_with_a_count() {
        assert_eq!(cut_list(["a", "b"], ", "), "a, b");
        let many: Vec<String> = (0..25).map(|i| format!("t{i}")).collect();
        let s = cut_list(&many, ", ");
        assert!(s.starts_with("t0, t1,"));
        assert!(s.ends_with(", and 15 more"), "{s}");
    }
}
