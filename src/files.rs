//! Reading the files a user names, safely: only regular files are opened (a FIFO would block forever, a
//! device such as `/dev/zero` never ends), and size limits are enforced on the bytes actually read, not on
//! what the file system claims.
use std::fs::{File, FileType};
use std::io::{self, Read};
use std::path::Path;

/// What a file that is not a regular file is, in words ("a named pipe (FIFO)").
pub fn kind_name(ft: &FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if ft.is_fifo() {
            return "a named pipe (FIFO)";
        }
        if ft.is_char_device() {
            return "a character device";
        }
        if ft.is_block_device() {
            return "a block device";
        }
        if ft.is_socket() {
            return "a socket";
        }
    }
    if ft.is_dir() {
        "a folder"
    } else if ft.is_symlink() {
        "a symbolic link"
    } else if ft.is_file() {
        "a regular file"
    } else {
        "not a regular file"
    }
}

fn not_regular(ft: &FileType) -> io::Error {
    io::Error::other(format!("it is {}, not a regular file", kind_name(ft)))
}

/// Open `path` for reading when it is a regular file (symbolic links followed). The open itself never
/// blocks: it is non-blocking, and the type is checked again on the opened file.
pub fn open_regular(path: &Path) -> io::Result<File> {
    let meta = std::fs::metadata(path).map_err(|e| dangling(path, e))?;
    if !meta.is_file() {
        return Err(not_regular(&meta.file_type()));
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.read(true);
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.custom_flags(libc::O_NONBLOCK);
    }
    let file = opts.open(path)?;
    let ft = file.metadata()?.file_type();
    if !ft.is_file() {
        return Err(not_regular(&ft));
    }
    Ok(file)
}

/// A missing target behind an existing symbolic link is named as such (a broken link in a Hugging Face
/// cache is a common sight), not as a plain "not found".
fn dangling(path: &Path, e: io::Error) -> io::Error {
    if e.kind() == io::ErrorKind::NotFound
        && let Ok(link) = std::fs::read_link(path)
    {
        return io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "it is a symbolic link to {}, which does not exist",
                link.display()
            ),
        );
    }
    e
}

/// Read a regular file whole, refusing it with [`io::ErrorKind::FileTooLarge`] once more than `max` bytes
/// have been read (whatever its size claims).
pub fn read_regular(path: &Path, max: u64) -> io::Result<Vec<u8>> {
    let file = open_regular(path)?;
    let hint = file.metadata().map(|m| m.len()).unwrap_or(0).min(max);
    let mut bytes = Vec::with_capacity(hint as usize);
    file.take(max.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(io::Error::new(
            io::ErrorKind::FileTooLarge,
            format!("it holds more than {} MiB", max >> 20),
        ));
    }
    Ok(bytes)
}

/// Read a regular file as UTF-8 text (see [`read_regular`]).
pub fn read_regular_text(path: &Path, max: u64) -> io::Result<String> {
    String::from_utf8(read_regular(path, max)?)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "it is not UTF-8 text"))
}

/// Whether something exists at `path` (a broken symbolic link counts: it is there, and unreadable).
pub fn is_present(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_are_read_and_the_limit_counts_bytes_read() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("a.txt");
        std::fs::write(&f, b"hello").unwrap();
        assert_eq!(read_regular(&f, 5).unwrap(), b"hello");
        let e = read_regular(&f, 4).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::FileTooLarge);
        let e = read_regular(dir.path(), 10).unwrap_err();
        assert!(e.to_string().contains("a folder"), "{e}");
        // a device claims 0 bytes and never ends
        let e = read_regular(Path::new("/dev/zero"), 1 << 20).unwrap_err();
        assert!(e.to_string().contains("character device"), "{e}");
        // a FIFO is refused at once instead of blocking
        let fifo = dir.path().join("pipe");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = read_regular(&fifo, 10).unwrap_err();
        assert!(e.to_string().contains("FIFO"), "{e}");
        // a broken link names its target
        let link = dir.path().join("config.json");
        std::os::unix::fs::symlink(dir.path().join("blobs/gone"), &link).unwrap();
        assert!(is_present(&link));
        let e = read_regular(&link, 10).unwrap_err();
        assert!(e.to_string().contains("blobs/gone"), "{e}");
    }
}
