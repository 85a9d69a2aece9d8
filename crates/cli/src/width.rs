//! The width report lines are fitted to: `COLUMNS` when set, else the terminal's.

/// The columns to fit lines to: `COLUMNS` (a positive number) wins; else, on a
/// terminal, its width; else none (a file or a pipe takes lines as long as they are).
pub fn columns(is_terminal: bool) -> Option<usize> {
    if let Some(n) = std::env::var("COLUMNS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|n| *n > 0)
    {
        return Some(n);
    }
    if !is_terminal {
        return None;
    }
    let (_, cols) = console::Term::stdout().size_checked()?;
    Some(usize::from(cols))
}
