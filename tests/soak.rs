//! A CI-sized soak of the real app (egui_kittest): 200 random operations — good and bad images and models,
//! sizes, storages, views, queries, exports, overwrite answers, cancels in the middle of work — from a fixed
//! seed. After every operation: no panic (the harness would stop), the worker answers within a minute, the
//! model and image loaded at the start stay loaded through every failure, and no temporary file is left in
//! the export folder. At the end every exported PNG decodes.
mod common;

use std::path::PathBuf;

use common::corpus::{bad_checkpoints, bad_images};
use common::ui::{harness, settle};
use common::{fixture, root};
use vitscope::analysis::HeadSel;
use vitscope::jobs::QuerySpec;
use vitscope::model::{AttentionStore, InputSize, ModelSource};
use vitscope::ui::app::UiCommand;
use vitscope::ui::overwrite::OverwriteChoice;
use vitscope::ui::settings::View;

/// xorshift64*: a fixed, dependency-free sequence.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len())]
    }
}

#[test]
fn two_hundred_random_operations_leave_the_app_working() {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("export");
    let bad_dir = dir.path().join("bad");
    std::fs::create_dir_all(&bad_dir).unwrap();
    let bad_imgs: Vec<PathBuf> = bad_images(&bad_dir).into_iter().map(|(p, _)| p).collect();
    let bad_models: Vec<PathBuf> = bad_checkpoints(&bad_dir)
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    let good_imgs: Vec<PathBuf> = ["chelsea.png", "coffee.png", "astronaut.png", "rocket.jpg"]
        .iter()
        .map(|f| root().join("assets").join(f))
        .collect();
    let good_models = [fixture("dinov2_tiny"), fixture("zoo/timm_deit_distilled")]
        .into_iter()
        .filter(|p| p.exists())
        .collect::<Vec<_>>();
    let views = View::ALL;
    let stores = AttentionStore::ALL;
    let mut h = harness(&export, View::Attention);
    let mut rng = Rng(0x5EED_1234_ABCD_0001);
    let mut log: Vec<String> = Vec::new();
    let (mut errors, mut prompts) = (0, 0);
    for step in 0..200 {
        let cmd = match rng.below(16) {
            0 | 1 => UiCommand::LoadImage(rng.pick(&good_imgs).clone()),
            2 | 3 => UiCommand::LoadImage(rng.pick(&bad_imgs).clone()),
            4 => UiCommand::LoadModel(ModelSource::Path(rng.pick(&good_models).clone())),
            5 => UiCommand::LoadModel(ModelSource::Path(rng.pick(&bad_models).clone())),
            6 => UiCommand::SetSize(InputSize::Shorter(*rng.pick(&[16usize, 20, 24, 32, 40]))),
            7 => UiCommand::SetAttentionStore(*rng.pick(&stores)),
            8 => UiCommand::ExportMap,
            9 => UiCommand::ExportHeadGrid,
            10 => UiCommand::ExportAllLayers,
            11 => UiCommand::SetView(*rng.pick(&views)),
            12 => UiCommand::SetQuery(if rng.below(3) == 0 {
                QuerySpec::Cls
            } else {
                QuerySpec::Patch(rng.below(8), rng.below(12))
            }),
            13 => {
                if rng.below(2) == 0 {
                    UiCommand::StepLayer(1)
                } else {
                    UiCommand::SetHead(HeadSel::Head(rng.below(4)))
                }
            }
            14 => UiCommand::CancelWork,
            _ => UiCommand::DismissError,
        };
        log.push(format!("{step}: {cmd:?}"));
        h.state_mut().apply(cmd);
        // an overwrite prompt is answered at random
        if h.state().state.overwrite_prompt.is_some() {
            prompts += 1;
            let answer = *rng.pick(&[
                OverwriteChoice::Replace,
                OverwriteChoice::KeepBoth,
                OverwriteChoice::Cancel,
            ]);
            h.state_mut().apply(UiCommand::ResolveOverwrite(answer));
        }
        // most steps wait for the worker; some race on (a cancel or the next command lands mid-work)
        if rng.below(4) == 0 {
            h.step();
        } else {
            settle(&mut h);
            let s = &h.state().state;
            errors += usize::from(s.error.is_some());
            assert!(
                s.model.is_some() && s.image.is_some() && s.rows.is_some(),
                "lost state after {}",
                log.join("\n")
            );
        }
        let left: Vec<String> = std::fs::read_dir(&export)
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.contains(".tmp-"))
                    .collect()
            })
            .unwrap_or_default();
        assert!(left.is_empty(), "{left:?} after {}", log.join("\n"));
    }
    settle(&mut h);
    let mut pngs = 0;
    for e in std::fs::read_dir(&export).unwrap().flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "png") {
            image::open(&p).unwrap_or_else(|err| panic!("{}: {err}", p.display()));
            pngs += 1;
        }
    }
    eprintln!(
        "soak: {pngs} PNGs exported, {errors} settled steps showing an error, {prompts} overwrite prompts"
    );
    assert!(pngs > 0, "the soak exported nothing");
    assert!(
        errors > 0,
        "the soak never met a failure: its bad inputs did not reach the app"
    );
}
