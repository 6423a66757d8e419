//! SQLite's run lock: an exclusive `flock` on a file beside the database file, named after its
//! canonical path, so that one file under two names (a symlink, a relative and an absolute path)
//! is one lock. The kernel drops it with the process. The holder writes who it is into the file,
//! for the runners that wait.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{Attempt, DEFAULT_SCOPE, fnv1a, runner, wait};
use crate::context::Interaction;
use crate::error::Error;

/// A held lock file (dropping it releases the lock).
#[derive(Debug)]
pub(crate) struct FileLock {
    file: File,
    path: PathBuf,
}

impl Attempt for FileLock {
    fn try_take(&mut self) -> Result<bool, Error> {
        match self.file.try_lock() {
            Ok(()) => Ok(true),
            Err(std::fs::TryLockError::WouldBlock) => Ok(false),
            Err(std::fs::TryLockError::Error(source)) => Err(Error::Io {
                doing: "cannot lock",
                path: self.path.display().to_string(),
                source,
            }),
        }
    }

    fn holder(&mut self) -> Option<String> {
        holder(&mut self.file)
    }
}

impl FileLock {
    /// Takes the lock file `path`, waiting up to `timeout` for another runner to release it.
    pub(crate) fn acquire(
        path: PathBuf,
        timeout: Duration,
        ui: &mut dyn Interaction,
    ) -> Result<FileLock, Error> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|source| Error::Io {
                doing: "cannot open the lock file",
                path: path.display().to_string(),
                source,
            })?;
        let mut lock = FileLock { file, path };
        wait(&mut lock, timeout, ui)?;
        // Say who holds it, for the runners that wait.
        let file = &mut lock.file;
        let _ = file.set_len(0);
        let _ = file.rewind();
        let _ = writeln!(
            file,
            "{} since {} UTC",
            runner(),
            crate::history::now().format("%Y-%m-%d %H:%M:%S")
        );
        let _ = file.flush();
        Ok(lock)
    }

    /// Gives the lock back.
    pub(crate) fn release(self) -> Result<(), Error> {
        let _ = self.file.set_len(0);
        self.file.unlock().map_err(|source| Error::Io {
            doing: "cannot unlock",
            path: self.path.display().to_string(),
            source,
        })
    }
}

/// Who holds the lock file `path`, when another runner does. Takes nothing.
pub(crate) fn held_by_other(path: &Path) -> Option<String> {
    let mut file = OpenOptions::new().read(true).write(true).open(path).ok()?;
    match file.try_lock() {
        Ok(()) => {
            let _ = file.unlock();
            None
        }
        Err(_) => holder(&mut file).or_else(|| Some("another runner".into())),
    }
}

/// What the holder wrote into the lock file.
fn holder(file: &mut File) -> Option<String> {
    let mut text = String::new();
    file.rewind().ok()?;
    file.read_to_string(&mut text).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

/// The database file's path with symlinks and `..` resolved, made absolute: for a file that does
/// not exist yet, its directory's canonical path and its name (a dangling symlink is followed to
/// the file it will create). Nothing is opened or created; the directory must exist.
pub(crate) fn canonical(database: &Path) -> Result<PathBuf, Error> {
    let mut database = database.to_path_buf();
    // A symlink to a file that does not exist yet names that file: follow it (a loop ends with
    // the last link, as the system would give up on it).
    for _ in 0..40 {
        let Ok(target) = std::fs::read_link(&database) else {
            break;
        };
        if database.exists() {
            break;
        }
        database = match database.parent() {
            Some(dir) if target.is_relative() => dir.join(target),
            _ => target,
        };
    }
    let database = database.as_path();
    match database.canonicalize() {
        Ok(path) => Ok(path),
        Err(_) => {
            let dir = match database.parent() {
                Some(dir) if !dir.as_os_str().is_empty() => dir,
                _ => Path::new("."),
            };
            let dir = dir.canonicalize().map_err(|source| Error::Io {
                doing: "cannot resolve the directory of",
                path: database.display().to_string(),
                source,
            })?;
            Ok(dir.join(database.file_name().unwrap_or_default()))
        }
    }
}

/// `<canonical path>.lock` (see [`canonical`]); `.lock-<scope>` for another scope than the
/// default.
pub(crate) fn lock_file(database: &Path, scope: &str) -> Result<PathBuf, Error> {
    let mut name = canonical(database)?.into_os_string();
    name.push(".lock");
    if scope != DEFAULT_SCOPE {
        let plain: String = scope
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        name.push("-");
        name.push(&plain);
        if plain != scope {
            name.push(format!("-{:016x}", fnv1a(scope.as_bytes())));
        }
    }
    Ok(PathBuf::from(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_sqlite_file_under_several_names_is_one_lock() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.db");
        std::fs::write(&real, "").unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let link = dir.path().join("link.db");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let lock = lock_file(&real, DEFAULT_SCOPE).unwrap();
        assert_eq!(lock.file_name().unwrap(), "real.db.lock");
        for name in [link, dir.path().join("sub/../real.db")] {
            assert_eq!(
                lock_file(&name, DEFAULT_SCOPE).unwrap(),
                lock,
                "{}",
                name.display()
            );
        }
        // A dangling symlink is the file it will create.
        let dangling = dir.path().join("dangling.db");
        std::os::unix::fs::symlink("sub/../later.db", &dangling).unwrap();
        assert_eq!(
            lock_file(&dangling, DEFAULT_SCOPE).unwrap(),
            real.canonicalize().unwrap().with_file_name("later.db.lock")
        );
        // A file that does not exist yet: its directory's canonical path.
        let missing = dir.path().join("sub/../new.db");
        assert_eq!(
            lock_file(&missing, DEFAULT_SCOPE).unwrap(),
            real.canonicalize().unwrap().with_file_name("new.db.lock")
        );
        let scoped = lock_file(&real, "upgrade_v2").unwrap();
        assert_eq!(scoped.file_name().unwrap(), "real.db.lock-upgrade_v2");
        let odd = lock_file(&real, "a/b").unwrap();
        assert!(odd.to_str().unwrap().contains(".lock-a_b-"), "{}", odd.display());
    }
}
