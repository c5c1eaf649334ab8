//! How files reach the disk: a temporary file next to the target (`.NAME.tmp-PID`), filled, synced and
//! renamed over the target. Three guarantees on top of that:
//! - **all or nothing**: inside [`all_or_nothing`] the renames wait until every file of the export is written;
//!   a failure (or a panic) removes every temporary file, so no target changes. Two outputs with one path are
//!   refused.
//! - **signals**: every live temporary file is registered; [`cleanup_on_signals`] removes them on SIGINT,
//!   SIGTERM or SIGHUP before the process exits, and stale temporary files of dead vitscope processes
//!   (`.NAME.tmp-PID` whose PID no longer runs) are swept from a folder before the first write into it.
//! - **regular files only**: nothing that is not a regular file is replaced.
use std::cell::RefCell;
use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::ExportError;

/// Temporary files this process is writing (removed on a signal).
static LIVE: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
/// Held while a batch renames its files: a signal waits for the batch to be complete on disk.
static COMMIT: Mutex<()> = Mutex::new(());
/// Folders already swept for stale temporary files.
static SWEPT: Mutex<Option<HashSet<PathBuf>>> = Mutex::new(None);

fn live() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    LIVE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Remove every temporary file this process is writing.
pub fn remove_live_temporaries() {
    remove_all(&mut live());
}

fn remove_all(live: &mut Vec<PathBuf>) {
    for p in live.drain(..) {
        let _ = std::fs::remove_file(p);
    }
}

/// On SIGINT, SIGTERM or SIGHUP: remove this process's temporary files and end it at once with status 130
/// (the shell's code for an interrupted command). For the binary's `main`; a library user keeps its own
/// handlers.
///
/// The handler runs on its own thread while the export goes on: it waits for a batch that is being renamed
/// (so an export ends complete or absent), then holds the registry of temporary files — a temporary file is
/// created and renamed only under that lock, so none can appear after the sweep — and ends the process
/// without running exit handlers (libtorch's teardown would give the export time to go on).
pub fn cleanup_on_signals() {
    let _ = ctrlc::set_handler(|| {
        let _renaming = COMMIT.lock().unwrap_or_else(|e| e.into_inner());
        let mut live = live();
        remove_all(&mut live);
        eprintln!("interrupted: no partial file was left");
        // SAFETY: _exit ends the process at once; no Rust state is touched after it.
        unsafe { libc::_exit(130) };
    });
}

/// One staged file of a batch: written to `tmp`, renamed to `dest` on commit.
struct Staged {
    tmp: PathBuf,
    dest: PathBuf,
    existed: bool,
}

thread_local! {
    static BATCH: RefCell<Option<Vec<Staged>>> = const { RefCell::new(None) };
}

/// Removes a batch's temporary files unless it was committed (also on a panic).
struct BatchGuard;

impl Drop for BatchGuard {
    fn drop(&mut self) {
        if let Some(staged) = BATCH.with(|b| b.borrow_mut().take()) {
            let mut live = live();
            for s in staged {
                let _ = std::fs::remove_file(&s.tmp);
                live.retain(|p| p != &s.tmp);
            }
        }
    }
}

/// Run `f` so that the files it writes (through [`super::write_atomic`]) appear together, after it
/// succeeded, or not at all. Nested calls join the outer batch. The batch belongs to the calling thread:
/// files written from other threads (a parallel encoder) are not part of it — encode in parallel, write here.
pub fn all_or_nothing<T, E: From<ExportError>>(f: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
    if BATCH.with(|b| b.borrow().is_some()) {
        return f();
    }
    BATCH.with(|b| *b.borrow_mut() = Some(Vec::new()));
    let guard = BatchGuard;
    let value = f()?;
    let staged = BATCH.with(|b| b.borrow_mut().take()).unwrap_or_default();
    drop(guard);
    commit(staged)?;
    Ok(value)
}

/// Rename every staged file into place; on a failure, undo what can be undone (files this batch created
/// are removed again) and drop the remaining temporary files.
fn commit(staged: Vec<Staged>) -> Result<(), ExportError> {
    let _renaming = COMMIT.lock().unwrap_or_else(|e| e.into_inner());
    let mut done: Vec<&Staged> = Vec::new();
    let mut failure = None;
    for s in &staged {
        let mut live = live();
        if failure.is_none() {
            match std::fs::rename(&s.tmp, &s.dest) {
                Ok(()) => done.push(s),
                Err(source) => {
                    failure = Some(ExportError::Write {
                        path: s.dest.clone(),
                        source,
                    })
                }
            }
        }
        if failure.is_some() {
            let _ = std::fs::remove_file(&s.tmp);
        }
        live.retain(|p| p != &s.tmp);
    }
    match failure {
        None => Ok(()),
        Some(e) => {
            for s in done.iter().filter(|s| !s.existed) {
                let _ = std::fs::remove_file(&s.dest);
            }
            Err(e)
        }
    }
}

/// Where writing `path` really goes: `path` itself when nothing is there, the target of a symbolic link to
/// a regular file, or an error for an existing file without permission and for anything not a regular file.
fn destination(path: &Path, overwrite: bool) -> Result<(PathBuf, bool), ExportError> {
    let Ok(link_meta) = std::fs::symlink_metadata(path) else {
        return Ok((path.into(), false));
    };
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        // a link to nothing: where it points is not ours to create
        Err(_) => {
            return Err(ExportError::NotRegular {
                path: path.into(),
                kind: "a symbolic link to a missing file",
            });
        }
    };
    if !meta.is_file() {
        return Err(ExportError::NotRegular {
            path: path.into(),
            kind: crate::files::kind_name(&meta.file_type()),
        });
    }
    if !overwrite {
        return Err(ExportError::Exists { path: path.into() });
    }
    if link_meta.file_type().is_symlink() {
        let target = std::fs::canonicalize(path).map_err(|source| ExportError::Write {
            path: path.into(),
            source,
        })?;
        return Ok((target, true));
    }
    Ok((path.into(), true))
}

/// Whether `path` may be written (nothing there, or a regular file and `overwrite`), before any work is done.
pub fn check_target(path: &Path, overwrite: bool) -> Result<(), ExportError> {
    let (dest, _) = destination(path, overwrite)?;
    check_folder(dest.parent().unwrap_or(Path::new(".")))
}

/// Whether files can go into `dir`: it is a folder, or the nearest part of it that exists is one (so it
/// can be created).
pub fn check_folder(dir: &Path) -> Result<(), ExportError> {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    for part in dir.ancestors().filter(|p| !p.as_os_str().is_empty()) {
        if let Ok(meta) = std::fs::metadata(part) {
            if meta.is_dir() {
                return Ok(());
            }
            return Err(ExportError::CreateDir {
                path: part.into(),
                source: std::io::Error::other("it is a file, not a folder"),
            });
        }
    }
    Ok(())
}

/// The PID in a temporary file name of ours (`.NAME.tmp-PID`).
fn temp_pid(name: &str) -> Option<u32> {
    let (stem, pid) = name.rsplit_once(".tmp-")?;
    if !stem.starts_with('.') || stem.len() < 2 || pid.is_empty() {
        return None;
    }
    pid.parse()
        .ok()
        .filter(|_| pid.chars().all(|c| c.is_ascii_digit()))
}

/// Remove temporary files left in `dir` by vitscope processes that no longer run (once per folder).
fn sweep_stale(dir: &Path) {
    {
        let mut swept = SWEPT.lock().unwrap_or_else(|e| e.into_inner());
        if !swept.get_or_insert_with(HashSet::new).insert(dir.into()) {
            return;
        }
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let me = std::process::id();
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = temp_pid(&name.to_string_lossy()) else {
            continue;
        };
        let regular = e.file_type().is_ok_and(|t| t.is_file());
        if pid != me && regular && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// See [`super::write_atomic`].
pub(super) fn write(
    path: &Path,
    overwrite: bool,
    fill: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> Result<(), ExportError>,
) -> Result<(), ExportError> {
    let (dest, existed) = destination(path, overwrite)?;
    let in_batch = BATCH.with(|b| b.borrow().is_some());
    if in_batch && BATCH.with(|b| b.borrow().iter().flatten().any(|s| s.dest == dest)) {
        return Err(ExportError::SamePath { path: path.into() });
    }
    let dir = dest
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if dir.exists() && !dir.is_dir() {
        return Err(ExportError::CreateDir {
            path: dir.into(),
            source: std::io::Error::other("it is a file, not a folder"),
        });
    }
    std::fs::create_dir_all(dir).map_err(|source| ExportError::CreateDir {
        path: dir.into(),
        source,
    })?;
    sweep_stale(dir);
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let werr = |source| ExportError::Write {
        path: path.into(),
        source,
    };
    let result = (|| {
        // created under the registry's lock: a signal's sweep sees every temporary file that exists
        let file = {
            let mut live = live();
            let file = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&tmp)
                .map_err(werr)?;
            live.push(tmp.clone());
            file
        };
        let mut w = std::io::BufWriter::new(file);
        fill(&mut w)?;
        w.flush().map_err(werr)?;
        let file = w.into_inner().map_err(|e| werr(e.into_error()))?;
        file.sync_all().map_err(werr)?;
        if in_batch {
            BATCH.with(|b| {
                if let Some(staged) = b.borrow_mut().as_mut() {
                    staged.push(Staged {
                        tmp: tmp.clone(),
                        dest: dest.clone(),
                        existed,
                    });
                }
            });
            Ok(())
        } else {
            let mut live = live();
            let renamed = std::fs::rename(&tmp, &dest).map_err(werr);
            live.retain(|p| p != &tmp);
            renamed
        }
    })();
    if result.is_err() {
        let mut live = live();
        let _ = std::fs::remove_file(&tmp);
        live.retain(|p| p != &tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    fn put(path: &Path, overwrite: bool, bytes: &'static [u8]) -> Result<(), ExportError> {
        write(path, overwrite, move |w| {
            w.write_all(bytes).map_err(|source| ExportError::Write {
                path: "x".into(),
                source,
            })
        })
    }

    #[test]
    fn a_batch_that_fails_anywhere_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("c.png"), b"old").unwrap();
        let r: Result<(), ExportError> = all_or_nothing(|| {
            put(&d.join("a.png"), false, b"a")?;
            put(&d.join("b.png"), false, b"b")?;
            put(&d.join("c.png"), false, b"c") // exists, no permission
        });
        assert!(matches!(r, Err(ExportError::Exists { .. })), "{r:?}");
        assert_eq!(names(d), ["c.png"]);
        assert_eq!(std::fs::read(d.join("c.png")).unwrap(), b"old");
        assert!(
            !live().iter().any(|p| p.starts_with(d)),
            "temporary files still registered"
        );
        // two outputs with one path are refused before anything is written
        let r: Result<(), ExportError> = all_or_nothing(|| {
            put(&d.join("x.csv"), true, b"csv")?;
            put(&d.join("x.csv"), true, b"png")
        });
        assert!(matches!(r, Err(ExportError::SamePath { .. })), "{r:?}");
        assert_eq!(names(d), ["c.png"]);
        // a success writes every file, and only then
        let r: Result<(), ExportError> = all_or_nothing(|| {
            put(&d.join("a.png"), false, b"a")?;
            assert!(!d.join("a.png").exists(), "renamed before the batch ended");
            put(&d.join("c.png"), true, b"c")
        });
        r.unwrap();
        assert_eq!(names(d), ["a.png", "c.png"]);
        assert_eq!(std::fs::read(d.join("c.png")).unwrap(), b"c");
    }

    #[test]
    fn a_panic_in_a_batch_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_path_buf();
        let r = std::panic::catch_unwind(|| {
            let _: Result<(), ExportError> = all_or_nothing(|| {
                put(&d.join("a.png"), false, b"a")?;
                panic!("a bug in the middle of an export")
            });
        });
        assert!(r.is_err());
        assert!(names(&d).is_empty(), "{:?}", names(&d));
    }

    #[test]
    fn special_files_are_never_replaced_and_links_are_followed() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let e = put(Path::new("/dev/null"), true, b"x").unwrap_err();
        assert!(
            e.to_string()
                .contains("character device, not a regular file"),
            "{e}"
        );
        std::fs::create_dir(d.join("folder")).unwrap();
        let e = put(&d.join("folder"), true, b"x").unwrap_err();
        assert!(e.to_string().contains("a folder"), "{e}");
        std::fs::write(d.join("real.csv"), b"old").unwrap();
        std::os::unix::fs::symlink(d.join("real.csv"), d.join("link.csv")).unwrap();
        put(&d.join("link.csv"), true, b"new").unwrap();
        assert!(
            std::fs::symlink_metadata(d.join("link.csv"))
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(std::fs::read(d.join("real.csv")).unwrap(), b"new");
    }

    #[test]
    fn stale_temporaries_of_dead_processes_are_swept() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        // PID 4194304 is above Linux's largest PID: never running
        std::fs::write(d.join(".map.png.tmp-4194304"), b"half").unwrap();
        let mine = format!(".other.png.tmp-{}", std::process::id());
        std::fs::write(d.join(&mine), b"in use").unwrap();
        std::fs::write(d.join("notes.tmp-12"), b"not ours").unwrap();
        put(&d.join("new.png"), false, b"x").unwrap();
        assert_eq!(names(d), [mine.as_str(), "new.png", "notes.tmp-12"]);
        assert_eq!(temp_pid(".a.png.tmp-77"), Some(77));
        assert_eq!(temp_pid("a.png.tmp-77"), None);
        assert_eq!(temp_pid(".a.png.tmp-7x"), None);
    }
}
