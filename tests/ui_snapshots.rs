//! Image snapshots of key views, rendered by egui_kittest's wgpu renderer (a software rasteriser where
//! there is no GPU) and compared with tests/snapshots/*.png: a view that looks different fails, and
//! `name.new.png` / `name.diff.png` show how. `UPDATE_SNAPSHOTS=1 cargo test --test ui_snapshots`
//! rewrites them after an intended change; look at them before committing.
mod common;

use common::ui::harness_at;
use egui_kittest::Harness;
use vitscope::ui::App;
use vitscope::ui::settings::View;

fn rendered(view: View, export: &std::path::Path, size: egui::Vec2) -> Harness<'static, App> {
    let mut h = harness_at(Harness::builder().wgpu(), export, view, size);
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
    // every view at both sizes the issue names: 1280x800 (no suffix) and 1920x1080
    for (size, suffix) in [((1280.0, 800.0), ""), ((1920.0, 1080.0), "_1080")] {
        for (view, name) in [
            (View::Attention, "attention"),
            (View::Model, "model_view"),
            (View::Methods, "methods"),
            (View::Compare, "compare"),
            (View::Distance, "distance"),
            (View::Tokens, "tokens"),
            (View::Embeddings, "embeddings"),
        ] {
            let name = format!("{name}{suffix}");
            let mut h = rendered(view, dir.path(), egui::vec2(size.0, size.1));
            if let Err(e) = h.try_snapshot(&name) {
                failures.push(format!("{name}: {e}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
