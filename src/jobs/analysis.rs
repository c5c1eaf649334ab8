//! The worker's analyses: what the app's analysis views ask for, computed on the current capture.
use super::{AnalysisRequest, AnalysisResult, MethodMap, State};
use crate::analysis::TokenMap;

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
                pos: a::position_similarity(&m.vit, grid)?,
                filters: a::patch_filter_components(&m.vit, 28)?,
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
                let token = self
                    .query
                    .token(layout)
                    .unwrap_or_else(|| layout.default_query());
                let timed =
                    |name, definition: String, f: &dyn Fn() -> crate::model::Result<TokenMap>| {
                        let t = std::time::Instant::now();
                        f().map(|map| MethodMap {
                            name,
                            definition,
                            map,
                            ms: t.elapsed().as_secs_f64() * 1e3,
                        })
                    };
                let layers = cap.source().layers();
                let mut maps = vec![timed(
                    "Rollout",
                    format!("attention rollout: {}", opts.describe(layers)),
                    &|| a::rollout(cap.source(), layout, token, opts),
                )?];
                if *flow {
                    self.busy.start("attention flow", layout.num_tokens());
                    let flow = timed(
                        "Flow",
                        format!("attention flow (exact max-flow): {}", opts.describe(layers)),
                        &|| {
                            a::attention_flow_with(
                                &cap.matrices()?,
                                layout,
                                token,
                                opts,
                                &self.busy.progress,
                            )?
                            .ok_or_else(|| {
                                crate::model::ModelError::Invalid("attention flow cancelled".into())
                            })
                        },
                    );
                    self.busy.finish();
                    maps.push(flow?);
                }
                let logits = match &cap.logits {
                    Some(l) => Some(a::rollout::to_vec_f32(l)?),
                    None => None,
                };
                let target = crate::spec::parse_target(target, layout, logits.as_deref())?;
                let (g, grads, value) = self.engine.gradients(&target)?;
                let t = format!("{} = {value:.4}", target.describe());
                maps.push(timed(
                    "Gradient rollout",
                    format!(
                        "max(mean_h(grad*A), 0), residual alpha = {}, discard {}, layers {}..={}; target {t}",
                        opts.residual,
                        opts.discard_ratio,
                        opts.start_layer,
                        opts.end_layer.unwrap_or(layers - 1)
                    ),
                    &|| a::grad_rollout(&g.attentions, &grads, layout, token, opts),
                )?);
                maps.push(timed(
                    "Relevance",
                    format!("Chefer et al.: R = I; R += mean_h[(grad*A)+] R; target {t}"),
                    &|| a::relevance(&g.attentions, &grads, layout, token),
                )?);
                AnalysisResult::Methods(maps)
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
