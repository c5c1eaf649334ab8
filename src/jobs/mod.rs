//! The worker thread: the only thread that touches tch. It owns an [`Engine`] (model, image, capture on
//! the device) and answers each request with exactly one [`Reply`] of small plain results.
//!
//! Requests carry a generation number; the UI drops replies to queries it has already moved past.
//! A panic inside a job is caught here and reported as an error; the worker keeps serving.
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, SyncSender, TryRecvError, channel, sync_channel};

mod analysis;
mod download;
mod other;
mod protocol;
pub use other::{PaneSource, map_query};

use crate::analysis::QueryRows;
use crate::engine::Engine;
use crate::export::maps::{export_maps, with_free_stem};
use crate::model::{DeviceChoice, ModelSource, Precision};

pub use protocol::*;

struct Request {
    generation: u64,
    job: Job,
}

/// The UI's handle on the worker.
pub struct Worker {
    tx: SyncSender<Request>,
    rx: Receiver<Reply>,
    next_generation: u64,
    in_flight: usize,
    busy: Arc<Busy>,
}

struct State {
    engine: Engine,
    query: QuerySpec,
    busy: Arc<Busy>,
    /// The device and precision of the last model load (other models in Compare use them too).
    device: DeviceChoice,
    precision: Precision,
    others: other::Others,
}

impl State {
    fn rows(&mut self) -> crate::model::Result<Option<QueryRows>> {
        self.rows_of(false)
    }

    /// The query's rows of the current run, or with `before` of the untouched run under an intervention.
    fn rows_of(&self, before: bool) -> crate::model::Result<Option<QueryRows>> {
        let Some(layout) = self.engine.query_layout() else {
            return Ok(None);
        };
        // The probe, asked for or as the default of a model that pools by attention and has no CLS.
        let wants_probe = match self.query {
            QuerySpec::Probe => true,
            QuerySpec::Cls => !layout.prefix.contains(&crate::model::PrefixToken::Cls),
            _ => false,
        };
        if wants_probe && let Some(rows) = self.engine.probe_rows(before) {
            return rows.map(Some);
        }
        // A query this layout lacks (CLS on a model without one, a patch outside a smaller grid) falls back
        // to the layout's default; the request itself is kept, so it applies again to the next model.
        let token = self
            .query
            .token(&layout)
            .unwrap_or_else(|| layout.default_query());
        match self.engine.query_rows(token, before) {
            Some(r) => r.map(Some),
            None => Ok(None),
        }
    }

    /// Under an intervention, the untouched run's side of "what changed".
    fn change(&self) -> crate::model::Result<Option<Change>> {
        let Some(done) = self.engine.change() else {
            return Ok(None);
        };
        let (classes, pooled_cosine, token_cosine) = done?;
        let Some(rows) = self.rows_of(true)? else {
            return Ok(None);
        };
        Ok(Some(Change {
            intervention: self.engine.intervention.clone(),
            before: rows,
            classes,
            pooled_cosine,
            token_cosine,
        }))
    }

    fn computed(&mut self, out: &mut Vec<Outcome>) -> crate::model::Result<()> {
        if let Some(rows) = self.rows()? {
            // a patch or prefix query this run lacks fell back to the default: say so, and forget it (the
            // request becomes the default again), so that it does not come back unasked with a later model or
            // size. CLS, the start-up default, falls back quietly and stays asked for: the Query line says
            // what is shown.
            let shown = QuerySpec::of_rows(&rows);
            let notice = (shown != self.query
                && matches!(self.query, QuerySpec::Patch(..) | QuerySpec::Prefix(_)))
            .then(|| {
                format!(
                    "The query {} does not exist in this run ({}): showing {}",
                    self.query.describe(),
                    match self.query {
                        QuerySpec::Patch(..) => format!(
                            "the patch grid is {} rows × {} columns",
                            rows.layout.grid_h, rows.layout.grid_w
                        ),
                        _ => "the model has no such token".into(),
                    },
                    shown.describe()
                )
            });
            if notice.is_some() {
                self.query = QuerySpec::Cls;
            }
            let run = self.engine.run.as_ref().expect("rows imply a run");
            out.push(Outcome::Computed(Computed {
                rows,
                size: self.engine.size,
                input_hw: run.capture.input_hw,
                forward_ms: run.capture.forward_ms,
                store: self.engine.store,
                attention_bytes: run.capture.attention_bytes(),
                classes: self.engine.top_classes(5)?,
                change: self.change()?,
                // cheap (each layer through the final norm and the head); not defined for a Swin
                lens: crate::methods::lens::logit_lens(&self.engine, 5).unwrap_or_default(),
                notice,
            }));
        }
        Ok(())
    }

    fn handle(&mut self, job: Job) -> Result<Vec<Outcome>, JobError> {
        let mut out = Vec::new();
        let e = |e: crate::model::ModelError| match e {
            crate::model::ModelError::TooLarge { suggest, .. } => JobError::TooLarge {
                msg: e.to_string(),
                suggest,
                memory: true,
            },
            crate::model::ModelError::SideTooLong { suggest, .. } => JobError::TooLarge {
                msg: e.to_string(),
                suggest,
                memory: false,
            },
            e => JobError::Failed(e.to_string()),
        };
        match job {
            Job::LoadModel {
                source,
                device,
                precision,
            } => {
                (self.device, self.precision) = (device, precision);
                self.engine
                    .load_model(&source, device, precision)
                    .map_err(e)?;
                let info = self
                    .engine
                    .model
                    .as_ref()
                    .expect("just loaded")
                    .info
                    .clone();
                out.push(Outcome::ModelLoaded(info));
                self.computed(&mut out).map_err(e)?;
            }
            Job::DownloadModel {
                repo,
                device,
                precision,
            } => {
                let fetched = self.download(&repo);
                self.busy.finish();
                fetched?;
                return self.handle(Job::LoadModel {
                    source: ModelSource::Path(repo.into()),
                    device,
                    precision,
                });
            }
            Job::LoadImage(path) => {
                let notes = self.engine.load_image(&path).map_err(e)?.to_vec();
                let img = self.engine.image.as_ref().expect("just loaded").1.clone();
                out.push(Outcome::ImageLoaded {
                    path,
                    image: Arc::new(img),
                    notes,
                });
                self.computed(&mut out).map_err(e)?;
            }
            Job::SetSize(size) => {
                self.engine.set_size(size).map_err(e)?;
                self.computed(&mut out).map_err(e)?;
            }
            Job::SetIntervention(iv) => {
                self.engine.set_intervention(iv).map_err(e)?;
                self.computed(&mut out).map_err(e)?;
            }
            Job::SetStore(store) => {
                self.engine.set_store(store).map_err(e)?;
                self.computed(&mut out).map_err(e)?;
            }
            Job::PreviewQuery(q) => {
                let old = std::mem::replace(&mut self.query, q);
                let rows = self.rows();
                self.query = old;
                if let Some(rows) = rows.map_err(|e| e.to_string())? {
                    out.push(Outcome::Preview { query: q, rows });
                }
            }
            Job::SetQuery(q) => {
                let old = self.query;
                self.query = q;
                match self.rows().and_then(|r| Ok((r, self.rows_of(true)?))) {
                    Ok((Some(rows), before)) => out.push(Outcome::Rows { rows, before }),
                    Ok((None, _)) => {}
                    Err(err) => {
                        self.query = old;
                        return Err(err.to_string().into());
                    }
                }
            }
            Job::Export(req) => {
                let rows = self
                    .rows()
                    .map_err(e)?
                    .ok_or("nothing to export yet: load a model and an image")?;
                let (Some((_, img)), Some(run)) = (&self.engine.image, &self.engine.run) else {
                    return Err("nothing to export yet".into());
                };
                // The app asked before setting `overwrite`; otherwise new files get a free stem.
                let req = if req.overwrite {
                    req
                } else {
                    with_free_stem(req, &rows)
                };
                // every file of the export or none
                let files = crate::export::all_or_nothing(|| {
                    export_maps(&rows, img, run.capture.input_hw, &req)
                })
                .map_err(|e| e.to_string())?;
                out.push(Outcome::Exported(files));
            }
            Job::ExportFolder { folder, req } => {
                let m = self.engine.model.as_ref().ok_or("no model loaded")?;
                let files = crate::engine::image_files(std::slice::from_ref(&folder))
                    .map_err(|e| format!("cannot list {}: {e}", folder.display()))?;
                if files.is_empty() {
                    return Err(format!(
                        "no images (PNG, JPEG, GIF, WebP, TIFF, BMP) in {}",
                        folder.display()
                    )
                    .into());
                }
                self.busy.start("batch export", files.len());
                let query = self.query;
                let mut written = Vec::new();
                let busy = &self.busy;
                let (skipped, cancelled) = crate::engine::over_images(
                    &m.vit,
                    &files,
                    self.engine.size,
                    self.engine.store,
                    |path, img, run| {
                        let layout = &run.capture.layout;
                        let token = query
                            .token(layout)
                            .unwrap_or_else(|| layout.default_query());
                        let rows = QueryRows::from_attentions(run.capture.source(), layout, token)
                            .map_err(|e| e.to_string())?;
                        let mut one = req.clone();
                        // a folder's images run untouched (painted patches belong to the shown image), and
                        // their files must not claim the shown image's intervention
                        one.intervention = None;
                        one.stem = crate::export::export_stem(
                            &path
                                .file_stem()
                                .map(|s| s.to_string_lossy().into_owned())
                                .unwrap_or_else(|| "image".into()),
                            &one.model_name,
                        );
                        one.image_name = path
                            .file_name()
                            .map(|s| s.to_string_lossy().into_owned())
                            .unwrap_or_default();
                        let one = with_free_stem(one, &rows);
                        let files = crate::export::all_or_nothing(|| {
                            export_maps(&rows, img, run.capture.input_hw, &one)
                        })
                        .map_err(|e| e.to_string())?;
                        written.extend(files);
                        Ok(())
                    },
                    |done, _, _| busy.tick(done),
                );
                self.busy.finish();
                out.push(Outcome::Exported(written));
                if cancelled || !skipped.is_empty() {
                    let text = format!(
                        "batch export{}{}",
                        if cancelled { " cancelled" } else { "" },
                        if skipped.is_empty() {
                            String::new()
                        } else {
                            format!(
                                "; skipped {}",
                                skipped
                                    .iter()
                                    .map(|(f, why)| format!("{}: {why}", f.display()))
                                    .collect::<Vec<_>>()
                                    .join("; ")
                            )
                        }
                    );
                    out.push(Outcome::Failed(if skipped.is_empty() {
                        JobError::Cancelled(text)
                    } else {
                        JobError::Failed(text)
                    }));
                }
            }
            Job::Analyse(request) => {
                let result = self.analyse(&request).map_err(|e| match e
                    .downcast_ref::<crate::methods::MethodError>()
                {
                    Some(crate::methods::MethodError::Cancelled) => {
                        JobError::Cancelled(match request {
                            AnalysisRequest::Faithfulness { .. } => {
                                "faithfulness curves cancelled".into()
                            }
                            _ => "attention flow cancelled".into(),
                        })
                    }
                    _ => JobError::Failed(format!("{e:#}")),
                })?;
                out.push(Outcome::Analysis {
                    request,
                    result: Box::new(result),
                });
            }
        }
        Ok(out)
    }
}

/// The next job to run from `queue`, and the generations of the jobs skipped because a later one makes them
/// moot (answered [`Outcome::Superseded`]): an analysis when a later request fills the same result slot
/// (analyses change nothing, so what lies between does not matter), and a query change directly followed by
/// another (a drag or a hover across the image). Everything else runs in order.
fn next_job(queue: &mut std::collections::VecDeque<Request>) -> (Request, Vec<u64>) {
    let mut moot = Vec::new();
    loop {
        let first = queue.pop_front().expect("a job is queued");
        let superseded = match &first.job {
            Job::Analyse(req) => queue
                .iter()
                .any(|r| matches!(&r.job, Job::Analyse(later) if later.same_slot(req))),
            // a query move right before another query move is moot; a preview, before either
            Job::SetQuery(_) | Job::PreviewQuery(_) => match queue.front().map(|r| &r.job) {
                Some(Job::SetQuery(_)) => true,
                Some(Job::PreviewQuery(_)) => matches!(first.job, Job::PreviewQuery(_)),
                _ => false,
            },
            _ => false,
        };
        if superseded {
            moot.push(first.generation);
        } else {
            return (first, moot);
        }
    }
}

/// The message of a panic payload.
pub fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// Run one job; an error or a panic becomes [`Outcome::Failed`], so the worker keeps serving.
fn guarded(job: impl FnOnce() -> Result<Vec<Outcome>, JobError>) -> Vec<Outcome> {
    match catch_unwind(AssertUnwindSafe(job)) {
        Ok(Ok(o)) => o,
        Ok(Err(e)) => vec![Outcome::Failed(e)],
        Err(p) => vec![Outcome::Failed(JobError::Internal(panic_text(p.as_ref())))],
    }
}

impl Worker {
    /// Start the worker thread. `notify` is called after every reply (the UI requests a repaint).
    pub fn spawn(notify: impl Fn() + Send + 'static) -> Worker {
        let (tx, requests) = sync_channel::<Request>(64);
        let busy = Arc::new(Busy::default());
        let shared = busy.clone();
        let (replies, rx): (Sender<Reply>, Receiver<Reply>) = channel();
        std::thread::Builder::new()
            .name("vitscope-worker".into())
            .spawn(move || {
                let mut state = State {
                    engine: Engine::default(),
                    query: QuerySpec::Cls,
                    busy: shared,
                    device: DeviceChoice::Auto,
                    precision: Precision::F32,
                    others: Default::default(),
                };
                let mut queue = std::collections::VecDeque::new();
                loop {
                    if queue.is_empty() {
                        match requests.recv() {
                            Ok(r) => queue.push_back(r),
                            Err(_) => break,
                        }
                    }
                    // everything waiting, so a request that a later one makes moot is not computed
                    while let Ok(r) = requests.try_recv() {
                        queue.push_back(r);
                    }
                    let (Request { generation, job }, moot) = next_job(&mut queue);
                    let mut answers: Vec<Reply> = moot
                        .into_iter()
                        .map(|generation| Reply {
                            generation,
                            outcomes: vec![Outcome::Superseded],
                        })
                        .collect();
                    answers.push(Reply {
                        generation,
                        outcomes: guarded(|| state.handle(job)),
                    });
                    if answers.into_iter().any(|r| replies.send(r).is_err()) {
                        break;
                    }
                    notify();
                }
            })
            .expect("spawning the worker thread");
        Worker {
            tx,
            rx,
            next_generation: 1,
            in_flight: 0,
            busy,
        }
    }

    /// Queue a job; returns its generation.
    pub fn send(&mut self, job: Job) -> u64 {
        let generation = self.next_generation;
        self.next_generation += 1;
        if self.tx.send(Request { generation, job }).is_ok() {
            self.in_flight += 1;
        }
        generation
    }

    /// A finished reply, if any.
    pub fn try_recv(&mut self) -> Option<Reply> {
        match self.rx.try_recv() {
            Ok(r) => {
                self.in_flight = self.in_flight.saturating_sub(1);
                Some(r)
            }
            Err(TryRecvError::Empty | TryRecvError::Disconnected) => None,
        }
    }

    /// Long work in progress: (what, done, total).
    pub fn progress(&self) -> Option<(String, usize, usize)> {
        self.busy.get()
    }

    /// Ask the long work in progress to stop.
    pub fn cancel(&self) {
        self.busy.cancel();
    }

    /// Jobs sent and not answered yet.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_requests_make_earlier_analyses_and_query_moves_moot() {
        use crate::analysis::PrefixConvention;
        let req = |generation, job| Request { generation, job };
        let stats = |c| Job::Analyse(AnalysisRequest::Stats(c));
        let mut q: std::collections::VecDeque<Request> = [
            req(1, stats(PrefixConvention::Renormalise)),
            req(2, Job::SetQuery(QuerySpec::Patch(0, 0))),
            req(3, Job::SetQuery(QuerySpec::Patch(0, 1))),
            req(4, stats(PrefixConvention::Drop)),
            req(5, Job::Analyse(AnalysisRequest::Tokens)),
            req(6, Job::SetQuery(QuerySpec::Patch(0, 2))),
            req(7, Job::SetSize(crate::model::InputSize::Shorter(24))),
        ]
        .into();
        let mut order = Vec::new();
        let mut skipped = Vec::new();
        while !q.is_empty() {
            let (r, moot) = next_job(&mut q);
            skipped.extend(moot);
            order.push(r.generation);
        }
        // the first Stats is made moot by the later one; the first query move by the one right after it;
        // a query move followed by another job stays
        assert_eq!(skipped, [1, 2]);
        assert_eq!(order, [3, 4, 5, 6, 7]);
    }

    #[test]
    fn a_panicking_job_is_reported_and_an_erring_one_keeps_its_message() {
        let out = guarded(|| panic!("boom {}", 7));
        assert!(
            matches!(&out[..], [Outcome::Failed(e)] if e.to_string() == "internal error (please report): boom 7")
        );
        let out = guarded(|| Err("bad layer".into()));
        assert!(matches!(&out[..], [Outcome::Failed(JobError::Failed(m))] if m == "bad layer"));
        let out = guarded(|| Err(JobError::Cancelled("attention flow cancelled".into())));
        assert!(matches!(
            &out[..],
            [Outcome::Failed(JobError::Cancelled(_))]
        ));
    }
}
