//! The worker's analyses: what the app's analysis views ask for, computed on the current capture.
use super::{AnalysisRequest, AnalysisResult, MethodMap, QuerySpec, State};

impl State {
    pub(super) fn analyse(&mut self, request: &AnalysisRequest) -> anyhow::Result<AnalysisResult> {
        use crate::analysis as a;
        use anyhow::Context;
        let m = self.engine.model.as_ref().context("no model loaded")?;
        if let AnalysisRequest::Embeddings { input_grid } = request {
            let grid = match (input_grid, self.engine.layout()) {
                (true, Some(l)) => Some((l.grid_h, l.grid_w)),
                _ => None,
            };
            return Ok(AnalysisResult::Embeddings {
                pos: a::position_similarity(&m.vit, grid).map_err(|e| e.to_string()),
                filters: a::patch_filter_components(&m.vit, 28)?,
                rel_bias: a::relative_bias(&m.vit)?,
            });
        }
        if let AnalysisRequest::FolderStats { .. } = request {
            return self.folder_stats(request);
        }
        if let AnalysisRequest::Other(source) = request {
            return self.other(source);
        }
        let run = self.engine.run.as_ref().context("no image loaded")?;
        let cap = &run.capture;
        let layout = &cap.layout;
        Ok(match request {
            AnalysisRequest::Methods { opts, target, flow } => {
                use crate::methods::{QueryMethod, QueryParams, Start, compute};
                // From the probe only rollout is defined: the view says why the others are absent.
                let start = method_start(self.query, cap);
                let probe = start == Start::Probe;
                let methods: Vec<QueryMethod> = QueryMethod::ALL
                    .into_iter()
                    .filter(|&m| *flow || m != QueryMethod::Flow)
                    .filter(|&m| !probe || m == QueryMethod::Rollout)
                    .collect();
                let params = QueryParams {
                    opts: *opts,
                    target: target.clone(),
                };
                if *flow {
                    self.busy.start("attention flow", layout.num_tokens());
                }
                // each method on its own (the gradient methods together: they share one backward pass), so
                // one refused method leaves the others' maps, and its pane says why
                let (grad, plain): (Vec<QueryMethod>, Vec<QueryMethod>) =
                    methods.iter().partition(|m| m.needs_gradients());
                let mut groups: Vec<Vec<QueryMethod>> =
                    plain.into_iter().map(|m| vec![m]).collect();
                if !grad.is_empty() {
                    groups.push(grad);
                }
                let (mut maps, mut refused) = (Vec::new(), Vec::new());
                for group in &groups {
                    match compute(&self.engine, group, start, &params, &self.busy.progress) {
                        Ok(done) => maps.extend(done.into_iter().map(|o| MethodMap {
                            name: o.method,
                            definition: o.definition,
                            map: o.map,
                            ms: o.ms,
                        })),
                        Err(crate::methods::MethodError::Cancelled) => {
                            self.busy.finish();
                            return Err(anyhow::Error::new(crate::methods::MethodError::Cancelled));
                        }
                        Err(e) => refused.extend(group.iter().map(|&m| super::Refusal::new(m, &e))),
                    }
                }
                self.busy.finish();
                // in the order of QueryMethod::ALL, as the panes are
                maps.sort_by_key(|m| methods.iter().position(|&q| q == m.name));
                refused.sort_by_key(|r| methods.iter().position(|&q| q == r.name));
                AnalysisResult::Methods(maps, refused)
            }
            AnalysisRequest::Faithfulness {
                opts,
                target,
                flow,
                steps,
                fill,
            } => {
                use crate::methods::faithfulness::{Perturb, Ranker, Score, all_curves};
                use crate::methods::{MethodError, QueryMethod, QueryParams, Start};
                let start = method_start(self.query, cap);
                let probe = start == Start::Probe;
                let classes = m.vit.config.num_classes;
                let score = match target.trim().parse::<usize>() {
                    Ok(c) if classes.is_some_and(|k| c < k) => Score::Class(c),
                    _ => Score::natural(cap.logits.as_ref(), &cap.pooled)?,
                };
                let params = QueryParams {
                    opts: *opts,
                    target: match &score {
                        Score::Class(c) => c.to_string(),
                        Score::Similarity(_) => target.clone(),
                    },
                };
                let mut rankers = vec![Ranker::Attention];
                rankers.extend(
                    QueryMethod::ALL
                        .into_iter()
                        .filter(|&q| *flow || q != QueryMethod::Flow)
                        .filter(|&q| !probe || q == QueryMethod::Rollout)
                        .map(Ranker::Query),
                );
                rankers.push(Ranker::Random);
                let steps = (*steps).clamp(1, 200);
                self.busy
                    .start("faithfulness curves", rankers.len() * 2 * (steps + 1));
                let done = all_curves(
                    &self.engine,
                    &rankers,
                    start,
                    &score,
                    &params,
                    Perturb::new(steps, *fill, self.engine.device(), cap.layout.num_tokens()),
                    0x5EED,
                    &self.busy.progress,
                );
                self.busy.finish();
                let done = done
                    .map_err(anyhow::Error::new)?
                    .ok_or_else(|| anyhow::Error::new(MethodError::Cancelled))?;
                AnalysisResult::Faithfulness {
                    curves: rankers
                        .iter()
                        .map(|r| r.name().to_string())
                        .zip(done)
                        .collect(),
                    score: score.describe(&m.vit.config.class_names),
                }
            }
            AnalysisRequest::Stats(conv) => {
                AnalysisResult::Stats(a::head_stats(cap.source(), layout, *conv)?)
            }
            AnalysisRequest::Tokens => AnalysisResult::Tokens {
                norms: a::token_norms(&cap.hidden_states, layout)?,
                prefix_mass: a::prefix_mass(cap.source(), layout)?,
            },
            AnalysisRequest::Embeddings { .. } => unreachable!("answered above"),
            AnalysisRequest::FolderStats { .. } | AnalysisRequest::Other(_) => {
                unreachable!("answered above")
            }
        })
    }

    fn folder_stats(&mut self, request: &AnalysisRequest) -> anyhow::Result<AnalysisResult> {
        use anyhow::Context;
        let AnalysisRequest::FolderStats { folder, convention } = request else {
            anyhow::bail!("not a folder request");
        };
        let m = self.engine.model.as_ref().context("no model loaded")?;
        let files = crate::engine::image_files(std::slice::from_ref(folder))
            .with_context(|| format!("cannot list {}", folder.display()))?;
        if files.is_empty() {
            anyhow::bail!(
                "no images (PNG, JPEG, GIF, WebP, TIFF, BMP) in {}",
                folder.display()
            );
        }
        self.busy.start("distance over the folder", files.len());
        let busy = &self.busy;
        let run = crate::engine::head_stats_over(
            &m.vit,
            &files,
            self.engine.size,
            self.engine.store,
            *convention,
            |done, _, _| busy.tick(done),
        );
        self.busy.finish();
        let run = run?;
        Ok(AnalysisResult::FolderStats {
            stats: run
                .stats
                .context("no image in the folder could be analysed")?,
            skipped: run
                .skipped
                .iter()
                .map(|(f, why)| format!("{}: {why}", f.display()))
                .collect(),
            cancelled: run.cancelled,
        })
    }
}

/// Where the query methods start for the app's query: the attention-pooling probe when it is asked for (or is
/// the default of a model without CLS that pools by attention), else the query's token (the layout's default
/// when the query does not fit it).
fn method_start(query: QuerySpec, cap: &crate::model::Capture) -> crate::methods::Start {
    use crate::methods::Start;
    let layout = &cap.layout;
    let probe = match query {
        QuerySpec::Probe => true,
        QuerySpec::Cls => !layout.prefix.contains(&crate::model::PrefixToken::Cls),
        _ => false,
    } && cap.pool_attention.is_some();
    if probe {
        Start::Probe
    } else {
        Start::Token(
            query
                .token(layout)
                .unwrap_or_else(|| layout.default_query()),
        )
    }
}
