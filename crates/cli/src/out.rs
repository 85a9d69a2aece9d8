//! Standard output for the commands that print: a reader that closed it (`| head -1`)
//! ends the output quietly, never with a panic.

use crate::exit::{self, Exit};
use std::io::Write;

/// Standard output.
pub struct Out {
    /// Set once the reader went away: what follows is dropped.
    closed: bool,
}

impl Out {
    /// The process's standard output.
    pub fn stdout() -> Out {
        Out { closed: false }
    }

    /// Writes `bytes`; a closed pipe is not an error (the reader has what it wanted).
    pub fn bytes(&mut self, bytes: &[u8]) -> Result<(), Exit> {
        if self.closed {
            return Ok(());
        }
        let mut out = std::io::stdout().lock();
        match out.write_all(bytes).and_then(|()| out.flush()) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(())
            }
            Err(e) => Err(exit::usage(format!("cannot write to standard output: {e}"))),
        }
    }

    /// Writes `text`.
    pub fn text(&mut self, text: &str) -> Result<(), Exit> {
        self.bytes(text.as_bytes())
    }

    /// Writes `text` and a newline.
    pub fn line(&mut self, text: &str) -> Result<(), Exit> {
        self.bytes(format!("{text}\n").as_bytes())
    }

    /// Rows of four columns under `head`, each column as wide as its longest cell, the
    /// last one cut to fit `width`.
    pub fn table(
        &mut self,
        head: [&str; 4],
        rows: &[[String; 4]],
        width: Option<usize>,
    ) -> Result<(), Exit> {
        let mut all = vec![head.map(str::to_string)];
        all.extend(rows.iter().cloned());
        self.rows(&all, width)
    }

    /// Rows of four columns, each as wide as its longest cell, the last cut to `width`.
    pub fn rows(&mut self, rows: &[[String; 4]], width: Option<usize>) -> Result<(), Exit> {
        let w = |i: usize| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0);
        let (w0, w1, w2) = (w(0), w(1), w(2));
        let mut text = String::new();
        for r in rows {
            let line = format!("{:<w0$}  {:<w1$}  {:<w2$}  {}", r[0], r[1], r[2], r[3]);
            text.push_str(fit(line.trim_end(), width).as_str());
            text.push('\n');
        }
        self.text(&text)
    }
}

/// `s` cut to `width` characters, ending with `…` when cut.
pub fn fit(s: &str, width: Option<usize>) -> String {
    match width {
        Some(w) if w > 1 && s.chars().count() > w => {
            let mut t: String = s.chars().take(w - 1).collect();
            t.push('…');
            t
        }
        _ => s.to_string(),
    }
}
