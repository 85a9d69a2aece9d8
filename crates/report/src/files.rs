//! Report files: checked before the run, written whole or not at all.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

fn folder_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Creates a new temporary file beside `path`, exclusively (`O_EXCL`: never one that
/// exists, nor through a planted symbolic link).
fn create_temporary(path: &Path) -> std::io::Result<(PathBuf, std::fs::File)> {
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other(format!("{} names no file", path.display())))?;
    let dir = folder_of(path);
    loop {
        let tmp = dir.join(format!(
            ".{}.tmp-{}-{}",
            name.to_string_lossy(),
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
        {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Writes `bytes` to `path` whole or not at all: a temporary file created exclusively
/// in the same folder, flushed to disk, renamed over `path`, then the folder synced so
/// that the rename itself survives a crash. On error no partial file is left.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let (tmp, mut f) = create_temporary(path)?;
    let result = (|| {
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(folder_of(path))?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Where a report goes: a file (written with [`write_atomically`]), or standard output
/// (`-` on the command line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// This file.
    File(PathBuf),
    /// Standard output.
    Stdout,
}

impl From<PathBuf> for Destination {
    fn from(p: PathBuf) -> Self {
        if p.as_os_str() == "-" {
            Destination::Stdout
        } else {
            Destination::File(p)
        }
    }
}

impl From<&Path> for Destination {
    fn from(p: &Path) -> Self {
        Destination::from(p.to_path_buf())
    }
}

impl Destination {
    /// Writes the whole report there.
    pub fn write(&self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Destination::File(p) => write_atomically(p, bytes),
            Destination::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(bytes)?;
                out.flush()
            }
        }
    }

    /// Whether it is standard output.
    pub fn is_stdout(&self) -> bool {
        *self == Destination::Stdout
    }

    /// Checks, before the run, that the report can be written there (see
    /// [`check_writable`]; standard output always can).
    pub fn check(&self) -> Result<(), String> {
        match self {
            Destination::File(p) => check_writable(p),
            Destination::Stdout => Ok(()),
        }
    }
}

/// Checks, before a run, that a report can be written to `path`: its folder exists and
/// takes a new file, and `path` is not a folder. The error names the path.
pub fn check_writable(path: &Path) -> Result<(), String> {
    let dir = folder_of(path);
    if path.file_name().is_none() || path.is_dir() {
        return Err(format!("{}: is a folder, not a file", path.display()));
    }
    match std::fs::metadata(&dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(format!(
                "{}: the folder {} does not exist",
                path.display(),
                dir.display()
            ))
        }
        Err(e) => return Err(format!("{}: {e}", path.display())),
        Ok(m) if !m.is_dir() => {
            return Err(format!(
                "{}: {} is not a folder",
                path.display(),
                dir.display()
            ))
        }
        Ok(_) => {}
    }
    let (tmp, f) = create_temporary(path).map_err(|e| {
        format!(
            "{}: cannot create a file in {}: {e}",
            path.display(),
            dir.display()
        )
    })?;
    drop(f);
    let _ = std::fs::remove_file(tmp);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_leaves_content_or_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.json");
        write_atomically(&p, b"{\"a\":1}").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"{\"a\":1}");
        write_atomically(&p, b"{\"a\":2}").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"{\"a\":2}");
        // Only the file itself is there: no temporary left.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);

        let missing = dir.path().join("no/such/folder/r.json");
        assert!(write_atomically(&missing, b"x").is_err());
        assert!(!missing.exists());
    }

    #[test]
    fn a_failed_rename_removes_the_temporary() {
        let dir = tempfile::tempdir().unwrap();
        // The target is a non-empty directory: rename fails after the temp was written.
        let target = dir.path().join("taken");
        std::fs::create_dir(&target).unwrap();
        std::fs::write(target.join("x"), b"x").unwrap();
        assert!(write_atomically(&target, b"data").is_err());
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["taken".to_string()]);
    }

    #[test]
    fn a_planted_temporary_is_never_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.json");
        // Whatever sits at a would-be temporary name (here a symbolic link to a victim
        // file) is left alone: the temporary is created exclusively.
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"keep").unwrap();
        for seq in 0..4 {
            let planted = dir
                .path()
                .join(format!(".r.json.tmp-{}-{seq}", std::process::id()));
            std::os::unix::fs::symlink(&victim, planted).unwrap();
        }
        write_atomically(&p, b"report").unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep");
        assert_eq!(std::fs::read(&p).unwrap(), b"report");
    }

    #[test]
    fn report_paths_are_checked_naming_the_path() {
        let dir = tempfile::tempdir().unwrap();
        assert!(check_writable(&dir.path().join("r.json")).is_ok());
        // Nothing is left behind by the check.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        let missing = dir.path().join("nope/r.json");
        let e = check_writable(&missing).unwrap_err();
        assert!(e.contains(&missing.display().to_string()), "{e}");
        assert!(e.contains("does not exist"), "{e}");
        let e = check_writable(dir.path()).unwrap_err();
        assert!(e.contains("is a folder"), "{e}");
    }
}
