//! Hub downloads for the app: on a thread of their own, so Cancel answers even when the connection stalls.
use std::path::PathBuf;
use std::sync::Arc;

use super::{JobError, State};

impl State {
    /// Download `repo` into the hub cache on a thread of its own, so that Cancel answers at once even when
    /// the connection stalls (the download checks its stop flag at every read and ends at the next one).
    pub(super) fn download(&self, repo: &str) -> Result<PathBuf, JobError> {
        use crate::model::hub;
        use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
        self.busy
            .start(&format!("connecting to the hub for {repo}"), 1);
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = std::sync::mpsc::channel();
        let (busy, halt, id) = (self.busy.clone(), stop.clone(), repo.to_string());
        let spawned = std::thread::Builder::new()
            .name("vitscope-download".into())
            .spawn(move || {
                let mut file = String::new();
                let r = hub::download(&id, &hub::cache_dir(), &hub::endpoint(), &mut |p| {
                    if p.file != file {
                        file = p.file.clone();
                        let what = format!("downloading {} [{}/{}], KiB", p.file, p.index, p.files);
                        busy.relabel(&what, (p.total.div_ceil(1024) as usize).max(1));
                    }
                    busy.progress.done.store((p.done / 1024) as usize, Relaxed);
                    !halt.load(Relaxed)
                });
                let _ = tx.send(r);
            });
        if let Err(e) = spawned {
            return Err(format!("cannot start the download: {e}").into());
        }
        loop {
            match rx.recv_timeout(std::time::Duration::from_millis(100)) {
                Ok(r) => {
                    return r.map_err(|e| match e {
                        hub::HubError::Cancelled { .. } => JobError::Cancelled(e.to_string()),
                        e => JobError::Failed(e.to_string()),
                    });
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    if self.busy.progress.cancel.load(Relaxed) {
                        stop.store(true, Relaxed);
                        return Err(JobError::Cancelled(format!(
                            "the download of {repo} was cancelled; what arrived stays in the cache as a part file, \
                             and downloading again resumes it"
                        )));
                    }
                }
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(JobError::Internal("the download thread stopped".into()));
                }
            }
        }
    }
}
