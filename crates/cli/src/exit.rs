//! How the program ends: a code and, for every code but 0, a last line that says why.

use imp_verify_report::Changes;
use std::process::ExitCode;

/// A non-zero end: its code, and the line that says why (`None` when the reason was
/// already the last line printed, as after a spec's errors).
#[derive(Debug)]
pub struct Exit {
    /// The exit code.
    pub code: u8,
    /// Why, printed last on standard error.
    pub why: Option<String>,
}

impl Exit {
    /// Exit `code`, because `why`.
    pub fn new(code: u8, why: impl Into<String>) -> Exit {
        Exit {
            code,
            why: Some(why.into()),
        }
    }

    /// Exit `code`; the reason was already printed last.
    pub fn said(code: u8) -> Exit {
        Exit { code, why: None }
    }

    /// Prints the reason and gives the code.
    pub fn finish(self) -> ExitCode {
        if let Some(why) = &self.why {
            if self.code == 2 {
                eprintln!("imp-verify: error: {why}");
            } else {
                eprintln!("imp-verify: exit {}: {why}", self.code);
            }
        }
        ExitCode::from(self.code)
    }
}

/// A usage or spec error, a report path that cannot be written: exit 2.
pub fn usage(why: impl Into<String>) -> Exit {
    Exit::new(2, why)
}

/// What regressed since the baseline, in one phrase (the first few, then a count).
pub fn regressions(ch: &Changes) -> String {
    let mut items: Vec<String> = Vec::new();
    for c in &ch.newly_failing {
        items.push(format!("{} newly fails", c.key));
    }
    for c in &ch.newly_warning {
        items.push(format!("{} newly warns", c.key));
    }
    for m in &ch.metric_regressions {
        items.push(format!(
            "{} of {}: {} -> {}{}",
            m.metric,
            m.key,
            m.before,
            m.after,
            m.change_pct
                .map(|p| format!(" ({p:+}%)"))
                .unwrap_or_default()
        ));
    }
    let shown = items.len().min(3);
    let more = items.len() - shown;
    let mut s = format!(
        "{} regression(s) since the baseline {} (--fail-on-regression): {}",
        ch.regressions,
        ch.baseline.path,
        items[..shown].join("; ")
    );
    if more > 0 {
        s.push_str(&format!("; and {more} more (see the changes above)"));
    }
    s
}
