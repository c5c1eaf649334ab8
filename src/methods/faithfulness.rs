//! Which map is right? Deletion and insertion curves (the perturbation test of Petsiuk et al., RISE, and of
//! Chefer et al.): patches are removed from the image (or added to an image with every patch removed) in the
//! order a map ranks them, the model re-runs at each step, and the target's score is plotted against the
//! fraction of patches changed. A map that ranks what the model uses first makes the deletion curve fall
//! fast (low area) and the insertion curve rise fast (high area).
//!
//! Definitions used everywhere (the CLI, the app, the tests' PyTorch reference):
//! - steps `k = 0..=S`; at step `k` the first `round(k·P/S)` patches of the ranking (P patches in all; round
//!   half up) are removed for deletion, or all but them for insertion;
//! - "removed" is occlusion with a [`Fill`] (see [`crate::model::intervention`]) in the image the model sees;
//! - the score is the target class's softmax probability for a model with a classifier, else the cosine
//!   similarity of the pooled feature to the unchanged image's;
//! - the area under a curve is the trapezoid rule over the fraction `k/S` in [0, 1].
//!
//! A ranking orders patches by a map's value, highest first, ties by patch index; the baseline is a uniform
//! random order from a fixed seed, so every run gives the same numbers.
use tch::{Kind, Tensor};

use crate::analysis::{HeadSel, Progress, QueryRows};
use crate::engine::Engine;
use crate::model::{Fill, Intervention, ModelError, Vit};

use super::{MethodError, QueryMethod, QueryParams, Start, compute};

/// A way to rank patches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ranker {
    /// The query's head-mean attention row in the last layer.
    Attention,
    Query(QueryMethod),
    /// A uniform random order (the baseline), seeded.
    Random,
}

impl Ranker {
    /// The name in tables and legends (`attention`, `rollout`, …, `random`).
    pub fn name(self) -> &'static str {
        match self {
            Ranker::Attention => "attention",
            Ranker::Query(q) => q.method().name(),
            Ranker::Random => "random",
        }
    }
}

/// Every ranker's deletion and insertion curves for the engine's current run, from `start`, with the score
/// `score`, perturbed as `how` says (the random order seeded with `seed`). `progress` counts forward passes over all
/// rankers and carries the cancel flag: a cancel returns `Ok(None)`.
#[allow(clippy::too_many_arguments)]
pub fn all_curves(
    engine: &Engine,
    rankers: &[Ranker],
    start: Start,
    score: &Score,
    params: &QueryParams,
    how: Perturb,
    seed: u64,
    progress: &Progress,
) -> Result<Option<Vec<Curves>>, MethodError> {
    use std::sync::atomic::Ordering::Relaxed;
    let (Some(m), Some(run)) = (&engine.model, &engine.run) else {
        return Err(MethodError::NothingLoaded);
    };
    let cap = &run.capture;
    let layout = &cap.layout;
    let patches = layout.num_patches();
    let mut out = Vec::with_capacity(rankers.len());
    for (i, &r) in rankers.iter().enumerate() {
        let order = match r {
            Ranker::Random => random_ranking(patches, seed),
            Ranker::Attention => {
                let rows = match start {
                    Start::Probe => QueryRows::from_probe(
                        cap.pool_attention.as_ref().ok_or(MethodError::NoProbe)?,
                        cap.source().layers(),
                        layout,
                    )?,
                    Start::Token(t) => QueryRows::from_attentions(cap.source(), layout, t)?,
                };
                ranking(&rows.patch_map(rows.layers - 1, HeadSel::Mean).data)
            }
            Ranker::Query(method) => {
                // the method's own progress (flow's) is not the curves': a private counter
                let own = Progress::default();
                if progress.cancel.load(Relaxed) {
                    return Ok(None);
                }
                let done = compute(engine, &[method], start, params, &own)?;
                ranking(&done[0].map.patch_grid().data)
            }
        };
        // under the engine's intervention, as the maps that ranked the patches were
        let c = curves_under(
            &m.vit,
            &run.input,
            &order,
            score,
            how,
            &engine.intervention,
            progress,
            i * 2 * (how.steps + 1),
        )?;
        match c {
            Some(c) => out.push(c),
            None => return Ok(None),
        }
    }
    progress
        .done
        .store(rankers.len() * 2 * (how.steps + 1), Relaxed);
    Ok(Some(out))
}

/// What a curve's score is.
pub enum Score {
    /// The softmax probability of this class.
    Class(usize),
    /// The cosine similarity of the pooled feature to this one (the unchanged image's).
    Similarity(Tensor),
}

impl Score {
    /// The natural target of `vit` for an image whose clean logits or pooled feature are given: the top
    /// class when the model has a classifier, else the similarity to the clean pooled feature.
    pub fn natural(logits: Option<&Tensor>, pooled: &Tensor) -> Result<Score, ModelError> {
        Ok(match logits {
            Some(l) => Score::Class(l.f_argmax(-1, false)?.f_int64_value(&[])? as usize),
            None => Score::Similarity(pooled.shallow_clone()),
        })
    }

    pub fn describe(&self, class_names: &[String]) -> String {
        match self {
            Score::Class(c) => match class_names.get(*c) {
                Some(n) => format!("softmax probability of class {c} \"{n}\""),
                None => format!("softmax probability of class {c}"),
            },
            Score::Similarity(_) => {
                "cosine similarity of the pooled feature to the unchanged image's".into()
            }
        }
    }

    fn value(&self, logits: Option<&Tensor>, pooled: &Tensor) -> Result<f64, ModelError> {
        Ok(match self {
            Score::Class(c) => {
                let l = logits.ok_or_else(|| {
                    ModelError::Invalid("a class score needs a model with a classifier".into())
                })?;
                l.f_softmax(-1, Kind::Double)?
                    .f_double_value(&[*c as i64])?
            }
            Score::Similarity(clean) => {
                let (a, b) = (
                    pooled.f_to_kind(Kind::Double)?,
                    clean.f_to_kind(Kind::Double)?,
                );
                let dot = a.f_dot(&b)?.f_double_value(&[])?;
                let na = a.f_norm()?.f_double_value(&[])?;
                let nb = b.f_norm()?.f_double_value(&[])?;
                dot / (na * nb).max(1e-12)
            }
        })
    }
}

/// A deletion and an insertion curve.
#[derive(Debug, Clone, PartialEq)]
pub struct Curves {
    /// `k/S` for `k = 0..=S`.
    pub fractions: Vec<f64>,
    pub deletion: Vec<f64>,
    pub insertion: Vec<f64>,
}

impl Curves {
    pub fn deletion_auc(&self) -> f64 {
        auc(&self.fractions, &self.deletion)
    }
    pub fn insertion_auc(&self) -> f64 {
        auc(&self.fractions, &self.insertion)
    }

    /// The point-wise mean of curves with the same steps.
    pub fn mean(all: &[Curves]) -> Option<Curves> {
        let first = all.first()?;
        let n = all.len() as f64;
        let avg = |f: fn(&Curves) -> &Vec<f64>| -> Vec<f64> {
            (0..first.fractions.len())
                .map(|i| all.iter().map(|c| f(c)[i]).sum::<f64>() / n)
                .collect()
        };
        Some(Curves {
            fractions: first.fractions.clone(),
            deletion: avg(|c| &c.deletion),
            insertion: avg(|c| &c.insertion),
        })
    }
}

/// The trapezoid rule: `Σ (x[i+1] − x[i]) · (y[i] + y[i+1]) / 2`.
pub fn auc(x: &[f64], y: &[f64]) -> f64 {
    x.windows(2)
        .zip(y.windows(2))
        .map(|(x, y)| (x[1] - x[0]) * (y[0] + y[1]) / 2.0)
        .sum()
}

/// Patches ordered by `values` (one per patch), highest first, ties by index. NaN ranks last.
pub fn ranking(values: &[f32]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    let key = |i: usize| {
        if values[i].is_nan() {
            f32::NEG_INFINITY
        } else {
            values[i]
        }
    };
    order.sort_by(|&a, &b| key(b).total_cmp(&key(a)).then(a.cmp(&b)));
    order
}

/// A uniform random order of `n` patches from `seed` (SplitMix64 and Fisher–Yates: the same on every
/// machine).
pub fn random_ranking(n: usize, seed: u64) -> Vec<usize> {
    let mut state = seed;
    let mut next = || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = (next() % (i as u64 + 1)) as usize;
        order.swap(i, j);
    }
    order
}

/// How many patches step `k` of `steps` changes: `round(k·P/S)`, half up.
pub fn changed_at(k: usize, steps: usize, patches: usize) -> usize {
    (2 * k * patches + steps) / (2 * steps)
}

/// How a curve perturbs: `steps` steps, patches removed with `fill`, `batch` forward passes at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Perturb {
    pub steps: usize,
    pub fill: Fill,
    pub batch: usize,
}

impl Perturb {
    /// `steps` steps with `fill`, batched as suits `device` and `tokens` ([`Perturb::default_batch`]).
    pub fn new(steps: usize, fill: Fill, device: tch::Device, tokens: usize) -> Perturb {
        Perturb {
            steps,
            fill,
            batch: Perturb::default_batch(device, tokens),
        }
    }

    /// Forward passes per batch: on a GPU (it runs them in parallel) 16, fewer for long sequences (at most
    /// 2¹⁶ tokens in a batch, so a 1022 px input of a ViT/14 runs 12 at a time); 1 on the CPU, where batching
    /// was measured to gain nothing (`bash scripts/bench.sh faithfulness`) and costs memory.
    pub fn default_batch(device: tch::Device, tokens: usize) -> usize {
        match device {
            tch::Device::Cpu => 1,
            _ => (65_536 / tokens.max(1)).clamp(1, 16),
        }
    }
}

/// The deletion and insertion curves of `order` (patches, most important first) for the normalised image
/// `input` `[1, 3, H, W]`, perturbed as `how` says. `progress` counts forward passes (`2·(steps + 1)` in all,
/// after `counted_from` already done) and carries the cancel flag: a cancel returns `Ok(None)`.
pub fn curves(
    vit: &Vit,
    input: &Tensor,
    order: &[usize],
    score: &Score,
    how: Perturb,
    progress: &Progress,
    counted_from: usize,
) -> Result<Option<Curves>, ModelError> {
    curves_under(
        vit,
        input,
        order,
        score,
        how,
        &Intervention::default(),
        progress,
        counted_from,
    )
}

/// [`curves`] for a run made under the intervention `base`: every step keeps it and adds its occlusion.
#[allow(clippy::too_many_arguments)]
pub fn curves_under(
    vit: &Vit,
    input: &Tensor,
    order: &[usize],
    score: &Score,
    how: Perturb,
    base: &Intervention,
    progress: &Progress,
    counted_from: usize,
) -> Result<Option<Curves>, ModelError> {
    use std::sync::atomic::Ordering::Relaxed;
    let steps = how.steps;
    if steps == 0 {
        return Err(ModelError::Invalid(
            "a curve needs at least one step".into(),
        ));
    }
    if how.fill == Fill::Remove {
        let size = input.size();
        let hw = (size[2] as usize, size[3] as usize);
        if vit.config.layout_for(hw.0, hw.1).num_prefix() == 0 {
            return Err(ModelError::Invalid(
                "removing every patch from the sequence leaves this model (no class or register token) \
                 nothing to run on, and both curves need that step: use a pixel fill (mean, zero or blur)"
                    .into(),
            ));
        }
    }
    let patches = order.len();
    // step k's deletion, then its insertion; on top of the run's own intervention (its ablations, drops and
    // occlusions stay)
    let mut ivs = Vec::with_capacity(2 * (steps + 1));
    for k in 0..=steps {
        let n = changed_at(k, steps, patches);
        for occluded in [&order[..n], &order[n..]] {
            let mut iv = Intervention {
                fill: how.fill,
                ..base.clone()
            };
            iv.occluded.extend(occluded.iter().copied());
            ivs.push(iv);
        }
    }
    let mut values = Vec::with_capacity(ivs.len());
    let mut done = counted_from;
    for chunk in ivs.chunks(how.batch.max(1)) {
        if progress.cancel.load(Relaxed) {
            return Ok(None);
        }
        for (pooled, logits) in vit.scores(input, chunk, how.batch)? {
            values.push(score.value(logits.as_ref(), &pooled)?);
        }
        done += chunk.len();
        progress.done.store(done, Relaxed);
    }
    Ok(Some(Curves {
        fractions: (0..=steps).map(|k| k as f64 / steps as f64).collect(),
        deletion: values.iter().step_by(2).copied().collect(),
        insertion: values.iter().skip(1).step_by(2).copied().collect(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_trapezoid_rule_and_step_counts() {
        let x = [0.0, 0.5, 1.0];
        assert_eq!(auc(&x, &[1.0, 1.0, 1.0]), 1.0);
        assert_eq!(auc(&x, &[1.0, 0.0, 0.0]), 0.25);
        assert_eq!(auc(&x, &[0.0, 1.0, 0.0]), 0.5);
        // 40 patches in 20 steps: 2 per step; 7 patches in 4 steps: 0, 2 (1.75), 4 (3.5 up), 5, 7
        assert_eq!(changed_at(1, 20, 40), 2);
        let seven: Vec<usize> = (0..=4).map(|k| changed_at(k, 4, 7)).collect();
        assert_eq!(seven, [0, 2, 4, 5, 7]);
    }

    #[test]
    fn rankings_are_deterministic_permutations() {
        assert_eq!(ranking(&[0.1, 0.5, 0.5, f32::NAN, 0.3]), [1, 2, 4, 0, 3]);
        let r = random_ranking(50, 7);
        let mut sorted = r.clone();
        sorted.sort();
        assert_eq!(sorted, (0..50).collect::<Vec<_>>());
        assert_eq!(r, random_ranking(50, 7));
        assert_ne!(r, random_ranking(50, 8));
        assert_ne!(r, sorted);
    }

    #[test]
    fn mean_curves_average_point_by_point() {
        let c = |d: f64| Curves {
            fractions: vec![0.0, 1.0],
            deletion: vec![d, 0.0],
            insertion: vec![0.0, d],
        };
        let m = Curves::mean(&[c(1.0), c(0.5)]).unwrap();
        assert_eq!(m.deletion, [0.75, 0.0]);
        assert_eq!(m.insertion_auc(), 0.375);
    }
}
