//! A stand-in Hugging Face hub on 127.0.0.1 (loopback only; it stops when dropped or after two minutes).
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::Digest;

pub const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

/// A hub-shaped HTTP server: `GET /api/models/{repo}/revision/main` lists the files; `GET
/// /{repo}/resolve/main/{file}` serves them with byte ranges, ETag (the SHA-256 for the weights, as LFS
/// files are) and X-Repo-Commit. With `cut` set, a request for the weights from their first byte sends
/// half of them and closes the connection.
pub struct StandInHub {
    port: u16,
    pub cut: Arc<AtomicBool>,
    /// Hold a request for the weights from their first byte, after its headers, while set (at most 30 s).
    pub stall: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<String>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl StandInHub {
    pub fn start(repo: &str, files: BTreeMap<String, Vec<u8>>) -> StandInHub {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let (cut, stall, stop, log) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicBool::new(false)),
            Arc::new(Mutex::new(Vec::new())),
        );
        let (c, st, s, l, repo) = (
            cut.clone(),
            stall.clone(),
            stop.clone(),
            log.clone(),
            repo.to_string(),
        );
        let thread = std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(120);
            while !s.load(Ordering::SeqCst) && Instant::now() < deadline {
                match listener.accept() {
                    Ok((stream, _)) => serve(stream, &repo, &files, &c, &st, &l),
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        StandInHub {
            port,
            cut,
            stall,
            stop,
            log,
            thread: Some(thread),
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn requests(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for StandInHub {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(
    stream: TcpStream,
    repo: &str,
    files: &BTreeMap<String, Vec<u8>>,
    cut: &AtomicBool,
    stall: &AtomicBool,
    log: &Mutex<Vec<String>>,
) {
    stream.set_nonblocking(false).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request = String::new();
    if reader.read_line(&mut request).is_err() {
        return;
    }
    let mut range = None;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((_, v)) = h
            .split_once(':')
            .filter(|(k, _)| k.eq_ignore_ascii_case("range"))
        {
            range = Some(v.trim().to_string());
        }
    }
    let path = request.split_whitespace().nth(1).unwrap_or("").to_string();
    log.lock()
        .unwrap()
        .push(format!("{path} {}", range.clone().unwrap_or_default()));
    let mut out = stream;
    let head = |out: &mut TcpStream, status: &str, headers: &[(&str, String)], len: usize| {
        let mut h = format!("HTTP/1.1 {status}\r\nConnection: close\r\nContent-Length: {len}\r\n");
        for (k, v) in headers {
            h.push_str(&format!("{k}: {v}\r\n"));
        }
        h.push_str("\r\n");
        let _ = out.write_all(h.as_bytes());
    };
    if path == format!("/api/models/{repo}/revision/main") {
        let siblings: Vec<_> = files
            .keys()
            .chain(std::iter::once(&"README.md".to_string()))
            .map(|f| serde_json::json!({ "rfilename": f }))
            .collect();
        let body = serde_json::json!({ "sha": COMMIT, "siblings": siblings }).to_string();
        head(
            &mut out,
            "200 OK",
            &[("Content-Type", "application/json".into())],
            body.len(),
        );
        let _ = out.write_all(body.as_bytes());
        return;
    }
    let prefix = format!("/{repo}/resolve/main/");
    let Some(bytes) = path.strip_prefix(&prefix).and_then(|f| files.get(f)) else {
        head(&mut out, "404 Not Found", &[], 0);
        return;
    };
    let is_weights = path.ends_with(".safetensors");
    let etag = if is_weights {
        format!("\"{:x}\"", sha2::Sha256::digest(bytes))
    } else {
        // a git blob id, as the hub gives small files: no hash to check
        format!("\"{:x}\"", sha2::Sha256::digest(bytes))[..41].to_string() + "\""
    };
    let (start, end) = match range
        .as_deref()
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.split_once('-'))
    {
        Some((a, b)) => (
            a.parse::<usize>().unwrap_or(0),
            b.parse::<usize>().unwrap_or(bytes.len() - 1),
        ),
        None => (0, bytes.len() - 1),
    };
    let body = &bytes[start.min(bytes.len())..=end.min(bytes.len() - 1)];
    head(
        &mut out,
        "206 Partial Content",
        &[
            ("ETag", etag),
            ("X-Repo-Commit", COMMIT.into()),
            (
                "Content-Range",
                format!("bytes {start}-{end}/{}", bytes.len()),
            ),
        ],
        body.len(),
    );
    if is_weights && start == 0 && body.len() > 1 {
        let held = Instant::now();
        while stall.load(Ordering::SeqCst) && held.elapsed() < Duration::from_secs(30) {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    if is_weights && start == 0 && body.len() > 1 && cut.load(Ordering::SeqCst) {
        let _ = out.write_all(&body[..body.len() / 2]);
        let _ = out.flush();
        return; // the connection drops half-way
    }
    let _ = out.write_all(body);
}

pub fn tiny_repo() -> BTreeMap<String, Vec<u8>> {
    ["config.json", "model.safetensors"]
        .iter()
        .map(|f| {
            (
                f.to_string(),
                std::fs::read(super::fixture("dinov2_tiny").join(f)).unwrap(),
            )
        })
        .collect()
}
