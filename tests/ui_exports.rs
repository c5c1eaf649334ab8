//! What the views show, exported (egui_kittest, the real App on the tiny DINOv2 and chelsea.png):
//! the Methods and Compare views as one captioned PNG, at the photo's resolution or a chosen size; the
//! Tokens view's prefix-mass plot with its table; single maps resized to a chosen longer side.
mod common;

use common::ui::{harness, settle};
use egui_kittest::kittest::Queryable;
use vitscope::export::png_file::read_png_text;
use vitscope::render::overlay_range;
use vitscope::ui::settings::View;

fn pngs(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    v.retain(|p| p.extension().is_some_and(|e| e == "png"));
    v.sort();
    v
}

fn text(path: &std::path::Path, key: &str) -> String {
    read_png_text(path)
        .unwrap()
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("{key} missing"))
}

#[test]
fn the_methods_view_exports_as_one_captioned_png() {
    let title_h = vitscope::render::draw::PaneLayout::for_width(451).title_h;
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(dir.path(), View::Methods);
    settle(&mut h);
    h.get_by_label("Export view").click();
    settle(&mut h);
    let files = pngs(dir.path());
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(
        files[0].ends_with("chelsea_dinov2-tiny_methods_cls.png"),
        "{files:?}"
    );
    let img = image::open(&files[0]).unwrap().to_rgb8();
    // under the title (model, image, input size): attention + rollout + gradient rollout + relevance, 2 per
    // row (no blank half-row); each 451×300 + its colour bar under a 22 px caption, 10 px apart
    assert_eq!(
        img.dimensions(),
        (
            2 * (451 + 10) + 10,
            title_h + 2 * (300 + vitscope::export::maps::colour_bar_height(451) + 22 + 10) + 10
        )
    );
    let title_ink = (0..img.width())
        .flat_map(|x| (0..title_h).map(move |y| (x, y)))
        .filter(|&(x, y)| img.get_pixel(x, y).0[0] < 128)
        .count();
    assert!(
        title_ink > 200,
        "the title is written: {title_ink} dark pixels"
    );
    assert!(text(&files[0], "vitscope.pane2").starts_with("Rollout"));
    assert!(text(&files[0], "vitscope.pane4").starts_with("Relevance"));
    assert_eq!(text(&files[0], "vitscope.view"), "methods");
    // the first pane is the shown attention map over the photo, placed under its caption
    let s = &h.state().state;
    let grid = h.state().shown_map().unwrap();
    let photo = s.image.as_ref().unwrap();
    let want = overlay_range(
        photo,
        &grid,
        grid.min_max(),
        h.state().settings.colormap,
        h.state().settings.opacity,
    );
    for (x, y) in [(5, 5), (200, 150), (440, 290)] {
        assert_eq!(
            img.get_pixel(10 + x, title_h + 10 + 22 + y),
            want.get_pixel(x, y),
            "({x},{y})"
        );
    }

    // with "SVG too": the same figure as SVG, each pane's map embedded, captions and bars as vectors
    h.state_mut().settings.export_svg = true;
    h.get_by_label("Export view").click();
    settle(&mut h);
    // the PNG's name is taken: both files get the next free one
    let svg_path = dir.path().join("chelsea_dinov2-tiny_methods_cls-2.svg");
    assert!(svg_path.with_extension("png").exists());
    let svg = std::fs::read_to_string(&svg_path).unwrap();
    assert_eq!(svg.matches("<image ").count(), 4, "one map per pane");
    assert_eq!(svg.matches("url(#colourbar)").count(), 4, "a bar per pane");
    assert!(
        svg.contains(">Rollout · query CLS</text>"),
        "{}",
        &svg[..400]
    );
    assert!(svg.contains("vitscope.view: methods"));
    let first = common::first_embedded_png(&svg);
    assert_eq!(first, want, "the first pane's map, without raster text");
}

#[test]
fn compare_and_single_maps_export_at_a_chosen_size() {
    let title_h = vitscope::render::draw::PaneLayout::for_width(200).title_h;
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(dir.path(), View::Compare);
    settle(&mut h);
    h.get_by_label("Resize to").click();
    settle(&mut h);
    assert_eq!(h.state().settings.export_long_side, Some(1024));
    h.state_mut().settings.export_long_side = Some(200);
    h.get_by_label("One colour scale").click();
    h.get_by_label("Export view").click();
    settle(&mut h);
    let files = pngs(dir.path());
    assert_eq!(files.len(), 1, "{files:?}");
    let img = image::open(&files[0]).unwrap().to_rgb8();
    // under the title, two panes of 200×133 (chelsea is 451×300) side by side, one shared colour bar under
    // the figure
    let w = 2 * (200 + 10) + 10;
    assert_eq!(
        img.dimensions(),
        (
            w,
            title_h + 133 + 22 + 2 * 10 + vitscope::export::maps::colour_bar_height(w)
        )
    );
    let scale = |k: &str| {
        text(&files[0], k)
            .rsplit_once("[scale")
            .unwrap()
            .1
            .to_string()
    };
    assert_eq!(
        scale("vitscope.pane1"),
        scale("vitscope.pane2"),
        "one shared scale"
    );

    h.state_mut().settings.view = View::Attention;
    settle(&mut h);
    h.get_by_label("Export map").click();
    settle(&mut h);
    let map = pngs(dir.path())
        .into_iter()
        .find(|p| p.to_string_lossy().contains("_L02_"))
        .expect("the map");
    assert_eq!(image::image_dimensions(&map).unwrap(), (200, 133));
}

#[test]
fn the_tokens_view_exports_its_prefix_mass_plot_and_table() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(dir.path(), View::Tokens);
    settle(&mut h);
    h.get_by_label("Export prefix plot + CSV").click();
    settle(&mut h);
    assert!(
        h.state().state.error.is_none(),
        "{:?}",
        h.state().state.error
    );
    let png = dir.path().join("chelsea_dinov2-tiny_prefix_mass.png");
    let csv =
        std::fs::read_to_string(dir.path().join("chelsea_dinov2-tiny_prefix_mass.csv")).unwrap();
    assert_eq!(image::image_dimensions(&png).unwrap(), (640, 428));
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "layer,token,mass");
    assert_eq!(lines.len(), 1 + 3, "3 layers × 1 prefix token (CLS)");
    let mass: f32 = lines[1].split(',').nth(2).unwrap().parse().unwrap();
    assert!((0.0..=1.0).contains(&mass) && mass > 0.0, "{mass}");
    // under the export buttons and in the status bar
    assert!(
        h.query_all_by_label_contains("chelsea_dinov2-tiny_prefix_mass.png")
            .count()
            >= 1
    );
}

/// The Embeddings view exports its figures: the similarity overview, the chosen patch's map with a colour
/// bar, the patch filters; each decodes and names what it is.
#[test]
fn the_embeddings_view_exports_its_figures() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(dir.path(), View::Embeddings);
    settle(&mut h);
    h.state_mut().state.pos_pick = Some((1, 2));
    h.get_by_label("Export view").click();
    settle(&mut h);
    assert!(
        h.state().state.error.is_none(),
        "{:?}",
        h.state().state.error
    );
    let files = h.state().state.last_export.clone();
    let names: Vec<String> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "dinov2-tiny_embeddings.pos-sim.png",
            "dinov2-tiny_embeddings.pos-sim-patch.png",
            "dinov2-tiny_embeddings.patch-pca.png"
        ]
    );
    for f in &files {
        image::open(f).unwrap();
    }
    assert_eq!(text(&files[1], "vitscope.patch"), "row 1, col 2");
    assert_eq!(text(&files[2], "vitscope.method"), "patch-pca");

    // with "SVG too", the chosen patch's map also as SVG: the map embedded, the bar from -1 to 1 as vectors
    h.state_mut().settings.export_svg = true;
    h.get_by_label("Export view").click();
    settle(&mut h);
    let svg = h
        .state()
        .state
        .last_export
        .iter()
        .find(|f| f.extension().is_some_and(|e| e == "svg"))
        .cloned()
        .expect("an SVG");
    assert!(
        svg.ends_with("dinov2-tiny_embeddings-2.pos-sim-patch.svg"),
        "{svg:?}"
    );
    let doc = std::fs::read_to_string(&svg).unwrap();
    assert!(
        doc.contains(">-1.0</text>") && doc.contains(">1.0</text>"),
        "{doc}"
    );
    assert!(doc.contains("vitscope.patch: row 1, col 2"));
}
