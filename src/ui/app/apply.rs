//! [`App::apply`]: the one place that changes the app's state in answer to the user.
use std::path::PathBuf;

use super::*;

impl App {
    /// The one place that changes state in answer to the user.
    pub fn apply(&mut self, cmd: UiCommand) {
        let s = &mut self.state;
        match cmd {
            UiCommand::SetLayer(l) => {
                if let Some(rows) = &s.rows {
                    s.layer = l.min(rows.layers.saturating_sub(1));
                    // A Swin's stages have different head counts: a head the new block lacks is not faked.
                    if !rows.has_head(s.layer, s.head) {
                        s.notice = Some(format!(
                            "{} does not exist in layer {} ({} heads there): showing the head mean",
                            s.head.label(),
                            s.layer,
                            rows.heads_at(s.layer)
                        ));
                        s.head = HeadSel::Mean;
                    }
                }
            }
            UiCommand::SetHead(h) => s.head = h,
            UiCommand::SetQuery(q) => {
                s.query = q;
                s.preview = None;
                s.preview_asked = None;
                self.query_generation = self.worker.send(Job::SetQuery(q));
            }
            UiCommand::PreviewQuery(q) => {
                s.preview_asked = q;
                match q {
                    Some(q) => {
                        self.worker.send(Job::PreviewQuery(q));
                    }
                    None => s.preview = None,
                }
            }
            UiCommand::LoadImage(p) => {
                s.image_field = p.display().to_string();
                let g = self.worker.send(Job::LoadImage(p));
                s.loads.push((g, ErrorSubject::Image));
            }
            UiCommand::LoadModel(m) => {
                if let ModelSource::Path(p) = &m {
                    s.model_field = p.display().to_string();
                    s.model_asked = s.model_field.clone();
                }
                let g = self.worker.send(Job::LoadModel {
                    source: m,
                    device: s.device,
                    precision: s.precision,
                });
                s.loads.push((g, ErrorSubject::Model));
            }
            UiCommand::DownloadModel(repo) => {
                // the advice "download it" is being followed: the refusal that gave it has done its work
                s.clear_error(ErrorSubject::Model);
                s.model_field = repo.clone();
                let g = self.worker.send(Job::DownloadModel {
                    repo,
                    device: s.device,
                    precision: s.precision,
                });
                s.loads.push((g, ErrorSubject::Model));
            }
            UiCommand::SetSize(size) => {
                // the field says what is asked; `s.size` what runs (from the worker's answer)
                s.size_field = size.to_string();
                s.size_asked = size;
                let g = self.worker.send(Job::SetSize(size));
                s.loads.push((g, ErrorSubject::Size));
            }
            UiCommand::SetDevice(d) => s.device = d,
            UiCommand::SetPrecision(p) => s.precision = p,
            UiCommand::SetAttentionStore(a) => {
                let g = self.worker.send(Job::SetStore(a));
                s.loads.push((g, ErrorSubject::Size));
            }
            UiCommand::OpenDialog(kind) => self.open_dialog(kind),
            UiCommand::ExportMap
            | UiCommand::ExportHeadGrid
            | UiCommand::ExportAllLayers
            | UiCommand::ExportFolder(_) => {
                let heads = if cmd == UiCommand::ExportHeadGrid {
                    HeadSpec::GridOnly
                } else {
                    HeadSpec::One(s.head)
                };
                let all = cmd == UiCommand::ExportAllLayers;
                let req = MapExport {
                    out_dir: PathBuf::from(&s.export_field),
                    stem: s.export_stem(),
                    layers: if all {
                        LayerSpec::All
                    } else {
                        LayerSpec::One(s.layer)
                    },
                    heads,
                    colour_bar: self.settings.export_colour_bar,
                    npy: self.settings.export_npy,
                    svg: self.settings.export_svg,
                    mosaic: all,
                    long_side: self.settings.export_long_side,
                    colormap: self.settings.colormap,
                    // with the overlay hidden (O), an export still shows the map at the opacity it had
                    style: Style::Overlay {
                        opacity: s.hidden_opacity.unwrap_or(self.settings.opacity),
                    },
                    overwrite: false,
                    model_name: s.model_name(),
                    intervention: s.change.as_ref().map(|c| c.intervention.describe()),
                    image_name: s
                        .image_path
                        .as_deref()
                        .and_then(Path::file_name)
                        .map(|x| x.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                };
                self.settings.export_dir = req.out_dir.clone();
                let existing = match (&cmd, &self.state.rows) {
                    (UiCommand::ExportFolder(_), _) | (_, None) => Vec::new(),
                    (_, Some(rows)) => crate::export::maps::existing_files(&req, rows),
                };
                match cmd {
                    // A folder export never replaces a file: each image gets a free stem.
                    UiCommand::ExportFolder(folder) => {
                        self.worker.send(Job::ExportFolder { folder, req });
                    }
                    _ if !existing.is_empty() => {
                        self.state.overwrite_prompt = Some((req, existing));
                    }
                    _ => {
                        self.worker.send(Job::Export(req));
                    }
                }
            }
            UiCommand::SetSettings(new) => self.settings = *new,
            UiCommand::DismissError => {
                s.error = None;
                s.error_actions.clear();
            }
            UiCommand::SetView(v) => self.settings.view = v,
            UiCommand::OpenHead(l, h) => {
                self.settings.view = View::Attention;
                self.apply(UiCommand::SetHead(HeadSel::Head(h)));
                self.apply(UiCommand::SetLayer(l));
            }
            UiCommand::StepLayer(d) => {
                let l = (s.layer as i64 + d).max(0) as usize;
                self.apply(UiCommand::SetLayer(l));
            }
            UiCommand::StepHead(d) => {
                if let Some(rows) = &s.rows {
                    // Order: mean, h0 … h(H−1), cycling.
                    let n = rows.heads_at(s.layer) as i64 + 1;
                    let at = match s.head {
                        HeadSel::Mean => 0,
                        HeadSel::Head(h) => h as i64 + 1,
                    };
                    s.head = match (at + d).rem_euclid(n) {
                        0 => HeadSel::Mean,
                        k => HeadSel::Head(k as usize - 1),
                    };
                }
            }
            UiCommand::CancelWork => {
                self.worker.cancel();
                // A cancelled flow is not asked for again.
                s.methods.flow = false;
            }
            UiCommand::RunFolderStats(folder) => {
                let req = AnalysisRequest::FolderStats {
                    folder,
                    convention: s.stats_convention,
                };
                s.failed.retain(|(_, r, _)| *r != req);
                s.results.retain(|(_, r, _)| *r != req);
                let generation = self.worker.send(Job::Analyse(req.clone()));
                s.pending.push((generation, s.analysis_epoch, req));
            }
            UiCommand::ExportDistance
            | UiCommand::ExportView
            | UiCommand::ExportPrefixMass
            | UiCommand::ExportCurves => {
                // a plot and its table together, or neither
                let done = crate::export::all_or_nothing(|| {
                    match cmd {
                        UiCommand::ExportDistance => self.export_distance(),
                        UiCommand::ExportView => self.export_view(),
                        UiCommand::ExportCurves => self.export_curves(),
                        _ => self.export_prefix_mass(),
                    }
                    .map_err(ExportFailure)
                })
                .map_err(|e| e.0);
                match done {
                    Ok(files) => self.state.exported(files),
                    Err(e) => self.state.fail(e),
                }
            }
            UiCommand::ResolveOverwrite(choice) => {
                use crate::ui::overwrite::OverwriteChoice;
                if let Some((mut req, _)) = s.overwrite_prompt.take() {
                    match choice {
                        OverwriteChoice::Replace => {
                            req.overwrite = true;
                            self.worker.send(Job::Export(req));
                        }
                        OverwriteChoice::KeepBoth => {
                            self.worker.send(Job::Export(req));
                        }
                        OverwriteChoice::Cancel => {}
                    }
                }
            }
            UiCommand::SetIntervention(iv) => {
                s.intervention = iv.clone();
                let g = self.worker.send(Job::SetIntervention(iv));
                s.intervention_sent = g;
                s.loads.push((g, ErrorSubject::Intervention));
            }
            UiCommand::OpenFolder(folder) => {
                let opener = if cfg!(target_os = "macos") {
                    "open"
                } else if cfg!(windows) {
                    "explorer"
                } else {
                    "xdg-open"
                };
                // detached: the file manager outlives nothing of ours, and a missing opener is only a notice
                if let Err(e) = std::process::Command::new(opener)
                    .arg(&folder)
                    .stdin(std::process::Stdio::null())
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .spawn()
                    // reaped on its own thread: no zombie, no wait on the UI thread
                    .map(|mut child| std::thread::spawn(move || child.wait()))
                {
                    s.notice = Some(format!(
                        "{} could not be opened ({opener}: {e}); the files are there",
                        folder.display()
                    ));
                }
            }
            UiCommand::ToggleOverlay => match s.hidden_opacity.take() {
                Some(o) => self.settings.opacity = o,
                None => {
                    s.hidden_opacity = Some(self.settings.opacity);
                    self.settings.opacity = 0.0;
                }
            },
        }
    }
}
