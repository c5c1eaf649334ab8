//! One writer per artefact: the command line and the app export the same map, table and plot as
//! byte-identical files (the tiny DINOv2, chelsea.png at 24 px, defaults on both sides).
mod common;

use std::path::Path;

use common::ui::{harness, settle};
use common::{fixture, vitscope};
use egui_kittest::kittest::Queryable;
use vitscope::analysis::HeadSel;
use vitscope::ui::settings::View;

fn cli(args: &[&str]) {
    let r = vitscope(args);
    assert!(
        r.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&r.stderr)
    );
}

fn same_bytes(a: &Path, b: &Path) {
    let (x, y) = (std::fs::read(a).unwrap(), std::fs::read(b).unwrap());
    assert!(
        x == y,
        "{} ({} bytes) and {} ({} bytes) differ",
        a.display(),
        x.len(),
        b.display(),
        y.len()
    );
}

/// In the app: open `view`, press `button`, and wait until the export is done (without an error).
fn app_export(h: &mut egui_kittest::Harness<'static, vitscope::ui::App>, view: View, button: &str) {
    h.state_mut().settings.view = view;
    settle(h);
    h.get_by_label(button).click();
    settle(h);
    assert!(
        h.state().state.error.is_none(),
        "{:?}",
        h.state().state.error
    );
}

#[test]
fn the_app_and_the_command_line_write_the_same_bytes() {
    let app_dir = tempfile::tempdir().unwrap();
    let cli_dir = tempfile::tempdir().unwrap();
    let tiny = fixture("dinov2_tiny").display().to_string();
    let c = cli_dir.path();
    let common = [
        "--model",
        &tiny,
        "--image",
        "assets/chelsea.png",
        "--size",
        "24",
    ];

    // a map: layer 2, head mean, CLS, overlay at the photo's resolution
    let mut h = harness(app_dir.path(), View::Attention);
    h.state_mut().state.layer = 2;
    h.state_mut().state.head = HeadSel::Mean;
    app_export(&mut h, View::Attention, "Export map");
    let out = c.join("maps");
    let mut args = vec!["export"];
    args.extend(common);
    args.extend(["--layer", "2", "--head", "mean", "--query", "cls", "--out"]);
    args.push(out.to_str().unwrap());
    cli(&args);
    let name = "chelsea_dinov2-tiny_cls_L02_mean.png";
    same_bytes(&app_dir.path().join(name), &out.join(name));

    // a table and a plot: mean attention distance and entropy per layer and head, the plot also as SVG
    // and both at 300 dpi
    h.state_mut().settings.export_svg = true;
    h.state_mut().settings.plot_dpi = 300;
    app_export(&mut h, View::Distance, "Export plot + CSV");
    let (csv, png) = (c.join("distance.csv"), c.join("distance.png"));
    for plot in [&png, &c.join("distance.svg")] {
        let mut args = vec!["distance", "--model", &tiny, "--size", "24", "--images"];
        args.extend(["assets/chelsea.png", "--out", csv.to_str().unwrap()]);
        args.extend(["--plot", plot.to_str().unwrap(), "--dpi", "300", "--force"]);
        cli(&args);
    }
    let app = |ext: &str| {
        app_dir
            .path()
            .join(format!("chelsea_dinov2-tiny_distance.{ext}"))
    };
    same_bytes(&app("csv"), &csv);
    same_bytes(&app("png"), &png);
    same_bytes(&app("svg"), &c.join("distance.svg"));
    let at_300 = image::open(&png).unwrap();
    assert_eq!(at_300.width(), 3500, "1120 px at 96 dpi is 3500 at 300");

    // the prefix-mass table
    app_export(&mut h, View::Tokens, "Export prefix plot + CSV");
    let out = c.join("tokens");
    let mut args = vec!["export"];
    args.extend(common);
    args.extend(["--method", "token-norm", "--out", out.to_str().unwrap()]);
    cli(&args);
    same_bytes(
        &app_dir.path().join("chelsea_dinov2-tiny_prefix_mass.csv"),
        &out.join("chelsea_dinov2-tiny_prefix-mass.csv"),
    );
}

/// The definition a method's PNG states on the command line is the one its pane shows in the app.
#[test]
fn method_definitions_come_from_one_place() {
    use vitscope::jobs::{AnalysisRequest, AnalysisResult};
    let app_dir = tempfile::tempdir().unwrap();
    let cli_dir = tempfile::tempdir().unwrap();
    let tiny = fixture("dinov2_tiny").display().to_string();
    let mut h = harness(app_dir.path(), View::Methods);
    settle(&mut h);
    let s = &h.state().state;
    let want = AnalysisRequest::Methods {
        opts: s.methods.opts,
        target: s.methods.target.clone(),
        flow: s.methods.flow,
    };
    let Some((AnalysisResult::Methods(maps, _), true)) = s.result(&want) else {
        panic!("the Methods view computed nothing")
    };
    for m in maps {
        let name = m.name.method().name();
        let out = cli_dir.path().join(name);
        cli(&[
            "export",
            "--model",
            &tiny,
            "--image",
            "assets/chelsea.png",
            "--size",
            "24",
            "--method",
            name,
            "--out",
            out.to_str().unwrap(),
        ]);
        let png = std::fs::read_dir(&out)
            .unwrap()
            .flatten()
            .next()
            .unwrap()
            .path();
        let text = vitscope::export::png_file::read_png_text(&png).unwrap();
        let definition = text
            .iter()
            .find(|(k, _)| k == "vitscope.definition")
            .map(|(_, v)| v.clone())
            .unwrap();
        assert_eq!(definition, m.definition, "{name}");
    }
}
