//! UI tests: the real `App` driven through egui_kittest (no display needed). They click widgets by
//! label and assert on app state and on files written; the model is the tiny DINOv2 fixture.
mod common;

use std::path::Path;

use common::ui::{click_at, settle};
use common::*;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use vitscope::analysis::{HeadSel, RowsKind};
use vitscope::jobs::QuerySpec;
use vitscope::model::AttentionStore;
use vitscope::ui::App;
use vitscope::ui::app::UiCommand;
use vitscope::ui::settings::View;

fn harness(export_dir: &Path) -> Harness<'static, App> {
    common::ui::harness(export_dir, View::Attention)
}

#[test]
fn opens_with_model_and_image_at_the_last_layer_with_cls_query() {
    let dir = tempfile::tempdir().unwrap();
    let h = harness(dir.path());
    let s = &h.state().state;
    assert_eq!(s.model.as_ref().unwrap().layers, 3);
    assert!(s.error.is_none(), "{:?}", s.error);
    assert_eq!(
        s.input_hw,
        Some((24, 36)),
        "chelsea 451x300 -> shorter side 24, 9 patches wide"
    );
    assert_eq!(s.layer, 2);
    assert_eq!(s.query, QuerySpec::Cls);
    let map = h.state().shown_map().unwrap();
    assert_eq!((map.h, map.w), (6, 9));
    // the map over patches plus the prefix mass is the whole attention row
    let rows = s.rows.as_ref().unwrap();
    assert!((map.sum() + rows.prefix_mass(s.layer, s.head) - 1.0).abs() < 1e-5);
}

#[test]
fn layer_buttons_and_head_thumbnails_change_the_shown_map() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(dir.path());
    let before = h.state().shown_map().unwrap();
    h.get_by_label("Prev layer").click();
    settle(&mut h);
    assert_eq!(h.state().state.layer, 1);
    let layer1 = h.state().shown_map().unwrap();
    assert_ne!(before, layer1, "a different layer shows a different map");
    h.get_by_label("h2").click();
    settle(&mut h);
    assert_eq!(h.state().state.head, HeadSel::Head(2));
    let head2 = h.state().shown_map().unwrap();
    assert_ne!(layer1, head2);
    let rows = h.state().state.rows.clone().unwrap();
    assert_eq!(head2, rows.patch_map(1, HeadSel::Head(2)));
    h.get_by_label("Next layer").click();
    settle(&mut h);
    assert_eq!(h.state().state.layer, 2);
    assert!(h.query_by_label("Next layer").is_some());
}

#[test]
fn clicking_a_patch_makes_it_the_query() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(dir.path());
    let rect = h.get_by_label("Attention map").rect();
    let (r, c) = (4usize, 7usize);
    let pos = rect.min
        + egui::vec2(
            (c as f32 + 0.5) / 9.0 * rect.width(),
            (r as f32 + 0.5) / 6.0 * rect.height(),
        );
    click_at(&mut h, pos);
    let s = &h.state().state;
    assert_eq!(s.query, QuerySpec::Patch(r, c));
    let rows = s.rows.as_ref().unwrap();
    assert_eq!(rows.query, rows.layout.token_of_patch(r, c).unwrap());
    assert!(
        h.query_by_label_contains("Query: patch row 4, col 7")
            .is_some()
    );
    h.get_by_label("Query CLS").click();
    settle(&mut h);
    assert_eq!(h.state().state.query, QuerySpec::Cls);
    assert_eq!(h.state().state.rows.as_ref().unwrap().query, 0);
}

#[test]
fn export_buttons_write_decodable_pngs_with_provenance() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(dir.path());
    h.get_by_label("Export map").click();
    settle(&mut h);
    let files = h.state().state.last_export.clone();
    assert_eq!(files.len(), 1, "{:?}", h.state().state.error);
    let img = image::open(&files[0]).unwrap();
    assert_eq!(
        (img.width(), img.height()),
        (451, 300),
        "overlay at the photo's resolution"
    );
    let text = vitscope::export::png_file::read_png_text(&files[0]).unwrap();
    assert!(
        text.contains(&("vitscope.layer".to_string(), "2".to_string())),
        "{text:?}"
    );
    assert!(
        text.contains(&("vitscope.query".to_string(), "CLS".to_string())),
        "{text:?}"
    );

    assert!(
        h.query_by_label("Exported chelsea_dinov2-tiny_cls_L02_mean.png")
            .is_some()
    );
    assert!(h.query_by_label("Open folder").is_some());

    // Another export whose name is free gets exactly that name (no numbered stem).
    h.get_by_label("Export head grid").click();
    settle(&mut h);
    let grid = h.state().state.last_export.clone();
    assert_eq!(grid.len(), 1);
    assert_eq!(
        grid[0].file_name().unwrap().to_string_lossy(),
        "chelsea_dinov2-tiny_cls_L02_heads.png"
    );
    let g = image::open(&grid[0]).unwrap();
    // the head mean and 4 heads, 36x24 tiles in a 3x2 grid with 4 px gaps
    assert_eq!((g.width(), g.height()), (3 * 36 + 4 * 4, 2 * 24 + 3 * 4));
    // E's feedback stays in sight in the status bar
    assert!(
        h.query_by_label("last export: chelsea_dinov2-tiny_cls_L02_heads.png")
            .is_some()
    );

    // All layers: L00..L02 of the mean and the mosaic; only the one file that exists is named in the question.
    h.get_by_label("Export all layers").click();
    settle(&mut h);
    let (_, existing) = h.state().state.overwrite_prompt.clone().expect("asked");
    assert_eq!(existing, ["chelsea_dinov2-tiny_cls_L02_mean.png"]);
    h.get_by_label("Cancel export").click();
    settle(&mut h);
    assert!(h.state().state.overwrite_prompt.is_none());
    assert!(
        !dir.path()
            .join("chelsea_dinov2-tiny_cls_mosaic.png")
            .exists(),
        "cancelled"
    );

    // Exporting the same map again asks; keeping both writes a numbered name and never overwrites.
    let before = std::fs::read(&files[0]).unwrap();
    h.get_by_label("Export map").click();
    settle(&mut h);
    assert!(h.state().state.overwrite_prompt.is_some());
    h.get_by_label("Keep both").click();
    settle(&mut h);
    let again = h.state().state.last_export.clone();
    assert_eq!(again.len(), 1);
    assert_eq!(
        again[0].file_name().unwrap().to_string_lossy(),
        "chelsea_dinov2-tiny-2_cls_L02_mean.png"
    );
    assert_eq!(std::fs::read(&files[0]).unwrap(), before);
}

#[test]
fn a_bad_image_shows_an_error_and_keeps_the_previous_state() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("broken.png");
    std::fs::write(&bad, b"\x89PNG\r\n\x1a\nthis is not really a png").unwrap();
    let mut h = harness(dir.path());
    let before_map = h.state().shown_map().unwrap();
    h.state_mut().state.image_field = bad.display().to_string();
    h.get_by_label("Load image").click();
    settle(&mut h);
    let s = &h.state().state;
    let err = s.error.clone().expect("an error is shown");
    assert!(err.contains("broken.png"), "{err}");
    assert!(
        h.query_by_label_contains("cannot decode image").is_some(),
        "the error is on screen"
    );
    assert_eq!(
        s.image_path.as_deref(),
        Some(root().join("assets/chelsea.png").as_path())
    );
    assert_eq!(h.state().shown_map().unwrap(), before_map);

    // a mismatched checkpoint: same story, the tiny model stays loaded
    h.state_mut().state.model_field = root()
        .join("tests/fixtures/dinov2_tiny/reference.safetensors")
        .display()
        .to_string();
    h.get_by_label("Load model").click();
    settle(&mut h);
    let s = &h.state().state;
    assert!(
        s.error
            .as_deref()
            .unwrap_or("")
            .contains("unknown checkpoint layout"),
        "{:?}",
        s.error
    );
    assert_eq!(s.model.as_ref().unwrap().layers, 3);
    assert_eq!(h.state().shown_map().unwrap(), before_map);
}

/// Switching models keeps the image: a model without a class token starts at the centre patch, a
/// classifier shows its top classes by name, and the query buttons follow each model's prefix tokens.
#[test]
fn switching_models_keeps_the_image_and_follows_each_token_layout() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(dir.path());
    assert!(
        h.state().state.classes.is_empty(),
        "DINOv2 has no classifier"
    );
    assert!(h.query_by_label("Top classes").is_none());

    let load = common::ui::load_zoo;
    load(&mut h, "timm_vit_gap");
    let s = &h.state().state;
    assert_eq!(s.model.as_ref().unwrap().prefix_tokens.len(), 0);
    assert_eq!(
        s.image_path.as_deref(),
        Some(root().join("assets/chelsea.png").as_path()),
        "the image stays"
    );
    assert_eq!(s.input_hw, Some((24, 36)));
    assert_eq!(
        s.query,
        QuerySpec::Patch(3, 4),
        "no CLS: the centre patch of the 6x9 grid"
    );
    assert!(h.query_by_label("Query CLS").is_none());
    assert_eq!(s.classes.len(), 5, "top 5 of 6 classes");

    load(&mut h, "hf_deit_distilled");
    assert_eq!(h.state().state.query, QuerySpec::Cls);
    let cls_map = h.state().shown_map().unwrap();
    h.get_by_label("Query DIST").click();
    settle(&mut h);
    assert_eq!(h.state().state.query, QuerySpec::Prefix(1));
    assert_ne!(
        h.state().shown_map().unwrap(),
        cls_map,
        "the distillation token attends elsewhere"
    );

    load(&mut h, "hf_vit");
    let s = &h.state().state;
    let names: Vec<&str> = s.classes.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names.len(), 5);
    assert!(
        names.contains(&"tabby cat") && names.contains(&"teapot"),
        "{names:?}"
    );
    assert!(h.query_by_label("Top classes").is_some());
    assert!(
        h.query_by_label(names[0]).is_some(),
        "the best class is on screen"
    );
    // The left panel scrolls: wheel down over it until the section is in view, then open it.
    let at = h.get_by_label("Export map").rect().center();
    h.input_mut().events.push(egui::Event::PointerMoved(at));
    for _ in 0..5 {
        h.input_mut().events.push(egui::Event::MouseWheel {
            unit: egui::MouseWheelUnit::Point,
            delta: egui::vec2(0.0, -200.0),
            modifiers: Default::default(),
            phase: egui::TouchPhase::Move,
            source: egui::MouseWheelSource::Wheel,
        });
        h.run_steps(2);
    }
    h.get_by_label("Model info").click();
    h.run_steps(4);
    let found: Vec<String> = h
        .query_all_by_label_contains("Checkpoint")
        .map(|n| format!("{n:?}").chars().take(200).collect())
        .collect();
    assert!(
        h.query_by_label("Checkpoint: Hugging Face ViTForImageClassification")
            .is_some(),
        "{found:?}"
    );
}

#[test]
fn attention_storage_reruns_and_keeps_the_maps() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(dir.path());
    let f32_rows = h.state().state.rows.clone().unwrap();
    let f32_bytes = h.state().state.attention_bytes.unwrap();
    assert_eq!(h.state().state.attention, AttentionStore::F32);
    h.get_by_label_contains("attention kept:");
    for (store, tol) in [
        (AttentionStore::QueryKeys, 1e-6),
        (AttentionStore::Bf16, 1e-2),
        (AttentionStore::F32, 0.0),
    ] {
        h.get_by_label("Attention storage").click();
        h.run_steps(2);
        h.get_by_label(store.describe()).click();
        settle(&mut h);
        let s = &h.state().state;
        assert!(s.error.is_none(), "{:?}", s.error);
        assert_eq!(s.attention, store);
        let rows = s.rows.as_ref().unwrap();
        let d = max_abs_diff(&rows.data, &f32_rows.data);
        assert!(d <= tol, "{store:?}: {d}");
        let bytes = s.attention_bytes.unwrap();
        match store {
            AttentionStore::Bf16 => {
                assert!(d > 0.0, "bf16 rounds");
                assert_eq!(bytes * 2, f32_bytes);
            }
            AttentionStore::QueryKeys => assert!(bytes < f32_bytes),
            _ => assert_eq!(bytes, f32_bytes),
        }
        // The shown map follows the rows of the new run.
        assert_eq!(
            h.state().shown_map().unwrap(),
            rows.patch_map(s.layer, s.head)
        );
    }
}

#[test]
fn siglip_and_swin_open_with_their_own_queries() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(dir.path());
    let load = common::ui::load_zoo;
    // SigLIP: no CLS, so the probe of the attention-pooling head is the query, with its own button; a patch
    // click leaves it and the button brings it back.
    load(&mut h, "hf_siglip_vision");
    let rows = h.state().state.rows.clone().unwrap();
    assert_eq!(rows.kind, RowsKind::Probe);
    assert!(h.query_by_label("Query CLS").is_none());
    assert!(h.query_by_label_contains("Query: MAP").is_some());
    let per_head = rows.row(0, HeadSel::Head(1));
    assert!(
        (per_head.iter().sum::<f32>() - 1.0).abs() < 1e-4,
        "a softmax row"
    );
    let rect = h.get_by_label("Attention map").rect();
    click_at(&mut h, rect.center());
    assert_eq!(h.state().state.rows.as_ref().unwrap().kind, RowsKind::Token);
    h.get_by_label("Query MAP").click();
    settle(&mut h);
    assert_eq!(h.state().state.query, QuerySpec::Probe);
    assert_eq!(h.state().state.rows.as_ref().unwrap().kind, RowsKind::Probe);

    // Swin: a click shows the clicked cell's window in every block, nothing outside it.
    load(&mut h, "timm_swin");
    let rect = h.get_by_label("Attention map").rect();
    click_at(
        &mut h,
        rect.min + egui::vec2(rect.width() * 0.3, rect.height() * 0.6),
    );
    let s = &h.state().state;
    let rows = s.rows.as_ref().unwrap();
    assert_eq!(rows.kind, RowsKind::Windows);
    assert!(matches!(s.query, QuerySpec::Patch(..)));
    assert_eq!(rows.layers, 4);
    for l in 0..4 {
        let row = rows.row(l, HeadSel::Mean);
        // a 3x3 window of stage cells; a stage-1 cell covers 2x2 stem cells
        let cells = row.iter().filter(|v| **v > 0.0).count();
        assert!(
            cells > 0 && cells <= if l < 2 { 9 } else { 36 },
            "block {l}: {cells}"
        );
        assert!(row.iter().sum::<f32>() <= 1.0 + 1e-5);
    }
    // Every head of every block, each stage with its own head count (2 then 4); the mean is over the block's
    // own heads, and a head the block lacks is never shown.
    assert_eq!(rows.layer_heads, [2, 2, 4, 4]);
    assert_eq!(rows.heads, 4);
    for l in 0..4 {
        let own = rows.heads_at(l);
        let per_head: Vec<Vec<f32>> = (0..own).map(|k| rows.row(l, HeadSel::Head(k))).collect();
        for (k, r) in per_head.iter().enumerate() {
            let sum = r.iter().sum::<f32>();
            assert!(sum > 0.0 && sum <= 1.0 + 1e-5, "block {l} h{k}: {sum}");
        }
        assert_ne!(per_head[0], per_head[1], "heads differ");
        let mean = rows.row(l, HeadSel::Mean);
        for (i, m) in mean.iter().enumerate() {
            let avg = per_head.iter().map(|r| r[i]).sum::<f32>() / own as f32;
            assert!((m - avg).abs() < 1e-6);
        }
        assert!(!rows.has_head(l, HeadSel::Head(own)));
    }
    assert!(h.query_by_label("h3").is_some(), "the last block's 4 heads");
    assert!(
        h.query_by_label_contains("4 blocks × 2/4 heads (per stage)")
            .is_some()
    );
    h.state_mut().apply(UiCommand::SetHead(HeadSel::Head(3)));
    h.state_mut().apply(UiCommand::SetLayer(0));
    settle(&mut h);
    assert_eq!(h.state().state.head, HeadSel::Mean, "block 0 has 2 heads");
    assert!(
        h.state()
            .state
            .notice
            .as_deref()
            .is_some_and(|n| n.contains("h3 does not exist in layer 0 (2 heads there)")),
        "{:?}",
        h.state().state.notice
    );
    assert!(h.query_by_label("h1").is_some() && h.query_by_label("h2").is_none());
    h.state_mut().apply(UiCommand::SetLayer(3));
    settle(&mut h);
    assert!(
        h.query_by_label_contains("Swin: each block attends inside windows")
            .is_some()
    );
    // the last layer is stage 1's second block
    assert!(h.query_by_label("stage 1, block 1").is_some());
}
