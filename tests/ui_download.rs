//! The app's Download button: a hub repo id typed in the model field is fetched from a stand-in hub on
//! 127.0.0.1 only when the button is clicked, with progress, then opened. One test per binary: it sets
//! HF_ENDPOINT and HF_HUB_CACHE for the whole process before the app starts.
mod common;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::hub::{COMMIT, StandInHub, tiny_repo};
use common::ui::{harness, settle};
use egui_kittest::kittest::Queryable;
use vitscope::ui::settings::View;

#[test]
fn the_download_button_fetches_and_opens_a_repo_id() {
    let hub = StandInHub::start("org/tiny", tiny_repo());
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("hub");
    // SAFETY: the only test of this binary, and no other thread has started yet.
    unsafe {
        std::env::set_var("HF_ENDPOINT", hub.endpoint());
        std::env::set_var("HF_HUB_CACHE", &cache);
    }
    let mut h = harness(tmp.path(), View::Attention);
    assert!(h.query_by_label("Download from the hub").is_none());

    // Typing the id and pressing Load is refused with the way on; nothing is fetched.
    h.state_mut().state.model_field = "org/tiny".into();
    h.step();
    h.get_by_label("Load model").click();
    settle(&mut h);
    let err = h.state().state.error.clone().expect("not in the cache");
    assert!(err.contains("Download"), "{err}");
    assert!(hub.requests().is_empty(), "{:?}", hub.requests());

    // The hub stalls in the middle of the weights: Cancel answers at once, the model in use stays, and
    // nothing broken is left in the cache.
    let before = h.state().state.model.as_ref().map(|m| m.path.clone());
    hub.stall.store(true, Ordering::SeqCst);
    h.get_by_label("Download from the hub").click();
    let waiting = Instant::now();
    // Wait until the weights are on the way and a frame has shown their progress with its Cancel button
    // (the app reads the worker's progress once per frame, so the button can lag the progress by a frame).
    while !(h
        .state()
        .progress()
        .is_some_and(|(what, _, _)| what.contains("model.safetensors"))
        && h.query_by_label("Cancel").is_some())
    {
        assert!(
            waiting.elapsed() < Duration::from_secs(20),
            "no progress shown"
        );
        h.step();
        std::thread::sleep(Duration::from_millis(10));
    }
    let asked = Instant::now();
    h.get_by_label("Cancel").click();
    settle(&mut h);
    assert!(
        asked.elapsed() < Duration::from_secs(3),
        "{:?}",
        asked.elapsed()
    );
    let s = &h.state().state;
    // a stop the user asked for is said as such, not shown as a failure
    assert!(s.error.is_none(), "{:?}", s.error);
    let said = s.notice.clone().expect("the cancel is said");
    assert!(said.contains("cancelled"), "{said}");
    assert_eq!(s.model.as_ref().map(|m| m.path.clone()), before);
    let snap = cache.join("models--org--tiny/snapshots").join(COMMIT);
    assert!(!snap.join("model.safetensors").exists());
    hub.stall.store(false, Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(300)); // the stalled reader ends at its next read

    h.get_by_label("Download from the hub").click();
    settle(&mut h);
    let s = &h.state().state;
    assert!(s.error.is_none(), "{:?}", s.error);
    let m = s.model.as_ref().expect("the downloaded model is open");
    assert_eq!(m.path, snap.join("model.safetensors"));
    assert!(s.rows.is_some(), "the model ran on the photo");
    assert!(
        hub.requests()
            .iter()
            .any(|r| r.contains("model.safetensors"))
    );
}
