//! Downloads from the hub, end to end, against a stand-in hub on 127.0.0.1 (loopback only; it stops by
//! itself when the test ends or after two minutes): `--download` fetches a repo id into a fresh cache,
//! a cut connection leaves no broken file and the next download resumes, cancelling leaves nothing broken,
//! and nothing is fetched unless asked.
mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::Ordering;

use common::hub::{COMMIT, StandInHub, tiny_repo};
use sha2::Digest;

fn vitscope(hub: &StandInHub, cache: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_vitscope"))
        .args(args)
        .env("HF_ENDPOINT", hub.endpoint())
        .env("HF_HUB_CACHE", cache)
        .env_remove("HF_TOKEN")
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env_remove("HTTP_PROXY")
        .env_remove("http_proxy")
        .env_remove("ALL_PROXY")
        .env_remove("all_proxy")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Every regular file under `dir`, relative.
fn files_under(dir: &Path) -> Vec<String> {
    fn walk(d: &Path, base: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() && !p.is_symlink() {
                walk(&p, base, out);
            } else {
                out.push(p.strip_prefix(base).unwrap().display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

#[test]
fn download_is_asked_for_checked_and_resumed_after_a_cut() {
    let files = tiny_repo();
    let weights = files["model.safetensors"].clone();
    let hub = StandInHub::start("org/tiny", files);
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("hub");

    // Not in the cache and not asked for: refused, with the way on, and the hub is never contacted.
    let (ok, _, err) = vitscope(&hub, &cache, &["info", "--model", "org/tiny"]);
    assert!(!ok && err.contains("--download"), "{err}");
    assert!(hub.requests().is_empty(), "{:?}", hub.requests());

    // The connection drops half-way through the weights: a clear error, and no broken file in the cache.
    hub.cut.store(true, Ordering::SeqCst);
    let (ok, _, err) = vitscope(&hub, &cache, &["info", "--model", "org/tiny", "--download"]);
    assert!(!ok, "a cut download must fail");
    assert!(err.contains("model.safetensors"), "{err}");
    let snap = cache.join("models--org--tiny/snapshots").join(COMMIT);
    assert!(!snap.join("model.safetensors").exists());
    let blob = format!("{:x}", sha2::Sha256::digest(&weights));
    let listed = files_under(&cache);
    assert!(
        !listed.iter().any(|f| f.ends_with(&blob)),
        "a partial blob was left under its final name: {listed:?}"
    );
    // what is left of the weights is the resumable part file
    let part = cache.join(format!("models--org--tiny/blobs/{blob}.part"));
    let part_len = std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
    assert!(
        part_len > 0 && part_len < weights.len() as u64,
        "{part_len} of {} bytes; {listed:?}",
        weights.len()
    );

    // Again, with the hub whole: the download resumes from the part file and the model opens.
    hub.cut.store(false, Ordering::SeqCst);
    let (ok, out, err) = vitscope(&hub, &cache, &["info", "--model", "org/tiny", "--download"]);
    assert!(ok, "{err}");
    assert!(out.contains("\"family\""), "{out}");
    assert!(err.contains("downloaded org/tiny"), "{err}");
    assert_eq!(
        std::fs::read(snap.join("model.safetensors")).unwrap(),
        weights
    );
    assert!(
        hub.requests()
            .iter()
            .any(|r| r.contains("model.safetensors") && r.ends_with(&format!("bytes={part_len}-"))),
        "no resumed range request: {:?}",
        hub.requests()
    );
    assert!(!part.exists());

    // Cached now: opens without --download, and --download fetches nothing again.
    let before = hub.requests().len();
    let (ok, _, err) = vitscope(&hub, &cache, &["info", "--model", "org/tiny"]);
    assert!(ok, "{err}");
    assert_eq!(hub.requests().len(), before);
    let (ok, _, err) = vitscope(&hub, &cache, &["info", "--model", "org/tiny", "--download"]);
    assert!(ok, "{err}");
    let again: Vec<String> = hub.requests()[before..].to_vec();
    assert!(
        again.iter().all(|r| r.starts_with("/api/")),
        "files fetched again: {again:?}"
    );
}

#[test]
fn a_missing_repo_and_a_cancelled_download_are_said_plainly() {
    let hub = StandInHub::start("org/tiny", tiny_repo());
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("hub");
    let (ok, _, err) = vitscope(
        &hub,
        &cache,
        &["info", "--model", "org/nothing", "--download"],
    );
    assert!(!ok && err.contains("org/nothing was not found"), "{err}");
    let (ok, _, err) = vitscope(&hub, &cache, &["info", "--model", "./here", "--download"]);
    assert!(!ok && err.contains("repo id"), "{err}");

    // Cancelled after the first bytes of the weights: Cancelled, and no file under its final name.
    let mut seen = Vec::new();
    let r = vitscope::model::hub::download("org/tiny", &cache, &hub.endpoint(), &mut |p| {
        seen.push(p.clone());
        !(p.file == "model.safetensors" && p.done > 0)
    });
    let e = r.unwrap_err();
    assert!(
        matches!(e, vitscope::model::hub::HubError::Cancelled { .. }),
        "{e}"
    );
    assert!(e.to_string().contains("cancelled"), "{e}");
    let snap: PathBuf = cache.join("models--org--tiny/snapshots").join(COMMIT);
    assert!(snap.join("config.json").is_file());
    assert!(!snap.join("model.safetensors").exists());
    assert!(
        seen.iter()
            .any(|p| p.file == "config.json" && p.done == p.total && p.index == 1)
    );
    assert!(seen.iter().all(|p| p.files == 2));
    // and it completes afterwards
    let snapshot =
        vitscope::model::hub::download("org/tiny", &cache, &hub.endpoint(), &mut |_| true).unwrap();
    assert_eq!(snapshot, snap);
    let mut got = Vec::new();
    std::fs::File::open(snap.join("model.safetensors"))
        .unwrap()
        .read_to_end(&mut got)
        .unwrap();
    assert_eq!(got, tiny_repo()["model.safetensors"]);
}

#[test]
fn a_sharded_repo_downloads_its_index_and_every_shard() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    common::shard_tiny(&src);
    let files: std::collections::BTreeMap<String, Vec<u8>> = std::fs::read_dir(&src)
        .unwrap()
        .flatten()
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    assert_eq!(files.len(), 5, "{:?}", files.keys());
    let hub = StandInHub::start("org/sharded", files.clone());
    let cache = tmp.path().join("hub");
    let (ok, out, err) = vitscope(
        &hub,
        &cache,
        &["info", "--model", "org/sharded", "--download"],
    );
    assert!(ok, "{err}");
    assert!(out.contains("\"family\""), "{out}");
    assert!(
        err.contains("[5/5]"),
        "the index adds its three shards: {err}"
    );
    let snap = cache.join("models--org--sharded/snapshots").join(COMMIT);
    for (name, bytes) in &files {
        assert_eq!(&std::fs::read(snap.join(name)).unwrap(), bytes, "{name}");
    }
}
