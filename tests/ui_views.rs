//! UI tests of the analysis views (Methods, Distance, Tokens, Embeddings) and the keyboard, driving the real
//! `App` through egui_kittest on the tiny DINOv2 fixture: each view asks the worker for its analysis, shows
//! it, and follows parameter changes, query clicks and model changes.
mod common;

use std::path::Path;

use common::ui::{click_at, copy_assets, file_names, settle};
use common::*;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use vitscope::analysis::{HeadSel, PrefixConvention};
use vitscope::jobs::{AnalysisRequest, AnalysisResult, QuerySpec};
use vitscope::ui::App;
use vitscope::ui::app::UiCommand;
use vitscope::ui::settings::View;

fn harness(export_dir: &Path) -> Harness<'static, App> {
    common::ui::harness(export_dir, View::Attention)
}

fn methods(h: &Harness<'static, App>) -> (Vec<(String, String, Vec<f32>)>, bool) {
    let s = &h.state().state;
    let want = AnalysisRequest::Methods {
        opts: s.methods.opts,
        target: s.methods.target.clone(),
        flow: s.methods.flow,
    };
    match s.result(&want) {
        Some((AnalysisResult::Methods(m, _), fresh)) => (
            m.iter()
                .map(|m| {
                    (
                        m.name.to_string(),
                        m.definition.clone(),
                        m.map.values.clone(),
                    )
                })
                .collect(),
            fresh,
        ),
        _ => (Vec::new(), false),
    }
}

#[test]
fn methods_view_shows_the_aggregate_maps_and_follows_parameters_and_query() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(dir.path());
    h.get_by_label("Methods").click();
    settle(&mut h);
    assert_eq!(h.state().settings.view, View::Methods);
    let (maps, fresh) = methods(&h);
    assert!(fresh);
    let names: Vec<&str> = maps.iter().map(|m| m.0.as_str()).collect();
    assert_eq!(names, ["Rollout", "Gradient rollout", "Relevance"]);
    assert!(maps[0].1.contains("residual alpha = 0.5"), "{}", maps[0].1);
    // Without a head, the gradient target is the similarity to the centre patch, and it says so.
    assert!(maps[2].1.contains("cosine(pooled feature"), "{}", maps[2].1);
    // Rolled-out rows sum to 1 over all tokens.
    assert!((maps[0].2.iter().sum::<f32>() - 1.0).abs() < 1e-4);
    assert!(h.query_by_label_contains("Rollout (").is_some());

    // A parameter change recomputes.
    h.state_mut().state.methods.opts.residual = 0.2;
    settle(&mut h);
    let (after, fresh) = methods(&h);
    assert!(fresh && after[0].1.contains("residual alpha = 0.2"));
    assert!(max_abs_diff(&after[0].2, &maps[0].2) > 1e-4);

    // Flow joins the row of maps.
    h.get_by_label("Flow").click();
    settle(&mut h);
    let (with_flow, _) = methods(&h);
    assert_eq!(with_flow[1].0, "Flow");
    assert!(with_flow[1].2.iter().all(|v| *v <= 1.0 + 1e-5));

    // Clicking a map makes that patch the query for every map.
    let rect = h.get_by_label_contains("Relevance (").rect();
    let pos = rect.min + egui::vec2(2.0, rect.height() - 2.0);
    click_at(&mut h, pos);
    assert_eq!(h.state().state.query, QuerySpec::Patch(5, 0));
    let (patch_maps, fresh) = methods(&h);
    assert!(fresh);
    assert!(max_abs_diff(&patch_maps[0].2, &with_flow[0].2) > 1e-4);

    // A target the model cannot have: the gradient methods that explain it are refused, each in its own
    // pane with the reason; their maps for the previous target are not shown under the new one (issue
    // "first hour", item 1); rollout and flow, which need no target, stay; nothing spins.
    h.state_mut().state.target_field = "3".into();
    h.get_by_label("Apply target").click();
    settle(&mut h);
    let (maps, fresh) = methods(&h);
    assert!(fresh, "the refusal answers the request: the spinner ends");
    let names: Vec<&str> = maps.iter().map(|m| m.0.as_str()).collect();
    assert_eq!(names, ["Rollout", "Flow"]);
    assert!(h.query_by_label_contains("Rollout (").is_some());
    assert!(h.query_by_label_contains("Gradient rollout (").is_none());
    assert!(h.query_by_label("Gradient rollout not computed").is_some());
    assert!(h.query_by_label("Relevance not computed").is_some());
    assert_eq!(
        h.query_all_by_label_contains("no classifier head").count(),
        2,
        "each refused pane says why"
    );
    assert!(h.query_by_label("computing…").is_none());
    // a target that exists again brings them back
    h.state_mut().state.target_field = "sim:2,3".into();
    h.get_by_label("Apply target").click();
    settle(&mut h);
    let (maps, _) = methods(&h);
    assert_eq!(maps.len(), 4);
    assert!(h.query_by_label("Relevance not computed").is_none());
}

#[test]
fn distance_view_has_every_head_and_opens_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(dir.path());
    h.get_by_label("Distance").click();
    settle(&mut h);
    let stats =
        |h: &Harness<'static, App>, c| match h.state().state.result(&AnalysisRequest::Stats(c)) {
            Some((AnalysisResult::Stats(s), true)) => s.clone(),
            _ => panic!("no stats"),
        };
    let renorm = stats(&h, PrefixConvention::Renormalise);
    let model = h.state().state.model.clone().unwrap();
    assert_eq!((renorm.layers, renorm.heads), (model.layers, model.heads));
    h.get_by_label("drop").click();
    settle(&mut h);
    let drop = stats(&h, PrefixConvention::Drop);
    assert!(
        drop.distance_px
            .iter()
            .zip(&renorm.distance_px)
            .all(|(d, r)| d <= r)
    );
    assert!(
        drop.distance_px
            .iter()
            .zip(&renorm.distance_px)
            .any(|(d, r)| d < r)
    );
    // A click on a dot opens that layer and head in the Attention view.
    h.state_mut().apply(UiCommand::OpenHead(1, 2));
    settle(&mut h);
    let s = &h.state().state;
    assert_eq!(
        (h.state().settings.view, s.layer, s.head),
        (View::Attention, 1, HeadSel::Head(2))
    );
}

#[test]
fn tokens_and_embeddings_views_show_their_data() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(dir.path());
    h.get_by_label("Tokens").click();
    settle(&mut h);
    let (layers, tokens) = match h.state().state.result(&AnalysisRequest::Tokens) {
        Some((AnalysisResult::Tokens { norms, prefix_mass }, true)) => {
            assert_eq!(prefix_mass.len(), norms.layers);
            (norms.layers, norms.tokens)
        }
        _ => panic!("no token norms"),
    };
    assert_eq!((layers, tokens), (3, 1 + 6 * 9));
    assert!(h.query_by_label("Token norms").is_some());

    h.get_by_label("Embeddings").click();
    settle(&mut h);
    let grid = |h: &Harness<'static, App>, input_grid| match h
        .state()
        .state
        .result(&AnalysisRequest::Embeddings { input_grid })
    {
        Some((
            AnalysisResult::Embeddings {
                pos,
                filters,
                rel_bias,
            },
            true,
        )) => {
            assert!(filters.count > 0);
            assert!(rel_bias.is_none(), "DINOv2 has no relative bias");
            let pos = pos.as_ref().unwrap();
            (pos.grid_h, pos.grid_w)
        }
        _ => panic!("no embeddings"),
    };
    let trained = grid(&h, false);
    h.get_by_label("resized to the input").click();
    settle(&mut h);
    assert_eq!(grid(&h, true), (6, 9));
    assert_ne!(trained, (6, 9));
    assert!(h.query_by_label("Position similarity").is_some());
    assert!(h.query_by_label("Patch filters").is_some());
}

#[test]
fn keyboard_steps_layer_and_head_and_toggles_the_overlay() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(dir.path());
    assert_eq!(h.state().state.layer, 2);
    h.key_press(egui::Key::ArrowLeft);
    h.step();
    assert_eq!(h.state().state.layer, 1);
    h.key_press(egui::Key::ArrowDown);
    h.step();
    assert_eq!(h.state().state.head, HeadSel::Head(0));
    h.key_press(egui::Key::ArrowUp);
    h.key_press(egui::Key::ArrowUp);
    h.step();
    let heads = h.state().state.model.as_ref().unwrap().heads;
    assert_eq!(
        h.state().state.head,
        HeadSel::Head(heads - 1),
        "cycles past mean"
    );
    let opacity = h.state().settings.opacity;
    h.key_press(egui::Key::O);
    h.step();
    assert_eq!(h.state().settings.opacity, 0.0);
    h.key_press(egui::Key::O);
    h.step();
    assert_eq!(h.state().settings.opacity, opacity);
    h.key_press(egui::Key::E);
    settle(&mut h);
    let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
    assert_eq!(files.len(), 1, "E exported the shown map");
    // in the Methods view, E exports the view's figure
    h.state_mut().settings.view = View::Methods;
    settle(&mut h);
    h.key_press(egui::Key::E);
    settle(&mut h);
    let last = h.state().state.last_export.clone();
    assert_eq!(last.len(), 1, "{last:?}");
    assert!(
        last[0].to_string_lossy().ends_with("_methods_cls.png"),
        "{last:?}"
    );
}

#[test]
fn model_view_shows_every_layer_and_head_with_linked_hover() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(dir.path());
    h.get_by_label("Model view").click();
    settle(&mut h);
    let model = h.state().state.model.clone().unwrap();
    for l in 0..model.layers {
        assert!(h.query_by_label(&format!("L{l} mean")).is_some());
        for hd in 0..model.heads {
            assert!(
                h.query_by_label(&format!("L{l} h{hd}")).is_some(),
                "L{l} h{hd}"
            );
        }
    }
    // Pointing at patch (2, 7) of one tile previews its maps in every tile; the query stays.
    let query = h.state().state.query;
    let committed = h.state().state.rows.clone().unwrap();
    let rect = h.get_by_label("L1 h0").rect();
    let pos = rect.min + egui::vec2(7.5 / 9.0 * rect.width(), 2.5 / 6.0 * rect.height());
    h.input_mut().events.push(egui::Event::PointerMoved(pos));
    settle(&mut h);
    let s = &h.state().state;
    assert_eq!(s.query, query, "hovering does not change the query");
    assert_eq!(s.rows.as_ref().unwrap().data, committed.data);
    let (q, preview) = s.preview.clone().expect("a preview");
    assert_eq!(q, QuerySpec::Patch(2, 7));
    assert_eq!(preview.layout.patch_of_token(preview.query), Some((2, 7)));
    // Leaving the tiles ends the preview.
    h.input_mut()
        .events
        .push(egui::Event::PointerMoved(egui::pos2(5.0, 5.0)));
    settle(&mut h);
    assert!(h.state().state.preview.is_none());
    assert_eq!(h.state().state.query, query);
    // A click commits the patch under the pointer.
    click_at(&mut h, pos);
    assert_eq!(h.state().state.query, QuerySpec::Patch(2, 7));
    let rows = h.state().state.rows.clone().unwrap();
    assert_eq!(rows.layout.patch_of_token(rows.query), Some((2, 7)));
    assert_eq!(h.state().settings.view, View::Model, "a single click stays");
    // A double click opens that map.
    h.input_mut().events.push(egui::Event::PointerMoved(pos));
    for _ in 0..2 {
        h.input_mut().events.push(egui::Event::PointerButton {
            pos,
            button: egui::PointerButton::Primary,
            pressed: true,
            modifiers: Default::default(),
        });
        h.input_mut().events.push(egui::Event::PointerButton {
            pos,
            button: egui::PointerButton::Primary,
            pressed: false,
            modifiers: Default::default(),
        });
    }
    settle(&mut h);
    let s = &h.state().state;
    assert_eq!(
        (h.state().settings.view, s.layer, s.head),
        (View::Attention, 1, HeadSel::Head(0))
    );
}

#[test]
fn colour_scales_are_shared_per_layer_or_globally_and_clip_percentiles() {
    use vitscope::ui::settings::Normalization;
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(dir.path());
    let heads = h.state().state.model.as_ref().unwrap().heads;
    let range = |h: &Harness<'static, App>, l, hd| h.state().map_range(l, hd).unwrap();
    // Per map: each map its own min and max.
    let m = h.state().state.rows.clone().unwrap();
    let own = m.patch_map(1, HeadSel::Head(0)).min_max();
    assert_eq!(range(&h, 1, HeadSel::Head(0)), own);
    assert_ne!(
        range(&h, 1, HeadSel::Head(0)),
        range(&h, 1, HeadSel::Head(1))
    );
    h.state_mut().settings.normalization = Normalization::PerLayer;
    let layer1 = range(&h, 1, HeadSel::Mean);
    for hd in 0..heads {
        assert_eq!(range(&h, 1, HeadSel::Head(hd)), layer1);
    }
    assert_ne!(range(&h, 2, HeadSel::Mean), layer1);
    h.state_mut().settings.normalization = Normalization::Global;
    let global = range(&h, 0, HeadSel::Mean);
    assert_eq!(range(&h, 2, HeadSel::Head(heads - 1)), global);
    assert!(global.0 <= layer1.0 && global.1 >= layer1.1);
    h.state_mut().settings.clip_percentile = 5.0;
    let clipped = range(&h, 0, HeadSel::Mean);
    assert!(
        clipped.0 >= global.0 && clipped.1 < global.1,
        "{clipped:?} vs {global:?}"
    );
    // The controls drive the same settings, and the views draw with them.
    h.get_by_label("Mask").click();
    h.get_by_label("Patch grid").click();
    h.step();
    assert!(h.state().settings.show_mask && h.state().settings.show_grid);
    assert!(h.query_by_label("Colour bar").is_some());
}

#[test]
fn distance_over_a_folder_averages_its_images() {
    let dir = tempfile::tempdir().unwrap();
    let imgs = dir.path().join("imgs");
    std::fs::create_dir(&imgs).unwrap();
    copy_assets(&imgs, &["chelsea.png", "coffee.png", "astronaut.png"]);
    std::fs::write(imgs.join("broken.jpg"), b"no").unwrap();
    let mut h = harness(dir.path());
    h.get_by_label("Distance").click();
    settle(&mut h);
    h.get_by_label("a folder").click();
    h.step();
    h.state_mut().state.folder_field = imgs.display().to_string();
    h.get_by_label("Run over folder").click();
    settle(&mut h);
    let want = AnalysisRequest::FolderStats {
        folder: imgs.clone(),
        convention: PrefixConvention::Renormalise,
    };
    match h.state().state.result(&want) {
        Some((
            AnalysisResult::FolderStats {
                stats,
                skipped,
                cancelled,
            },
            true,
        )) => {
            assert_eq!(stats.images, 3);
            assert_eq!(skipped.len(), 1, "{skipped:?}");
            assert!(skipped[0].contains("broken.jpg"));
            assert!(!cancelled);
        }
        _ => panic!("no folder stats"),
    }
    assert!(h.query_by_label_contains("3 image(s) averaged").is_some());
    // A changed query does not recompute a folder.
    h.state_mut()
        .apply(UiCommand::SetQuery(QuerySpec::Patch(1, 1)));
    settle(&mut h);
    assert!(matches!(h.state().state.result(&want), Some((_, true))));
    // Cancelling long work also stops asking for flow.
    h.state_mut().state.methods.flow = true;
    h.state_mut().apply(UiCommand::CancelWork);
    assert!(!h.state().state.methods.flow);
}

#[test]
fn export_all_layers_writes_each_layer_a_mosaic_colour_bars_and_npy() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(dir.path());
    h.get_by_label("With colour bar").click();
    h.get_by_label("Raw .npy too").click();
    h.step();
    h.get_by_label("Export all layers").click();
    settle(&mut h);
    let s = &h.state().state;
    assert!(s.error.is_none(), "{:?}", s.error);
    let (layers, heads) = {
        let m = s.model.as_ref().unwrap();
        (m.layers, m.heads)
    };
    let names = file_names(dir.path());
    let pngs: Vec<&String> = names.iter().filter(|n| n.ends_with("_mean.png")).collect();
    let npys: Vec<&String> = names.iter().filter(|n| n.ends_with("_mean.npy")).collect();
    assert_eq!((pngs.len(), npys.len()), (layers, layers), "{names:?}");
    // A single map: the photo (451×300) with a colour bar underneath.
    let one = image::open(dir.path().join(pngs[0])).unwrap().to_rgb8();
    let bar = vitscope::export::maps::colour_bar_height(451);
    assert_eq!(one.dimensions(), (451, 300 + bar));
    // the bar says what it measures: dark text under it, in the last rows
    assert!(
        (300 + bar - 20..300 + bar - 2).any(|y| (0..451).any(|x| one.get_pixel(x, y).0[0] < 128))
    );
    let (_, shape, values) = read_npy(&dir.path().join(npys[0]));
    assert_eq!(shape, [6, 9]);
    let rows = s.rows.as_ref().unwrap();
    assert!(max_abs_diff(&values, &rows.patch_map(0, HeadSel::Mean).data) < 1e-7);
    let mosaic = names
        .iter()
        .find(|n| n.ends_with("_mosaic.png"))
        .expect("mosaic");
    let m = image::open(dir.path().join(mosaic)).unwrap().to_rgb8();
    // Tiles at the model input (24×36) with 2 px gaps: (H+1) columns, L rows; "With colour bar": a bar
    // whose ends are named (each tile has its own scale).
    let cols = heads as u32 + 1;
    let w = cols * 36 + (cols + 1) * 2;
    assert_eq!(
        m.dimensions(),
        (
            w,
            layers as u32 * 24
                + (layers as u32 + 1) * 2
                + vitscope::export::maps::colour_bar_height(w)
        )
    );
}

#[test]
fn distance_plot_and_table_export_and_recent_files_are_remembered() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(dir.path());
    let set = &h.state().settings;
    assert_eq!(
        set.recent_images.first(),
        Some(&root().join("assets/chelsea.png"))
    );
    assert!(set.recent_models[0].starts_with(fixture("dinov2_tiny")));
    h.state_mut()
        .apply(UiCommand::LoadImage(root().join("assets/coffee.png")));
    settle(&mut h);
    let recent = &h.state().settings.recent_images;
    assert_eq!(recent.len(), 2);
    assert!(recent[0].ends_with("coffee.png"));

    h.get_by_label("Distance").click();
    settle(&mut h);
    h.get_by_label("Export plot + CSV").click();
    settle(&mut h);
    let png = dir.path().join("coffee_dinov2-tiny_distance.png");
    let csv = std::fs::read_to_string(dir.path().join("coffee_dinov2-tiny_distance.csv")).unwrap();
    let model = h.state().state.model.clone().unwrap();
    assert_eq!(csv.lines().count(), 1 + model.layers * model.heads);
    assert_eq!(image::image_dimensions(&png).unwrap(), (1120, 428));
    // A second export never overwrites the first.
    h.get_by_label("Export plot + CSV").click();
    settle(&mut h);
    assert!(
        dir.path()
            .join("coffee_dinov2-tiny_distance-2.csv")
            .exists()
    );
}

#[test]
fn compare_view_shows_panes_side_by_side_sharing_query_and_scale() {
    use vitscope::ui::compare_view::Pane;
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(dir.path());
    h.get_by_label("Compare").click();
    settle(&mut h);
    let layers = h.state().state.model.as_ref().unwrap().layers;
    assert_eq!(
        h.state().state.compare,
        vec![
            Pane::Attention {
                layer: 0,
                head: HeadSel::Mean
            },
            Pane::Attention {
                layer: layers - 1,
                head: HeadSel::Mean
            }
        ]
    );
    assert!(h.query_by_label("Attention L0 mean").is_some());
    // Four panes, two of them methods: the Methods analysis is requested for them.
    h.get_by_label("4").click();
    settle(&mut h);
    h.state_mut().state.compare[2] = Pane::Method(vitscope::methods::QueryMethod::Rollout);
    h.state_mut().state.compare[3] = Pane::Method(vitscope::methods::QueryMethod::Relevance);
    settle(&mut h);
    assert!(h.query_by_label("Rollout").is_some());
    assert!(h.query_by_label("Relevance").is_some());
    assert_eq!(h.state().state.compare.len(), 4);
    // One colour scale: every pane's bar shows the same range.
    h.get_by_label("One colour scale").click();
    settle(&mut h);
    assert_eq!(h.query_all_by_label("Colour bar").count(), 4);
    // A click in any pane moves the query for all.
    let rect = h.get_by_label("Attention L0 mean").rect();
    let pos = rect.min + egui::vec2(rect.width() - 2.0, 2.0);
    click_at(&mut h, pos);
    assert_eq!(h.state().state.query, QuerySpec::Patch(0, 8));
}

#[test]
fn batch_export_writes_the_map_for_every_image_of_a_folder() {
    let dir = tempfile::tempdir().unwrap();
    let imgs = tempfile::tempdir().unwrap();
    copy_assets(imgs.path(), &["coffee.png", "astronaut.png"]);
    std::fs::write(imgs.path().join("bad.png"), b"x").unwrap();
    let mut h = harness(dir.path());
    h.get_by_label("Raw .npy too").click();
    h.step();
    h.state_mut().state.batch_field = imgs.path().display().to_string();
    h.get_by_label("Batch export").click();
    settle(&mut h);
    let names = file_names(dir.path());
    assert_eq!(
        names,
        [
            "astronaut_dinov2-tiny_cls_L02_mean.npy",
            "astronaut_dinov2-tiny_cls_L02_mean.png",
            "coffee_dinov2-tiny_cls_L02_mean.npy",
            "coffee_dinov2-tiny_cls_L02_mean.png"
        ]
    );
    // The unreadable file is reported; the loaded image is still chelsea.
    let err = h.state().state.error.clone().unwrap_or_default();
    assert!(err.contains("bad.png"), "{err}");
    assert!(
        h.state()
            .state
            .image_path
            .as_ref()
            .unwrap()
            .ends_with("chelsea.png")
    );
    let text = vitscope::export::png_file::read_png_text(
        &dir.path().join("coffee_dinov2-tiny_cls_L02_mean.png"),
    )
    .unwrap();
    assert!(
        text.iter()
            .any(|(k, v)| k == "vitscope.image" && v == "coffee.png")
    );
}

#[test]
fn the_last_model_and_image_are_reopened_when_nothing_is_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = vitscope::ui::settings::Settings::default();
    settings.recent_images = vec![
        root().join("assets/coffee.png"),
        root().join("assets/chelsea.png"),
    ];
    settings.recent_models = vec![fixture("dinov2_tiny/model.safetensors")];
    settings.view = View::Tokens;
    let start = vitscope::ui::StartOptions {
        model: Some(vitscope::model::ModelSource::Default),
        image: Some(root().join("assets/astronaut.png")),
        size: vitscope::model::InputSize::Shorter(24),
        export_dir: Some(dir.path().to_path_buf()),
        restore_last: true,
        ..Default::default()
    };
    let mut h = egui_kittest::Harness::builder()
        .with_size(egui::vec2(1280.0, 800.0))
        .build_eframe(move |cc| {
            let mut app = App::new(
                cc,
                vitscope::ui::StartOptions {
                    model: None,
                    image: None,
                    restore_last: false,
                    ..start.clone()
                },
            );
            // What eframe storage would hold: apply the persisted settings, then start as at launch.
            app.settings = settings.clone();
            app.reopen(&start);
            app
        });
    settle(&mut h);
    let s = &h.state().state;
    assert!(s.image_path.as_ref().unwrap().ends_with("coffee.png"));
    assert_eq!(
        s.model.as_ref().unwrap().layers,
        3,
        "the tiny model, not the built-in one"
    );
    assert_eq!(h.state().settings.view, View::Tokens);
}

/// A refused analysis ends the wait: the Methods view says why in the pane of each refused method, stops
/// spinning, and shows no maps computed for other parameters; a good target brings the maps back.
#[test]
fn methods_view_settles_on_a_refusal_and_never_shows_stale_maps() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(dir.path());
    h.state_mut().settings.view = View::Methods;
    settle(&mut h);
    assert!(h.query_by_label_contains("Gradient rollout (").is_some());
    // the tiny DINOv2 has no classifier: class 5 cannot be explained
    h.state_mut().state.methods.target = "5".into();
    settle(&mut h);
    assert!(!h.state().busy(), "the worker must be idle");
    for _ in 0..5 {
        h.step();
    }
    assert!(
        h.query_by_label("Gradient rollout not computed").is_some(),
        "the reason is shown in the method's pane"
    );
    assert!(
        h.query_by_label("computing…").is_none(),
        "no endless spinner"
    );
    assert!(
        h.query_by_label_contains("Gradient rollout (").is_none(),
        "maps of the previous target are not shown as if current"
    );
    assert!(
        h.query_by_label_contains("Rollout (").is_some(),
        "rollout needs no target: computed for the current parameters"
    );
    h.state_mut().state.methods.target = "top".into();
    settle(&mut h);
    assert!(h.query_by_label_contains("Rollout (").is_some());
    assert!(
        h.query_by_label_contains("The methods could not be computed")
            .is_none()
    );
}

/// SigLIP's default query is the attention-pooling probe: the Methods view computes rollout from it (the
/// probe's head-mean row times the encoder's rollout), says why the other methods are absent, and a patch
/// click brings every method back.
#[test]
fn methods_view_rolls_out_from_the_map_probe() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(dir.path());
    common::ui::load_zoo(&mut h, "hf_siglip_vision");
    h.state_mut().state.methods.flow = true;
    h.get_by_label("Methods").click();
    settle(&mut h);
    assert_eq!(h.state().state.query, QuerySpec::Probe);
    let (maps, fresh) = methods(&h);
    assert!(fresh);
    let names: Vec<&str> = maps.iter().map(|m| m.0.as_str()).collect();
    assert_eq!(names, ["Rollout"], "only rollout is defined from the probe");
    assert!(
        maps[0].1.contains("from the attention-pooling probe"),
        "{}",
        maps[0].1
    );
    assert!((maps[0].2.iter().sum::<f32>() - 1.0).abs() < 1e-4);
    assert!(
        h.query_by_label_contains("From the MAP probe only rollout is defined")
            .is_some()
    );
    assert!(
        h.query_by_label_contains("The methods could not be computed")
            .is_none()
    );
    let probe_rollout = maps[0].2.clone();
    // a patch: every method, from that patch
    h.state_mut().state.methods.flow = false;
    settle(&mut h);
    let rect = h.get_by_label_contains("Attention L").rect();
    click_at(&mut h, rect.center());
    assert!(matches!(h.state().state.query, QuerySpec::Patch(..)));
    let (maps, fresh) = methods(&h);
    assert!(fresh);
    let names: Vec<&str> = maps.iter().map(|m| m.0.as_str()).collect();
    assert_eq!(names, ["Rollout", "Gradient rollout", "Relevance"]);
    assert!(max_abs_diff(&maps[0].2, &probe_rollout) > 1e-4);
}

#[test]
fn embeddings_show_swin_s_relative_bias_and_say_why_there_is_no_position_similarity() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(dir.path());
    common::ui::load_zoo(&mut h, "hf_swinv2");
    h.get_by_label("Embeddings").click();
    settle(&mut h);
    match h
        .state()
        .state
        .result(&AnalysisRequest::Embeddings { input_grid: false })
    {
        Some((
            AnalysisResult::Embeddings {
                pos,
                filters,
                rel_bias,
            },
            true,
        )) => {
            assert!(filters.count > 0, "the patch filters still show");
            assert!(
                pos.as_ref()
                    .unwrap_err()
                    .contains("no learned position embedding")
            );
            let b = rel_bias.as_ref().expect("Swin's bias tables");
            assert_eq!(b.tables.len(), 4);
            // 2 heads in stage 0, 4 in stage 1; a 3x3 window has 5x5 offsets
            assert_eq!((b.tables[0].len(), b.tables[3].len()), (2, 4));
            assert_eq!((b.tables[0][0].h, b.tables[0][0].w), (5, 5));
            // Swin V2's bias is 16·sigmoid(·): inside (0, 16)
            assert!(
                b.tables
                    .iter()
                    .flatten()
                    .flat_map(|g| &g.data)
                    .all(|v| *v > 0.0 && *v < 16.0)
            );
        }
        other => panic!("no embeddings: {:?}", other.map(|o| o.1)),
    }
    assert!(h.query_by_label("Relative position bias").is_some());
    assert!(h.query_by_label("Patch filters").is_some());
}

/// Interventions in the app: painting patches re-runs the model and the top classes change, "what changed"
/// shows the untouched run beside it, an export names the intervention, head ablation toggles from the
/// Model view, and one click on Undo restores the original run exactly.
#[test]
fn painting_patches_and_ablating_heads_change_the_run_and_undo_restores_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(dir.path());
    common::ui::load_zoo(&mut h, "timm_vit");
    let original = h.state().state.rows.clone().unwrap();
    let query = h.state().state.query;
    let classes = h.state().state.classes.clone();
    assert!(!classes.is_empty(), "a classifier");
    // the logit lens comes with every run: the last layer is the model's own answer
    let lens = h.state().state.lens.clone();
    assert_eq!(lens.len(), 2);
    assert_eq!(lens[1].top[0].index, classes[0].index);
    assert!((lens[1].cosine_to_final - 1.0).abs() < 1e-9);
    assert!(h.query_by_label("Logit lens").is_some());
    // opened, it shows a bump chart whose key names the final top class (also in the top classes above);
    // the left panel scrolls to it
    let at = h.get_by_label("Export map").rect().center();
    let wheel = |h: &mut Harness<'static, App>, dy: f32| {
        h.input_mut().events.push(egui::Event::PointerMoved(at));
        for _ in 0..5 {
            h.input_mut().events.push(egui::Event::MouseWheel {
                unit: egui::MouseWheelUnit::Point,
                delta: egui::vec2(0.0, dy),
                modifiers: Default::default(),
                phase: egui::TouchPhase::Move,
                source: egui::MouseWheelSource::Wheel,
            });
            h.run_steps(2);
        }
    };
    wheel(&mut h, -200.0);
    h.get_by_label("Logit lens").click();
    settle(&mut h);
    wheel(&mut h, -200.0);
    assert!(h.query_by_label("Bump chart").is_some());
    assert!(h.query_all_by_label(&classes[0].name).count() >= 2);
    h.get_by_label("Table").click();
    settle(&mut h);
    assert!(
        h.query_by_label("L1").is_some(),
        "the table: one row per layer"
    );
    h.get_by_label("Logit lens").click();
    settle(&mut h);
    wheel(&mut h, 400.0);
    h.get_by_label("Occlude patches").click();
    settle(&mut h);
    assert!(h.state().state.paint);
    h.state_mut().state.brush = 3;
    let rect = h.get_by_label("Attention map").rect();
    click_at(&mut h, rect.center());
    let s = &h.state().state;
    assert_eq!(s.intervention.occluded.len(), 9, "a 3x3 brush");
    let change = s.change.clone().expect("what changed");
    assert_eq!(change.intervention, s.intervention);
    assert_eq!(change.classes, classes, "before: the untouched run");
    assert_ne!(s.classes, classes, "after: the probabilities moved");
    assert_eq!(change.before.data, original.data);
    assert_ne!(s.rows.as_ref().unwrap().data, original.data);
    assert!(change.pooled_cosine < 1.0);
    assert!(h.query_by_label("What changed").is_some());
    assert!(h.query_by_label("Change after − before").is_some());
    assert!(
        h.query_by_label_contains("Intervention: occluded 9 patches")
            .is_some()
    );

    // an export made now says so
    h.get_by_label("Export map").click();
    settle(&mut h);
    let files = h.state().state.last_export.clone();
    let text = vitscope::export::png_file::read_png_text(&files[0]).unwrap();
    assert!(
        text.iter()
            .any(|(k, v)| k == "vitscope.intervention" && v.contains("occluded 9 patches")),
        "{text:?}"
    );

    // a click on an occluded patch brings the brush back (the map may have moved: the status bar now
    // names the export)
    let rect = h.get_by_label("Attention map").rect();
    let grid = h.state().state.rows.clone().unwrap().layout;
    let k = *h.state().state.intervention.occluded.iter().nth(4).unwrap(); // the brush's centre
    let (r, c) = (k / grid.grid_w, k % grid.grid_w);
    let at = rect.min
        + egui::vec2(
            (c as f32 + 0.5) / grid.grid_w as f32 * rect.width(),
            (r as f32 + 0.5) / grid.grid_h as f32 * rect.height(),
        );
    click_at(&mut h, at);
    assert!(h.state().state.intervention.occluded.is_empty());
    assert!(h.state().state.change.is_none());

    // heads: the Model view's tiles toggle ablation
    h.get_by_label("Model view").click();
    settle(&mut h);
    h.get_by_label("Ablate heads").click();
    settle(&mut h);
    h.get_by_label("L1 h2").click();
    settle(&mut h);
    let s = &h.state().state;
    assert_eq!(s.intervention.ablated, [(1, 2)].into_iter().collect());
    assert!(s.change.is_some());
    h.get_by_label("L0 mean").click();
    settle(&mut h);
    assert_eq!(
        h.state().state.intervention.ablated.len(),
        1 + 4,
        "layer 0's 4 heads"
    );

    // another image on another grid: the heads stay ablated, a painted patch would move, so it goes
    h.state_mut().settings.view = View::Attention;
    settle(&mut h);
    click_at(&mut h, rect.center());
    assert_eq!(h.state().state.intervention.occluded.len(), 9);
    h.state_mut().state.image_field = root().join("assets/astronaut.png").display().to_string();
    h.get_by_label("Load image").click();
    settle(&mut h);
    let s = &h.state().state;
    assert!(s.intervention.occluded.is_empty());
    assert_eq!(s.intervention.ablated.len(), 5);
    assert!(s.change.is_some());
    assert!(
        s.notice
            .as_deref()
            .is_some_and(|n| n.contains("kept only on the same grid")),
        "{:?}",
        s.notice
    );
    h.state_mut().state.image_field = root().join("assets/chelsea.png").display().to_string();
    h.get_by_label("Load image").click();
    settle(&mut h);

    // Undo: the original run, exactly
    h.state_mut().settings.view = View::Attention;
    settle(&mut h);
    h.get_by_label("Undo intervention").click();
    settle(&mut h);
    // (the Model view's clicks ablated heads; the query is the first one)
    h.state_mut().apply(UiCommand::SetQuery(query));
    settle(&mut h);
    let s = &h.state().state;
    assert!(s.intervention.is_none() && s.change.is_none());
    assert_eq!(s.rows.as_ref().unwrap().data, original.data);
    assert_eq!(s.classes, classes);
}

/// The Methods view's faithfulness curves: on demand, one pair per method plus random, all starting from
/// the clean score; the same numbers as the command line's definition (every curve's ends agree).
#[test]
fn the_methods_view_draws_faithfulness_curves_on_demand() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(dir.path());
    common::ui::load_zoo(&mut h, "timm_vit");
    h.state_mut().settings.view = View::Methods;
    h.state_mut().state.methods.steps = 2;
    settle(&mut h);
    assert!(
        h.query_by_label_contains("Score:").is_none(),
        "not before it is asked"
    );
    h.get_by_label("Compute curves").click();
    settle(&mut h);
    let want = vitscope::ui::methods_view::faithfulness_request(&h.state().state);
    let Some((AnalysisResult::Faithfulness { curves, score }, true)) =
        h.state().state.result(&want)
    else {
        panic!("no curves: {:?}", h.state().state.failure(&want));
    };
    let names: Vec<&str> = curves.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "attention",
            "rollout",
            "grad-rollout",
            "relevance",
            "random"
        ]
    );
    assert!(score.contains("softmax probability of class"), "{score}");
    let clean = curves[0].1.deletion[0];
    for (n, c) in curves {
        assert_eq!(c.fractions, [0.0, 0.5, 1.0], "{n}");
        assert_eq!(
            c.deletion[0], clean,
            "{n}: nothing removed is the clean image"
        );
        assert_eq!(
            c.insertion[2], clean,
            "{n}: everything inserted is the clean image"
        );
        assert_eq!(c.deletion[2], c.insertion[0], "{n}: all removed either way");
    }
    assert!(h.query_by_label_contains("Score:").is_some());

    // Export curves: the areas and the curves as `vitscope faithfulness` writes them, and the plot
    let curves = curves.clone();
    h.state_mut().settings.export_svg = true;
    h.get_by_label("Export curves").click();
    settle(&mut h);
    assert!(
        h.state().state.error.is_none(),
        "{:?}",
        h.state().state.error
    );
    let file = |suffix: &str| {
        dir.path()
            .join(format!("chelsea_timm-vit_faithfulness{suffix}"))
    };
    let summary = std::fs::read_to_string(file(".csv")).unwrap();
    let rows: Vec<&str> = summary.lines().collect();
    assert_eq!(rows[0], "method,deletion_auc,insertion_auc,images");
    assert_eq!(rows.len(), 1 + curves.len());
    for ((name, c), row) in curves.iter().zip(&rows[1..]) {
        assert_eq!(
            *row,
            format!("{name},{:.6},{:.6},1", c.deletion_auc(), c.insertion_auc())
        );
    }
    let long = std::fs::read_to_string(file("_curves.csv")).unwrap();
    assert_eq!(
        long.lines().count(),
        1 + curves.len() * 2 * 3,
        "3 steps, 2 curves each"
    );
    let png = image::open(file(".png")).unwrap();
    assert_eq!(png.width(), 1120, "two 560-px panels at 96 dpi");
    let svg = std::fs::read_to_string(file(".svg"))
        .unwrap()
        .replace('\n', "");
    assert!(svg.contains(">fraction of patches removed (most important first)</text>"));
    assert!(
        h.query_all_by_label_contains("chelsea_timm-vit_faithfulness.png")
            .next()
            .is_some(),
        "the status bar names the export"
    );

    h.get_by_label("Hide curves").click();
    settle(&mut h);
    assert!(h.query_by_label_contains("Score:").is_none());
}

/// Escape closes an error; an export with the overlay hidden (O) still shows the map; without a classifier,
/// "what changed" maps each patch's final feature against its untouched one.
#[test]
fn escape_hidden_overlay_exports_and_the_patch_cosine_map() {
    use vitscope::ui::overwrite::OverwriteChoice;
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(dir.path());
    settle(&mut h);
    let before = h.get_by_label("Open image…").rect();
    h.state_mut().state.error = Some("something went wrong".into());
    settle(&mut h);
    let bubble = h
        .get_by_label_contains("Error: something went wrong")
        .rect();
    assert_eq!(
        h.get_by_label("Open image…").rect(),
        before,
        "an error does not push the panel's controls"
    );
    assert!(
        bubble.left() > before.right(),
        "it floats beside the panel: {bubble:?} vs {before:?}"
    );
    h.key_press(egui::Key::Escape);
    settle(&mut h);
    assert!(h.state().state.error.is_none());
    assert_eq!(
        h.get_by_label("Open image…").rect(),
        before,
        "nor does dismissing it"
    );

    h.state_mut().apply(UiCommand::ExportMap);
    settle(&mut h);
    let shown = h.state().state.last_export[0].clone();
    h.key_press(egui::Key::O);
    settle(&mut h);
    assert_eq!(h.state().settings.opacity, 0.0, "the overlay is hidden");
    h.state_mut().apply(UiCommand::ExportMap);
    settle(&mut h);
    h.state_mut()
        .apply(UiCommand::ResolveOverwrite(OverwriteChoice::KeepBoth));
    settle(&mut h);
    let hidden = h.state().state.last_export[0].clone();
    assert_ne!(hidden, shown);
    assert_eq!(
        image::open(&hidden).unwrap().to_rgb8(),
        image::open(&shown).unwrap().to_rgb8(),
        "the same map at the opacity it had, not the bare photo"
    );

    h.state_mut().state.paint = true;
    settle(&mut h);
    let rect = h.get_by_label("Attention map").rect();
    click_at(&mut h, rect.center());
    assert!(h.state().state.change.is_some());
    assert!(h.query_by_label("Change patch feature cosine").is_some());

    // while a load is on its way, the views say what is loading
    let zoo = fixture("zoo/timm_vit");
    h.state_mut()
        .apply(UiCommand::LoadModel(vitscope::model::ModelSource::Path(
            zoo,
        )));
    assert_eq!(
        h.state().state.loading().as_deref(),
        Some("Loading the model timm_vit…")
    );
    settle(&mut h);
    assert_eq!(h.state().state.loading(), None);
}

/// An input size that does not fit is refused next to the size field: the field goes back to the size that
/// runs, the run is kept, and the advice comes as buttons (queries and keys at the asked size, or the size
/// that fits with maps); a size that fits clears it. A model path that fails to load goes back to the loaded
/// model's path.
#[test]
fn a_refused_size_keeps_the_running_one_and_offers_what_fits() {
    use vitscope::model::{AttentionStore, InputSize};
    use vitscope::ui::app::ErrorSubject;
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(dir.path());
    settle(&mut h);
    let running = h.state().state.size_field.clone();
    let hw = h.state().state.input_hw;
    h.state_mut().state.size_field = "2700".into();
    h.get_by_label("Apply size").click();
    settle(&mut h);
    let s = &h.state().state;
    let err = s.error.clone().expect("refused");
    assert!(err.contains("GiB"), "{err}");
    assert_eq!(s.error_subject, ErrorSubject::Size);
    assert_eq!(s.size_field, running, "the field says what runs");
    assert_eq!(s.input_hw, hw, "the run is kept");
    let labels: Vec<&str> = s.error_actions.iter().map(|a| a.0.as_str()).collect();
    assert_eq!(labels.len(), 2, "{labels:?}");
    assert_eq!(labels[0], "Use queries and keys at 2700");
    assert_eq!(
        s.error_actions[0].1,
        [
            UiCommand::SetAttentionStore(AttentionStore::QueryKeys),
            UiCommand::SetSize(InputSize::Shorter(2700))
        ]
    );
    assert!(
        labels[1].starts_with("Use ") && labels[1].ends_with(" px"),
        "{labels:?}"
    );
    assert!(h.query_by_label("Use queries and keys at 2700").is_some());
    // past the per-side limit, only a smaller size helps: that is the one button
    h.state_mut().state.size_field = "4000".into();
    h.get_by_label("Apply size").click();
    settle(&mut h);
    let s = &h.state().state;
    let err = s.error.clone().expect("refused");
    assert!(err.contains("allows per side"), "{err}");
    assert_eq!(s.error_subject, ErrorSubject::Size);
    let labels: Vec<&str> = s.error_actions.iter().map(|a| a.0.as_str()).collect();
    assert_eq!(labels.len(), 1, "{labels:?}");
    assert!(
        err.contains(&format!("use size {}", &labels[0][4..labels[0].len() - 3])),
        "{labels:?} {err}"
    );
    // a size that fits clears the error; the field follows what runs
    h.state_mut().state.size_field = "32".into();
    h.get_by_label("Apply size").click();
    settle(&mut h);
    let s = &h.state().state;
    assert!(s.error.is_none(), "{:?}", s.error);
    assert_eq!(s.size_field, "32");
    assert_ne!(s.input_hw, hw);
    // a model path that does not load: the field goes back to the loaded model's path
    let loaded = s.model.as_ref().unwrap().path.display().to_string();
    h.state_mut().state.model_field = "/nonexistent/model.safetensors".into();
    h.get_by_label("Load model").click();
    settle(&mut h);
    let s = &h.state().state;
    assert_eq!(s.error_subject, ErrorSubject::Model);
    assert!(s.error.as_ref().unwrap().contains("nonexistent"));
    assert_eq!(s.model_field, loaded);
}

/// A patch query that does not exist at a new input size is said, replaced by the default, and forgotten:
/// going back to the old size does not bring it back unasked. The query is written one way everywhere.
#[test]
fn a_query_outside_a_new_grid_is_said_and_forgotten() {
    use vitscope::model::InputSize;
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(dir.path());
    settle(&mut h);
    let rows = h.state().state.rows.clone().unwrap();
    let (gh, gw) = (rows.layout.grid_h, rows.layout.grid_w);
    let far = QuerySpec::Patch(gh - 1, gw - 1);
    h.state_mut().apply(UiCommand::SetQuery(far));
    settle(&mut h);
    assert_eq!(h.state().state.query, far);
    assert!(
        h.query_by_label(&format!("Query: patch row {}, col {}", gh - 1, gw - 1))
            .is_some()
    );
    let size = h.state().state.size;
    h.state_mut()
        .apply(UiCommand::SetSize(InputSize::Shorter(8)));
    settle(&mut h);
    let s = &h.state().state;
    let notice = s.notice.clone().expect("said");
    assert!(
        notice.contains(&format!(
            "patch row {}, col {} does not exist",
            gh - 1,
            gw - 1
        )),
        "{notice}"
    );
    assert_ne!(s.query, far);
    let shown = s.query;
    h.state_mut().apply(UiCommand::SetSize(size));
    settle(&mut h);
    assert_eq!(
        h.state().state.query,
        shown,
        "the old query does not come back"
    );
}

/// A better first minute: F1 (or ?) opens the help listing the keys and Escape closes it; hovering the map
/// names the patch and its value; "Native N" runs the model at its training size.
#[test]
fn help_overlay_hover_readout_and_native_size() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(dir.path());
    settle(&mut h);
    assert!(h.query_by_label("Keyboard and mouse").is_none());
    h.key_press(egui::Key::F1);
    h.run_steps(2);
    assert!(h.query_by_label("Keyboard and mouse").is_some());
    assert!(h.query_by_label("previous / next layer").is_some());
    h.key_press(egui::Key::Escape);
    h.run_steps(2);
    assert!(h.query_by_label("Keyboard and mouse").is_none());

    // the readout: the patch under the pointer and the shown map's value there
    let rect = h.get_by_label("Attention map").rect();
    let map = h.state().shown_map().unwrap();
    let (r, c) = (1, 2);
    let pos = rect.min
        + egui::vec2(
            (c as f32 + 0.5) / map.w as f32 * rect.width(),
            (r as f32 + 0.5) / map.h as f32 * rect.height(),
        );
    h.input_mut().events.push(egui::Event::PointerMoved(pos));
    h.run_steps(3);
    let want = format!("patch row {r}, col {c}: {:.4}", map.data[r * map.w + c]);
    assert!(h.query_by_label(&want).is_some(), "{want}");

    // native: the model's training size (the tiny DINOv2's 24 px: a 6x6 position grid of patch 4)
    let native = h.state().state.model.as_ref().unwrap().training_size.0;
    h.state_mut()
        .apply(UiCommand::SetSize(vitscope::model::InputSize::Shorter(32)));
    settle(&mut h);
    h.get_by_label(&format!("Native {native}")).click();
    settle(&mut h);
    assert_eq!(
        h.state().state.size,
        vitscope::model::InputSize::Shorter(native)
    );
    assert_eq!(h.state().state.size_field, native.to_string());
}

/// Embeddings: a click on a tile of the position-similarity overview shows that patch's map large (and keeps
/// it when the pointer leaves), with its own label and colour bar.
#[test]
fn a_position_similarity_tile_opens_large() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(dir.path());
    h.get_by_label("Embeddings").click();
    settle(&mut h);
    let rect = h.get_by_label("Position similarity").rect();
    // the tiny DINOv2's trained grid is 6x6: tile (1, 4)
    let pos = rect.min + egui::vec2(4.5 / 6.0 * rect.width(), 1.5 / 6.0 * rect.height());
    click_at(&mut h, pos);
    h.input_mut()
        .events
        .push(egui::Event::PointerMoved(egui::pos2(5.0, 5.0)));
    h.run_steps(2);
    assert_eq!(h.state().state.pos_pick, Some((1, 4)));
    assert!(
        h.query_by_label("Patch row 1, col 4: its similarity to every position")
            .is_some()
    );
    assert!(
        h.query_by_label("Position similarity of one patch")
            .is_some()
    );
    assert!(h.query_by_label("cosine similarity").is_some());
}

/// Wheel zoom and drag pan on the large map: the wheel zooms about the pointer (the patch under it stays
/// under it), a drag pans, a click still picks the patch under the pointer, a double click fits again.
#[test]
fn the_large_map_zooms_about_the_pointer_and_pans() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(dir.path());
    settle(&mut h);
    let rect = h.get_by_label("Attention map").rect();
    let map = h.state().shown_map().unwrap();
    let at = rect.min + egui::vec2(0.7 * rect.width(), 0.4 * rect.height());
    let under = |h: &Harness<'static, App>| {
        let s = &h.state().state;
        let size = rect.size() * s.zoom;
        let full = egui::Rect::from_min_size(rect.min - s.pan * size, size);
        let rel = (at - full.min) / full.size();
        (
            (rel.y * map.h as f32).floor() as usize,
            (rel.x * map.w as f32).floor() as usize,
        )
    };
    let before = under(&h);
    h.input_mut().events.push(egui::Event::PointerMoved(at));
    for _ in 0..5 {
        h.input_mut().events.push(egui::Event::MouseWheel {
            unit: egui::MouseWheelUnit::Point,
            delta: egui::vec2(0.0, 120.0),
            modifiers: Default::default(),
            phase: egui::TouchPhase::Move,
            source: egui::MouseWheelSource::Wheel,
        });
        h.run_steps(3);
    }
    let zoom = h.state().state.zoom;
    assert!(zoom > 1.5, "{zoom}");
    assert_eq!(under(&h), before, "the patch under the pointer stays");
    // a click picks the patch under the pointer, zoomed
    click_at(&mut h, at);
    let (r, c) = under(&h);
    assert_eq!(h.state().state.query, QuerySpec::Patch(r, c));
    assert!(h.query_by_label_contains("zoom ").is_some());
    // a drag pans
    let pan = h.state().state.pan;
    h.input_mut().events.push(egui::Event::PointerButton {
        pos: at,
        button: egui::PointerButton::Primary,
        pressed: true,
        modifiers: Default::default(),
    });
    for k in 1..=5 {
        h.input_mut().events.push(egui::Event::PointerMoved(
            at - egui::vec2(10.0 * k as f32, 0.0),
        ));
        h.run_steps(1);
    }
    h.input_mut().events.push(egui::Event::PointerButton {
        pos: at - egui::vec2(50.0, 0.0),
        button: egui::PointerButton::Primary,
        pressed: false,
        modifiers: Default::default(),
    });
    h.run_steps(2);
    assert!(
        h.state().state.pan.x > pan.x,
        "{:?} -> {:?}",
        pan,
        h.state().state.pan
    );
    // a double click fits
    for _ in 0..2 {
        for pressed in [true, false] {
            h.input_mut().events.push(egui::Event::PointerButton {
                pos: at,
                button: egui::PointerButton::Primary,
                pressed,
                modifiers: Default::default(),
            });
        }
    }
    settle(&mut h);
    assert_eq!(h.state().state.zoom, 1.0);
}
