//! Text for the terminal: cut or wrapped to a width, control characters replaced.

/// `s` cut to `width` characters, ending with `…` when cut.
pub(crate) fn fit(s: &str, width: Option<usize>) -> String {
    match width {
        Some(w) if s.chars().count() > w && w > 1 => {
            let mut t: String = s.chars().take(w - 1).collect();
            t.push('…');
            t
        }
        _ => s.to_string(),
    }
}

/// `text` after `lead` (on the first line) and `indent` (on the others), wrapped at
/// spaces to `width`.
pub(crate) fn wrap(lead: &str, indent: usize, text: &str, width: Option<usize>) -> String {
    let Some(w) = width.filter(|w| *w > indent + 20) else {
        return format!("{lead}{text}");
    };
    let mut out = String::from(lead);
    let mut len = lead.chars().count();
    let mut first = true;
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        let n = word.chars().count();
        if !first && len + 1 + n > w {
            out.push('\n');
            out.push_str(&" ".repeat(indent));
            len = indent;
            first = true;
        }
        if !first {
            out.push(' ');
            len += 1;
        }
        out.push_str(word);
        len += n;
        first = false;
    }
    out
}

/// `line` cut to `width` visible characters (colour codes do not count), ending with
/// `…` (and a colour reset) when cut. The summary line is never cut.
pub(crate) fn fit_visible(line: &str, width: usize) -> String {
    let visible = |l: &str| {
        let mut n = 0;
        let mut esc = false;
        for c in l.chars() {
            match (esc, c) {
                (false, '\x1b') => esc = true,
                (true, 'm') => esc = false,
                (true, _) => {}
                (false, _) => n += 1,
            }
        }
        n
    };
    if width < 2 || visible(line) <= width || line.contains(" check(s): ") {
        return line.to_string();
    }
    let mut out = String::new();
    let (mut n, mut esc, mut coloured) = (0, false, false);
    for c in line.chars() {
        if esc {
            out.push(c);
            esc = c != 'm';
            continue;
        }
        if c == '\x1b' {
            esc = true;
            coloured = true;
            out.push(c);
            continue;
        }
        if n + 1 == width {
            break;
        }
        out.push(c);
        n += 1;
    }
    out.push('…');
    if coloured {
        out.push_str("\x1b[0m");
    }
    out
}

/// Text from a server may hold anything: no control characters reach the terminal.
pub(crate) fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '\u{fffd}' } else { c })
        .collect()
}
