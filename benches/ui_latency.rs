//! How fast the app answers an interaction, without re-running the model: the real `App` (built-in
//! DINOv2 ViT-S/14, chelsea.png) driven through egui_kittest, measuring
//! - layer, head and colormap changes: the frame that shows the new map, as the CPU time of the app's
//!   `ui` (our colouring and texture building, egui layout) and the wall time of the whole egui pass
//!   (the GPU's upload and paint are not included: no renderer);
//! - query changes: from the click to the frame that shows the new rows (the worker extracts them from
//!   the kept capture: a round trip through the job queue).
//!
//! ```text
//! cargo bench --bench ui_latency                # input 224 and 518
//! cargo bench --bench ui_latency -- 224 1022    # any sizes
//! cargo bench --bench ui_latency -- 1022:query-keys 1022:f16   # SIZE:STORE, another attention storage
//! ```
//! Prints p50 / p95 / max per interaction and size (ms); the target is one frame, 16 ms.
use std::time::{Duration, Instant};

use clap::ValueEnum;
use egui_kittest::Harness;
use vitscope::analysis::HeadSel;
use vitscope::jobs::QuerySpec;
use vitscope::model::{AttentionStore, InputSize, ModelSource};
use vitscope::render::Colormap;
use vitscope::ui::app::UiCommand;
use vitscope::ui::settings::View;
use vitscope::ui::{App, StartOptions};

fn settle(h: &mut Harness<'static, App>) {
    let start = Instant::now();
    loop {
        h.step();
        if !h.state().busy() {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(600), "worker stuck");
        std::thread::sleep(Duration::from_millis(2));
    }
    h.step();
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn report(what: &str, side: &str, mut v: Vec<f64>) {
    println!(
        "| {side} | {what} | {} | {:.2} | {:.2} | {:.2} |",
        v.len(),
        pct(&mut v, 0.5),
        pct(&mut v, 0.95),
        pct(&mut v, 1.0)
    );
}

/// The frame after `cmd`: the CPU time of the app's `ui`, and the wall time of the whole egui pass.
fn frame_after(h: &mut Harness<'static, App>, cmd: UiCommand) -> (f64, f64) {
    h.state_mut().apply(cmd);
    let t = Instant::now();
    h.step();
    let wall = t.elapsed().as_secs_f64() * 1e3;
    (*h.state().frame_ms.back().expect("a frame") as f64, wall)
}

fn report_pair(what: &str, side: &str, v: Vec<(f64, f64)>) {
    report(
        &format!("{what}: app ui"),
        side,
        v.iter().map(|p| p.0).collect(),
    );
    report(
        &format!("{what}: whole egui pass"),
        side,
        v.iter().map(|p| p.1).collect(),
    );
}

fn main() {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let parse = |a: &str| -> Option<(usize, AttentionStore)> {
        let (side, store) = a.split_once(':').unwrap_or((a, "f32"));
        Some((
            side.parse().ok()?,
            vitscope::cli::AttentionArg::from_str(store, true)
                .ok()?
                .into(),
        ))
    };
    let sides: Vec<(usize, AttentionStore)> =
        std::env::args().skip(1).filter_map(|a| parse(&a)).collect();
    let sides = if sides.is_empty() {
        vec![(224, AttentionStore::F32), (518, AttentionStore::F32)]
    } else {
        sides
    };
    println!("| input | interaction | n | p50 ms | p95 ms | max ms |");
    println!("|---|---|---|---|---|---|");
    for (px, store) in sides {
        let side = px;
        let start = StartOptions {
            model: Some(ModelSource::Default),
            image: Some(root.join("assets/chelsea.png")),
            size: InputSize::Exact { h: side, w: side },
            export_dir: Some(std::env::temp_dir().join("vitscope-bench-export")),
            view: Some(View::Attention),
            ..Default::default()
        };
        let mut h = Harness::builder()
            .with_size(egui::vec2(1280.0, 800.0))
            .build_eframe(|cc| App::new(cc, start));
        settle(&mut h);
        if store != AttentionStore::F32 {
            h.state_mut().apply(UiCommand::SetAttentionStore(store));
            settle(&mut h);
            assert_eq!(h.state().state.attention, store);
        }
        let side = &format!("{px} ({})", store.label());
        for _ in 0..5 {
            h.step();
        }
        let layers = h.state().state.rows.as_ref().expect("rows").layers;
        let heads = h.state().state.rows.as_ref().unwrap().heads;
        let grid = h.state().state.rows.as_ref().unwrap().layout.grid_w;

        let layer: Vec<(f64, f64)> = (0..60)
            .map(|i| frame_after(&mut h, UiCommand::SetLayer(i % layers)))
            .collect();
        report_pair("layer", side, layer);
        let head: Vec<(f64, f64)> = (0..60)
            .map(|i| {
                let sel = if i % (heads + 1) == 0 {
                    HeadSel::Mean
                } else {
                    HeadSel::Head(i % (heads + 1) - 1)
                };
                frame_after(&mut h, UiCommand::SetHead(sel))
            })
            .collect();
        report_pair("head", side, head);
        let maps = [
            Colormap::Magma,
            Colormap::Inferno,
            Colormap::Turbo,
            Colormap::Viridis,
        ];
        let colormap: Vec<(f64, f64)> = (0..60)
            .map(|i| {
                h.state_mut().settings.colormap = maps[i % maps.len()];
                let t = Instant::now();
                h.step();
                let wall = t.elapsed().as_secs_f64() * 1e3;
                (*h.state().frame_ms.back().unwrap() as f64, wall)
            })
            .collect();
        report_pair("colormap", side, colormap);
        let query: Vec<f64> = (0..60)
            .map(|i| {
                let (r, c) = ((i * 7) % grid, (i * 3) % grid);
                let t = Instant::now();
                h.state_mut()
                    .apply(UiCommand::SetQuery(QuerySpec::Patch(r, c)));
                loop {
                    h.step();
                    let s = &h.state().state;
                    let q = s.rows.as_ref().map(|rows| rows.query);
                    let want = s
                        .rows
                        .as_ref()
                        .and_then(|rows| rows.layout.token_of_patch(r, c));
                    if q == want && !h.state().busy() {
                        break;
                    }
                    // Like eframe's event loop waiting for the worker's repaint request, not a spin that
                    // takes a core from libtorch's threads.
                    std::thread::sleep(Duration::from_micros(200));
                }
                t.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        report("query (worker round trip + frame)", side, query);
    }
}
