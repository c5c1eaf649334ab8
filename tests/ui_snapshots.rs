//! Image snapshots of key views, rendered by egui_kittest's wgpu renderer (a software rasteriser where
//! there is no GPU) and compared with tests/snapshots/*.png: a view that looks different fails, and
//! `name.new.png` / `name.diff.png` show how. `UPDATE_SNAPSHOTS=1 cargo test --test ui_snapshots`
//! rewrites them after an intended change; look at them before committing.
mod common;

use common::ui::harness_from;
use egui_kittest::Harness;
use vitscope::ui::App;
use vitscope::ui::settings::View;

fn rendered(view: View, export: &std::path::Path) -> Harness<'static, App> {
    let mut h = harness_from(Harness::builder().wgpu(), export, view);
    stabilise(&mut h);
    h
}

/// What varies between machines and runs, made constant: the path fields (the clone's location) and
/// the measured timings.
fn stabilise(h: &mut Harness<'static, App>) {
    let s = &mut h.state_mut().state;
    s.image_field = "assets/chelsea.png".into();
    s.model_field = "tests/fixtures/dinov2_tiny".into();
    s.export_field = "vitscope-export".into();
    s.forward_ms = Some(0.0);
    for (_, _, r) in &mut s.results {
        if let vitscope::jobs::AnalysisResult::Methods(maps, _) = r {
            for m in maps {
                m.ms = 0.0;
            }
        }
    }
    for _ in 0..3 {
        h.step();
    }
}

#[test]
fn key_views_look_as_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for (view, name) in [
        (View::Attention, "attention"),
        (View::Model, "model_view"),
        (View::Methods, "methods"),
        (View::Compare, "compare"),
        (View::Distance, "distance"),
    ] {
        let mut h = rendered(view, dir.path());
        if let Err(e) = h.try_snapshot(name) {
            failures.push(format!("{name}: {e}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
