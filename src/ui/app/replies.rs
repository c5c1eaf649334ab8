//! What comes back: worker replies, finished file dialogs, dropped files.
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::{App, DialogKind, UiCommand};
use crate::analysis::HeadSel;
use crate::jobs::{Outcome, QuerySpec};
use crate::model::ModelSource;

impl App {
    pub(in crate::ui) fn open_dialog(&mut self, kind: DialogKind) {
        if self.dialog_open {
            return;
        }
        self.dialog_open = true;
        let tx = self.dialogs.0.clone();
        let _ = std::thread::Builder::new()
            .name("vitscope-dialog".into())
            .spawn(move || {
                let t = Instant::now();
                let dialog = rfd::FileDialog::new();
                let path = match kind {
                    DialogKind::Image => dialog
                        .add_filter(
                            "Images",
                            &["png", "jpg", "jpeg", "gif", "webp", "tif", "tiff", "bmp"],
                        )
                        .pick_file(),
                    DialogKind::Model => dialog
                        .add_filter("safetensors", &["safetensors"])
                        .pick_file(),
                };
                let _ = tx.send((kind, path, t.elapsed()));
            });
    }

    /// Drain the worker's replies and finished dialogs; apply dropped files.
    pub fn poll(&mut self, ctx: &egui::Context) {
        while let Some(reply) = self.worker.try_recv() {
            for outcome in reply.outcomes {
                self.receive(reply.generation, outcome);
            }
        }
        while let Ok((kind, path, elapsed)) = self.dialogs.1.try_recv() {
            self.dialog_open = false;
            match (kind, path) {
                (DialogKind::Image, Some(p)) => self.apply(UiCommand::LoadImage(p)),
                (DialogKind::Model, Some(p)) => self.apply(UiCommand::LoadModel(ModelSource::Path(p))),
                (_, None) if elapsed < Duration::from_millis(300) => {
                    self.state.notice = Some("No file dialog is available here (no desktop portal): type a path in the field, or drop the file on the window.".into())
                }
                (_, None) => {}
            }
        }
        let dropped: Vec<PathBuf> = ctx.input(|i| {
            i.raw
                .dropped_files
                .iter()
                .map(|f| f.path().to_path_buf())
                .filter(|p| !p.as_os_str().is_empty())
                .collect()
        });
        for p in dropped {
            let is_model = p.is_dir() || p.extension().is_some_and(|e| e == "safetensors");
            self.apply(if is_model {
                UiCommand::LoadModel(ModelSource::Path(p))
            } else {
                UiCommand::LoadImage(p)
            });
        }
    }

    pub(in crate::ui) fn receive(&mut self, generation: u64, outcome: Outcome) {
        let s = &mut self.state;
        match outcome {
            // a later request made it moot; its own answer follows (the pending entry goes below)
            Outcome::Superseded => {}
            Outcome::ModelLoaded(info) => {
                crate::ui::settings::remember(&mut self.settings.recent_models, &info.path);
                {
                    use crate::ui::compare_view::Pane;
                    let last = info.layers.saturating_sub(1);
                    if s.compare.len() < 2 {
                        s.compare = vec![
                            Pane::Attention {
                                layer: 0,
                                head: HeadSel::Mean,
                            },
                            Pane::Attention {
                                layer: last,
                                head: HeadSel::Mean,
                            },
                        ];
                    }
                    for p in &mut s.compare {
                        if let Pane::Attention { layer, head } = p {
                            *layer = (*layer).min(last);
                            if matches!(head, HeadSel::Head(h) if *h >= info.heads) {
                                *head = HeadSel::Mean;
                            }
                        }
                    }
                }
                s.results.retain(|(_, r, _)| r.per_image());
                s.head = HeadSel::Mean;
                s.layer = info.layers.saturating_sub(1); // the last layer is where attention is most semantic
                s.model = Some(info);
                s.clear_error(super::ErrorSubject::Model);
            }
            Outcome::ImageLoaded { path, image, notes } => {
                crate::ui::settings::remember(&mut self.settings.recent_images, &path);
                s.image_notes = notes;
                s.image_path = Some(path);
                s.image = Some(image);
                self.tex.photo_generation += 1;
                s.clear_error(super::ErrorSubject::Image);
            }
            Outcome::Computed(c) => {
                // a new run: the hover preview was of the old one
                s.preview = None;
                s.preview_asked = None;
                // the size the model runs at, in the field too
                s.size = c.size;
                s.size_field = c.size.to_string();
                s.clear_error(super::ErrorSubject::Size);
                s.layer = s.layer.min(c.rows.layers.saturating_sub(1));
                if !c.rows.has_head(s.layer, s.head) {
                    s.head = HeadSel::Mean;
                }
                s.query = QuerySpec::of_rows(&c.rows);
                if let Some(n) = c.notice {
                    s.notice = Some(n);
                }
                s.analysis_epoch += 1;
                s.rows = Some(c.rows);
                s.rows_generation = generation;
                s.input_hw = Some(c.input_hw);
                s.forward_ms = Some(c.forward_ms);
                s.attention = c.store;
                s.attention_bytes = Some(c.attention_bytes);
                s.classes = c.classes;
                s.lens = c.lens;
                // what the worker applied (after a model or image change, only the parts that still fit)
                if generation >= s.intervention_sent {
                    let now = applied(&c.change, &s.intervention);
                    if !s.intervention.is_none() && now != s.intervention {
                        s.notice = Some(format!(
                            "The intervention now: {} (patches and tokens are kept only on the same grid, heads only \
                             where the model has them)",
                            now.describe()
                        ));
                    }
                    s.intervention = now;
                }
                s.change = c.change;
            }
            Outcome::Rows { rows, before } => {
                if generation >= self.query_generation {
                    s.analysis_epoch += 1;
                    s.query = QuerySpec::of_rows(&rows);
                    s.rows = Some(rows);
                    s.rows_generation = generation;
                    if let (Some(change), Some(before)) = (&mut s.change, before) {
                        change.before = before;
                    }
                }
            }
            Outcome::Preview { query, rows } => {
                if s.preview_asked == Some(query) {
                    s.preview = Some((query, rows));
                }
            }
            Outcome::Exported(files) => s.exported(files),
            Outcome::Analysis { request, result } => {
                let epoch = s
                    .pending
                    .iter()
                    .find(|(g, _, _)| *g == generation)
                    .map_or(0, |(_, e, _)| *e);
                s.results.retain(|(_, r, _)| !r.same_slot(&request));
                s.results.push((epoch, request, *result));
            }
            Outcome::Failed(crate::jobs::JobError::Cancelled(what)) => {
                // a stop the user asked for: said, not shown as a failure, and not asked for again
                if let Some((_, e, r)) = s.pending.iter().find(|(g, _, _)| *g == generation) {
                    s.failed.push((*e, r.clone(), what.clone()));
                }
                s.notice = Some(what);
            }
            Outcome::Failed(err) => {
                let msg = err.to_string();
                if let Some((_, e, r)) = s.pending.iter().find(|(g, _, _)| *g == generation) {
                    s.failed.push((*e, r.clone(), msg.clone()));
                }
                s.error_subject = s
                    .loads
                    .iter()
                    .find(|(g, _)| *g == generation)
                    .map_or(super::ErrorSubject::Other, |(_, k)| *k);
                if s.error_subject == super::ErrorSubject::Intervention
                    && generation >= s.intervention_sent
                {
                    // the worker kept its run: the edit goes back to what is applied
                    s.intervention = applied(&s.change, &s.intervention);
                }
                // the worker kept what it had: the fields say that again, not the path or size that failed
                match s.error_subject {
                    super::ErrorSubject::Size => s.size_field = s.size.to_string(),
                    super::ErrorSubject::Model => {
                        s.model_field = s
                            .model
                            .as_ref()
                            .map(|m| m.path.display().to_string())
                            .unwrap_or_default()
                    }
                    super::ErrorSubject::Image => {
                        s.image_field = s
                            .image_path
                            .as_ref()
                            .map(|p| p.display().to_string())
                            .unwrap_or_default()
                    }
                    _ => {}
                }
                s.error_actions = error_actions(&err, s);
                s.error = Some(msg);
            }
        }
        s.pending.retain(|(g, _, _)| *g != generation);
        s.loads.retain(|(g, _)| *g > generation);
    }
}

/// The buttons an error offers: for an input too large to keep its maps, the size asked for with queries and
/// keys kept instead (unless they already are), and the largest size that fits with maps.
fn error_actions(
    err: &crate::jobs::JobError,
    s: &super::ViewState,
) -> Vec<(String, Vec<crate::ui::command::UiCommand>)> {
    use crate::model::{AttentionStore, InputSize};
    use crate::ui::command::UiCommand;
    let asked = s.model_asked.trim();
    if s.error_subject == super::ErrorSubject::Model
        && crate::model::hub::is_repo_id(asked)
        && !std::path::Path::new(asked).exists()
    {
        // a hub id not in the cache: the refusal advises the download
        return vec![(
            "Download from the hub".into(),
            vec![UiCommand::DownloadModel(asked.to_string())],
        )];
    }
    let crate::jobs::JobError::TooLarge {
        suggest, memory, ..
    } = err
    else {
        return Vec::new();
    };
    if s.error_subject != super::ErrorSubject::Size {
        return Vec::new();
    }
    let mut out = Vec::new();
    // keeping queries and keys helps only where memory was the reason (not the per-side limit)
    if *memory && s.attention != AttentionStore::QueryKeys {
        out.push((
            format!("Use queries and keys at {}", s.size_asked),
            vec![
                UiCommand::SetAttentionStore(AttentionStore::QueryKeys),
                UiCommand::SetSize(s.size_asked),
            ],
        ));
    }
    out.push((
        format!("Use {suggest} px"),
        vec![UiCommand::SetSize(InputSize::Shorter(*suggest))],
    ));
    out
}

/// The intervention the worker applied; with none, the edit's fill and ablation kinds stay chosen.
fn applied(
    change: &Option<crate::jobs::Change>,
    edit: &crate::model::Intervention,
) -> crate::model::Intervention {
    match change {
        Some(c) => c.intervention.clone(),
        None => crate::model::Intervention {
            fill: edit.fill,
            ablation: edit.ablation,
            ..Default::default()
        },
    }
}
