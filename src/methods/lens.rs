//! The logit lens: at which depth does the answer form? Every layer's tokens go through the final norm, the
//! pooling and the head as if the network ended there ([`crate::model::Vit::logit_lens`]). For a model with a
//! classifier each layer gets its top classes; for every model, the cosine similarity of each layer's pooled
//! feature to the final one (1 at the last layer).
use serde::Serialize;
use tch::{Kind, Tensor};

use super::MethodError;
use crate::engine::{ClassScore, Engine, top_k};

/// One layer of the lens.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LensLayer {
    pub layer: usize,
    /// The `k` most probable classes (empty for a model without a classifier).
    pub top: Vec<ClassScore>,
    /// Cosine similarity of this layer's pooled feature to the last layer's.
    pub cosine_to_final: f64,
}

/// The logit lens of the engine's current run, `k` classes per layer.
pub fn logit_lens(engine: &Engine, k: usize) -> Result<Vec<LensLayer>, MethodError> {
    let (Some(m), Some(run)) = (&engine.model, &engine.run) else {
        return Err(MethodError::NothingLoaded);
    };
    let layers = m.vit.logit_lens(&run.capture)?;
    let last = match layers.last() {
        Some((p, _)) => p.shallow_clone(),
        None => return Ok(Vec::new()),
    };
    let cosine = |a: &Tensor| -> Result<f64, tch::TchError> {
        let (a, b) = (a.f_to_kind(Kind::Double)?, last.f_to_kind(Kind::Double)?);
        let dot = a.f_dot(&b)?.f_double_value(&[])?;
        let n = a.f_norm()?.f_double_value(&[])? * b.f_norm()?.f_double_value(&[])?;
        Ok(dot / n.max(1e-300))
    };
    layers
        .iter()
        .enumerate()
        .map(|(l, (pooled, logits))| {
            let top = match logits {
                Some(t) => top_k(
                    &t.f_to_device(tch::Device::Cpu)
                        .and_then(Vec::<f32>::try_from)
                        .map_err(crate::model::ModelError::from)?,
                    &m.vit.config.class_names,
                    k,
                ),
                None => Vec::new(),
            };
            Ok(LensLayer {
                layer: l,
                top,
                cosine_to_final: cosine(pooled).map_err(crate::model::ModelError::from)?,
            })
        })
        .collect()
}

/// One class's line in a bump chart of the lens: its rank (1 = top) at each layer where it is among the top
/// classes, in runs of consecutive layers (a line breaks where the class leaves the top).
#[derive(Debug, Clone, PartialEq)]
pub struct BumpLine {
    pub class: usize,
    pub name: String,
    /// Runs of `(layer, rank)` over consecutive layers.
    pub runs: Vec<Vec<(usize, usize)>>,
}

/// The bump chart of the lens: one line per class that is among some layer's top classes, at most `max`
/// lines, keeping the classes that reach the best rank (ties: the better rank at the last layer, then the
/// class index), ordered that way.
pub fn bump(layers: &[LensLayer], max: usize) -> Vec<BumpLine> {
    let mut classes: Vec<(usize, String)> = Vec::new();
    for l in layers {
        for c in &l.top {
            if !classes.iter().any(|(i, _)| *i == c.index) {
                classes.push((c.index, c.name.clone()));
            }
        }
    }
    let rank_at =
        |l: &LensLayer, class: usize| l.top.iter().position(|c| c.index == class).map(|r| r + 1);
    let best = |class: usize| {
        layers
            .iter()
            .filter_map(|l| rank_at(l, class))
            .min()
            .unwrap_or(usize::MAX)
    };
    let last = |class: usize| {
        layers
            .last()
            .and_then(|l| rank_at(l, class))
            .unwrap_or(usize::MAX)
    };
    classes.sort_by_key(|(c, _)| (best(*c), last(*c), *c));
    classes.truncate(max);
    classes
        .into_iter()
        .map(|(class, name)| {
            let mut runs: Vec<Vec<(usize, usize)>> = Vec::new();
            let mut prev: Option<usize> = None;
            for l in layers {
                match rank_at(l, class) {
                    Some(r) => {
                        match (prev, runs.last_mut()) {
                            (Some(p), Some(run)) if p + 1 == l.layer => run.push((l.layer, r)),
                            _ => runs.push(vec![(l.layer, r)]),
                        }
                        prev = Some(l.layer);
                    }
                    None => prev = None,
                }
            }
            BumpLine { class, name, runs }
        })
        .collect()
}

/// The lens as CSV: `layer,rank,class,name,probability,cosine_to_final` (one row per layer and rank; a model
/// without a classifier has one row per layer with rank, class, name and probability empty).
pub fn lens_csv(rows: &[LensLayer]) -> String {
    let mut out = String::from("layer,rank,class,name,probability,cosine_to_final\n");
    for r in rows {
        if r.top.is_empty() {
            out.push_str(&format!("{},,,,,{:.6}\n", r.layer, r.cosine_to_final));
        }
        for (rank, c) in r.top.iter().enumerate() {
            let name = c.name.replace('"', "\"\"");
            out.push_str(&format!(
                "{},{},{},\"{name}\",{:.6},{:.6}\n",
                r.layer,
                rank + 1,
                c.index,
                c.probability,
                r.cosine_to_final
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(layer: usize, classes: &[usize]) -> LensLayer {
        LensLayer {
            layer,
            top: classes
                .iter()
                .map(|&index| ClassScore {
                    index,
                    name: format!("c{index}"),
                    probability: 0.0,
                    logit: 0.0,
                })
                .collect(),
            cosine_to_final: 0.0,
        }
    }

    #[test]
    fn bump_lines_follow_ranks_and_break_where_a_class_leaves_the_top() {
        let lens = [layer(0, &[7, 3]), layer(1, &[3, 9]), layer(2, &[3, 7])];
        let lines = bump(&lens, 10);
        let names: Vec<usize> = lines.iter().map(|l| l.class).collect();
        // 3 and 7 both reach rank 1; 3 is better at the last layer; 9 only reaches 2
        assert_eq!(names, [3, 7, 9]);
        assert_eq!(lines[0].runs, [vec![(0, 2), (1, 1), (2, 1)]]);
        assert_eq!(lines[1].runs, [vec![(0, 1)], vec![(2, 2)]]);
        assert_eq!(lines[2].runs, [vec![(1, 2)]]);
        assert_eq!(bump(&lens, 2).len(), 2);
        assert!(bump(&[layer(0, &[])], 5).is_empty());
    }
}
