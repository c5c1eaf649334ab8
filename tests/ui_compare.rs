//! Compare panes of other images and other models (egui_kittest, the real App on the tiny DINOv2): each
//! pane's map equals the same model run directly on that image, the query follows by position, and a
//! click on another image's pane moves the query to the same place in the current image.
mod common;

use common::ui::{click_at, harness, settle};
use common::*;
use egui_kittest::kittest::Queryable;
use vitscope::analysis::HeadSel;
use vitscope::engine::Engine;
use vitscope::jobs::{PaneSource, QuerySpec};
use vitscope::model::{DeviceChoice, InputSize, ModelSource, Precision};
use vitscope::ui::compare_view::{Pane, pane_maps};
use vitscope::ui::settings::View;

/// The tiny model run directly on `image` (24 px), as the pane should show it.
fn direct(model: &str, image: &str, layer: usize, query: QuerySpec) -> (Vec<f32>, (usize, usize)) {
    let mut e = Engine {
        size: InputSize::Shorter(24),
        ..Default::default()
    };
    e.load_model(
        &ModelSource::Path(fixture(model)),
        DeviceChoice::Cpu,
        Precision::F32,
    )
    .unwrap();
    e.load_image(&root().join(image)).unwrap();
    let layout = e.layout().unwrap().clone();
    let token = query.token(&layout).unwrap();
    let rows = e.query_rows(token, false).unwrap().unwrap();
    let g = rows.patch_map(layer, HeadSel::Mean);
    (g.data, (g.h, g.w))
}

#[test]
fn panes_of_another_image_and_another_model_follow_the_query() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(dir.path(), View::Compare);
    settle(&mut h);
    assert!(h.query_by_label("Source 2").is_some());
    // Pane 2 (last layer, mean) shows astronaut.png (square: a 6×6 grid against chelsea's 6×9).
    h.state_mut().state.compare_sources = vec![
        PaneSource::Current,
        PaneSource::Image(root().join("assets/astronaut.png")),
    ];
    settle(&mut h);
    let maps = pane_maps(&h.state().state);
    let other = &maps[1];
    assert!(other.label.contains("astronaut.png"), "{}", other.label);
    let grid = other.grid.as_ref().expect("computed");
    let (want, hw) = direct("dinov2_tiny", "assets/astronaut.png", 2, QuerySpec::Cls);
    assert_eq!((grid.h, grid.w), hw);
    assert_eq!(hw, (6, 6));
    assert!(max_abs_diff(&grid.data, &want) < 1e-6);
    assert!(
        other
            .photo
            .as_ref()
            .is_some_and(|p| p.dimensions() == (512, 512))
    );
    assert!(h.query_by_label_contains("astronaut.png").is_some());

    // A patch query moves there too, at the same place: (2, 4) of 6×9 is (2, 3) of 6×6.
    h.state_mut()
        .apply(vitscope::ui::app::UiCommand::SetQuery(QuerySpec::Patch(
            2, 4,
        )));
    settle(&mut h);
    let maps = pane_maps(&h.state().state);
    let (want, _) = direct(
        "dinov2_tiny",
        "assets/astronaut.png",
        2,
        QuerySpec::Patch(2, 3),
    );
    assert!(max_abs_diff(&maps[1].grid.as_ref().unwrap().data, &want) < 1e-6);

    // A click in the astronaut pane's top-right cell moves the query to chelsea's top-right cell.
    let rect = h.get_by_label_contains("astronaut.png").rect();
    click_at(&mut h, rect.min + egui::vec2(rect.width() - 2.0, 2.0));
    assert_eq!(h.state().state.query, QuerySpec::Patch(0, 8));

    // Pane 1 (layer 0) shows chelsea through another model (a 2-layer Hugging Face ViT).
    h.state_mut().state.compare_sources[0] =
        PaneSource::Model(ModelSource::Path(fixture("zoo/hf_vit")));
    h.state_mut()
        .apply(vitscope::ui::app::UiCommand::SetQuery(QuerySpec::Cls));
    settle(&mut h);
    let maps = pane_maps(&h.state().state);
    let rows = maps[0].rows.as_ref().expect("computed");
    assert_eq!(rows.layers, 2);
    let (want, _) = direct("zoo/hf_vit", "assets/chelsea.png", 0, QuerySpec::Cls);
    assert!(max_abs_diff(&maps[0].grid.as_ref().unwrap().data, &want) < 1e-6);
    assert!(maps[0].photo.is_none(), "the current photo");

    // A method pane ignores its source: methods use the current image and model.
    h.state_mut().state.compare[0] = Pane::Method(vitscope::methods::QueryMethod::Rollout);
    settle(&mut h);
    assert_eq!(pane_maps(&h.state().state)[0].label, "Rollout");
    assert!(
        h.state().state.error.is_none(),
        "{:?}",
        h.state().state.error
    );
}

/// New panes show something the others do not, and each pane is picked by kind, layer and head.
#[test]
fn new_panes_differ_and_are_picked_by_layer_and_head() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(dir.path(), View::Compare);
    settle(&mut h);
    h.get_by_label("4").click();
    settle(&mut h);
    let panes = h.state().state.compare.clone();
    assert_eq!(panes.len(), 4);
    for (i, a) in panes.iter().enumerate() {
        for b in &panes[i + 1..] {
            assert_ne!(a, b, "{panes:?}");
        }
    }
    for i in 1..=4 {
        assert!(h.query_by_label(&format!("Pane {i}")).is_some());
        assert!(h.query_by_label(&format!("Layer {i}")).is_some());
        assert!(h.query_by_label(&format!("Head {i}")).is_some());
    }
    // the head picker of pane 1 lists only that layer's heads (mean, h0..h3 of the tiny model)
    h.get_by_label("Head 1").click();
    h.run_steps(2);
    assert!(h.query_by_label("h3").is_some());
    assert!(h.query_by_label("h4").is_none());
    h.get_by_label("h2").click();
    settle(&mut h);
    assert!(matches!(
        h.state().state.compare[0],
        Pane::Attention {
            head: HeadSel::Head(2),
            ..
        }
    ));
    // a method pane has no layer or head picker
    h.state_mut().state.compare[1] = Pane::Method(vitscope::methods::QueryMethod::Rollout);
    settle(&mut h);
    assert!(h.query_by_label("Layer 2").is_none());
}
