//! Helpers for the egui_kittest tests: the real App on the tiny DINOv2 fixture, frames until the worker is
//! idle, clicks at a position.
use std::path::Path;
use std::time::{Duration, Instant};

use egui_kittest::Harness;
use vitscope::model::{InputSize, ModelSource};
use vitscope::ui::settings::View;
use vitscope::ui::{App, StartOptions};

use super::{fixture, root};

/// The app on the tiny DINOv2 and chelsea.png at 24 px (a 6×9 grid), exporting to `export_dir`.
pub fn harness(export_dir: &Path, view: View) -> Harness<'static, App> {
    harness_from(Harness::builder(), export_dir, view)
}

/// [`harness`] from a builder (for example one that renders with wgpu).
pub fn harness_from(
    builder: egui_kittest::HarnessBuilder<App>,
    export_dir: &Path,
    view: View,
) -> Harness<'static, App> {
    harness_at(builder, export_dir, view, egui::vec2(1280.0, 800.0))
}

/// [`harness_from`] with a window of `size` points.
#[allow(dead_code)]
pub fn harness_at(
    builder: egui_kittest::HarnessBuilder<App>,
    export_dir: &Path,
    view: View,
    size: egui::Vec2,
) -> Harness<'static, App> {
    let start = StartOptions {
        model: Some(ModelSource::Path(fixture("dinov2_tiny"))),
        image: Some(root().join("assets/chelsea.png")),
        size: InputSize::Shorter(24),
        export_dir: Some(export_dir.to_path_buf()),
        view: Some(view),
        ..Default::default()
    };
    let mut h = builder
        .with_size(size)
        .build_eframe(|cc| App::new(cc, start));
    settle(&mut h);
    h
}

/// Step frames until the worker has answered everything (views send requests during a frame).
pub fn settle(h: &mut Harness<'static, App>) {
    let start = Instant::now();
    for _ in 0..3 {
        loop {
            h.step();
            if !h.state().busy() {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "worker did not finish"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    h.step();
}

/// Type the zoo fixture `case` into the model field, load it and wait; the load must succeed.
pub fn load_zoo(h: &mut Harness<'static, App>, case: &str) {
    h.state_mut().state.model_field = fixture(&format!("zoo/{case}")).display().to_string();
    egui_kittest::kittest::Queryable::get_by_label(&*h, "Load model").click();
    settle(h);
    assert!(
        h.state().state.error.is_none(),
        "{case}: {:?}",
        h.state().state.error
    );
}

/// A primary click at `pos`, then frames until idle.
pub fn click_at(h: &mut Harness<'static, App>, pos: egui::Pos2) {
    h.input_mut().events.push(egui::Event::PointerMoved(pos));
    for pressed in [true, false] {
        h.input_mut().events.push(egui::Event::PointerButton {
            pos,
            button: egui::PointerButton::Primary,
            pressed,
            modifiers: Default::default(),
        });
    }
    settle(h);
}

/// Copy sample images from assets/ into `dir`.
pub fn copy_assets(dir: &Path, names: &[&str]) {
    for f in names {
        std::fs::copy(root().join("assets").join(f), dir.join(f)).unwrap();
    }
}

/// File names in `dir`, sorted.
pub fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}
