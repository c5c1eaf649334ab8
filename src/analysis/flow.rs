//! Attention flow (Abnar & Zuidema 2020): exact max-flow in the layered attention graph.
//!
//! The graph has a node `(k, i)` for token `i` after `k` of the chosen layers (`k = 0` is the input of the
//! first layer), and an edge `(k, j) → (k+1, i)` with capacity `Â_k[i, j]`, the rollout transition of that
//! layer (heads fused, optional discard, residual, rows renormalised; see [`super::rollout`]). The flow value
//! of input token `j` is the maximum flow from `(0, j)` to `(m, q)`, the query token after the last layer.
//!
//! Generic max-flow code (networkx's Edmonds–Karp on ~2 600 nodes and ~470 000 edges, once per input token)
//! takes tens of minutes for a ViT-B/16. This is Dinic's algorithm specialised to the layered structure:
//! dense per-layer capacity and flow matrices (no adjacency lists), both orientations of the flow kept so
//! every scan is contiguous, only the source's and the sink's nodes in the first and last layer (no flow
//! can pass through the others), and the input tokens spread over all cores. Values are exact max-flows in
//! f64 (augmenting paths are saturated to within 1e-13).
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tch::Tensor;

use super::rollout::{RolloutOptions, TokenMap, check_query, to_vec_f32, transitions};
use crate::model::TokenLayout;

type Result<T> = std::result::Result<T, super::AnalysisError>;

const EPS: f64 = 1e-13;

/// A layered graph: `m` layers of `n × n` capacities, `cap[k][j·n + i]` for the edge `(k, j) → (k+1, i)`.
pub struct LayeredGraph {
    n: usize,
    /// Per transition, transposed: out-edges of a node are contiguous.
    cap: Vec<Vec<f64>>,
}

impl LayeredGraph {
    /// From transition matrices in forward order, each `[n, n]` with rows = the next layer's tokens
    /// (`M[i][j]` is the capacity of `(k, j) → (k+1, i)`), row-major.
    pub fn from_transitions(mats: &[Vec<f64>], n: usize) -> Result<LayeredGraph> {
        if mats.is_empty() || mats.iter().any(|m| m.len() != n * n) {
            return Err(super::AnalysisError::Invalid(
                "flow needs at least one n×n layer".into(),
            ));
        }
        if mats.iter().flatten().any(|c| !c.is_finite() || *c < 0.0) {
            return Err(super::AnalysisError::Invalid(
                "flow capacities must be finite and non-negative".into(),
            ));
        }
        let cap = mats
            .iter()
            .map(|m| {
                let mut t = vec![0.0; n * n];
                for i in 0..n {
                    for j in 0..n {
                        t[j * n + i] = m[i * n + j];
                    }
                }
                t
            })
            .collect();
        Ok(LayeredGraph { n, cap })
    }

    pub fn layers(&self) -> usize {
        self.cap.len()
    }

    /// Max-flow from input token `source` to output token `sink`.
    pub fn max_flow(&self, source: usize, sink: usize) -> f64 {
        Dinic::new(self, source, sink).run()
    }

    /// Max-flow from every input token to `sink`, spread over `threads` threads.
    pub fn flows_to(&self, sink: usize, threads: usize) -> Vec<f64> {
        self.flows_to_with(sink, threads, &Progress::default())
            .expect("not cancelled")
    }

    /// As [`flows_to`](Self::flows_to), counting finished tokens in `progress.done` and stopping (with
    /// `None`) once `progress.cancel` is set.
    pub fn flows_to_with(
        &self,
        sink: usize,
        threads: usize,
        progress: &Progress,
    ) -> Option<Vec<f64>> {
        let n = self.n;
        let threads = threads.clamp(1, n.max(1));
        let mut out = vec![0.0; n];
        let chunk = n.div_ceil(threads);
        std::thread::scope(|s| {
            for (t, part) in out.chunks_mut(chunk).enumerate() {
                std::thread::Builder::new()
                    .stack_size(64 << 20)
                    .spawn_scoped(s, move || {
                        let mut d = Dinic::new(self, 0, sink);
                        for (k, v) in part.iter_mut().enumerate() {
                            if progress.cancel.load(Ordering::Relaxed) {
                                return;
                            }
                            d.reset(t * chunk + k);
                            *v = d.run();
                            progress.done.fetch_add(1, Ordering::Relaxed);
                        }
                    })
                    .expect("spawn flow worker");
            }
        });
        (!progress.cancel.load(Ordering::Relaxed)).then_some(out)
    }
}

/// Progress of long work shared between threads: units done, and a cancel request.
#[derive(Debug, Default)]
pub struct Progress {
    pub done: AtomicUsize,
    pub cancel: AtomicBool,
}

/// Dinic's algorithm on a [`LayeredGraph`]. Node id `k·n + i`.
struct Dinic<'g> {
    g: &'g LayeredGraph,
    source: usize,
    sink: usize,
    /// `flow[k][j·n + i]`: flow on `(k, j) → (k+1, i)`.
    flow: Vec<Vec<f64>>,
    /// The same flow, `back[k][i·n + j]`, so the backward arcs out of `(k+1, i)` are contiguous.
    back: Vec<Vec<f64>>,
    level: Vec<i32>,
    /// Current arc per node: `0..n` forward, `n..2n` backward.
    next: Vec<usize>,
    queue: Vec<(usize, usize)>,
}

impl<'g> Dinic<'g> {
    fn new(g: &'g LayeredGraph, source: usize, sink: usize) -> Self {
        let (m, n) = (g.layers(), g.n);
        Dinic {
            g,
            source,
            sink,
            flow: vec![vec![0.0; n * n]; m],
            back: vec![vec![0.0; n * n]; m],
            level: vec![-1; (m + 1) * n],
            next: vec![0; (m + 1) * n],
            queue: Vec::with_capacity((m + 1) * n),
        }
    }

    fn reset(&mut self, source: usize) {
        self.source = source;
        self.flow.iter_mut().for_each(|f| f.fill(0.0));
        self.back.iter_mut().for_each(|f| f.fill(0.0));
    }

    /// Is `(k, i)` a node flow can pass through? Only the source in the first layer and the sink in the last.
    fn usable(&self, k: usize, i: usize) -> bool {
        (k > 0 || i == self.source) && (k < self.g.layers() || i == self.sink)
    }

    fn bfs(&mut self) -> bool {
        let (m, n) = (self.g.layers(), self.g.n);
        self.level.fill(-1);
        self.queue.clear();
        self.level[self.source] = 0;
        self.queue.push((0, self.source));
        let mut head = 0;
        while head < self.queue.len() {
            let (k, u) = self.queue[head];
            head += 1;
            let lu = self.level[k * n + u];
            if k < m {
                let cap = &self.g.cap[k][u * n..(u + 1) * n];
                let flow = &self.flow[k][u * n..(u + 1) * n];
                for i in 0..n {
                    let id = (k + 1) * n + i;
                    if self.level[id] < 0 && cap[i] - flow[i] > EPS && self.usable(k + 1, i) {
                        self.level[id] = lu + 1;
                        self.queue.push((k + 1, i));
                    }
                }
            }
            if k > 0 {
                let back = &self.back[k - 1][u * n..(u + 1) * n];
                for j in 0..n {
                    let id = (k - 1) * n + j;
                    if self.level[id] < 0 && back[j] > EPS && self.usable(k - 1, j) {
                        self.level[id] = lu + 1;
                        self.queue.push((k - 1, j));
                    }
                }
            }
        }
        self.level[m * n + self.sink] >= 0
    }

    /// Push up to `limit` from `(k, u)` towards the sink along level-increasing arcs.
    fn dfs(&mut self, k: usize, u: usize, limit: f64) -> f64 {
        let (m, n) = (self.g.layers(), self.g.n);
        if k == m {
            return if u == self.sink { limit } else { 0.0 };
        }
        let id = k * n + u;
        let lu = self.level[id];
        while self.next[id] < 2 * n {
            let a = self.next[id];
            if a < n {
                let i = a;
                let r = self.g.cap[k][u * n + i] - self.flow[k][u * n + i];
                if r > EPS && self.level[(k + 1) * n + i] == lu + 1 {
                    let d = self.dfs(k + 1, i, limit.min(r));
                    if d > 0.0 {
                        self.flow[k][u * n + i] += d;
                        self.back[k][i * n + u] += d;
                        return d;
                    }
                }
            } else if k > 0 {
                let j = a - n;
                let r = self.back[k - 1][u * n + j];
                if r > EPS && self.level[(k - 1) * n + j] == lu + 1 {
                    let d = self.dfs(k - 1, j, limit.min(r));
                    if d > 0.0 {
                        self.back[k - 1][u * n + j] -= d;
                        self.flow[k - 1][j * n + u] -= d;
                        return d;
                    }
                }
            }
            self.next[id] += 1;
        }
        0.0
    }

    fn run(&mut self) -> f64 {
        let mut total = 0.0;
        while self.bfs() {
            self.next.fill(0);
            loop {
                let d = self.dfs(0, self.source, f64::INFINITY);
                if d <= 0.0 {
                    break;
                }
                total += d;
            }
        }
        total
    }
}

/// Attention flow to `query` from every token, with the transitions of `o`: one value per token.
pub fn attention_flow(
    attentions: &[Tensor],
    layout: &TokenLayout,
    query: usize,
    o: &RolloutOptions,
) -> Result<TokenMap> {
    attention_flow_with(attentions, layout, query, o, &Progress::default())?
        .ok_or_else(|| super::AnalysisError::Invalid("attention flow cancelled".into()))
}

/// [`attention_flow`] with progress (input tokens done) and cancellation (`None` when cancelled).
pub fn attention_flow_with(
    attentions: &[Tensor],
    layout: &TokenLayout,
    query: usize,
    o: &RolloutOptions,
    progress: &Progress,
) -> Result<Option<TokenMap>> {
    let _guard = tch::no_grad_guard();
    let n = layout.num_tokens();
    check_query(query, n)?;
    let mats = transitions(attentions, o)?
        .iter()
        .map(|t| Ok(to_vec_f32(t)?.into_iter().map(f64::from).collect()))
        .collect::<Result<Vec<Vec<f64>>>>()?;
    let g = LayeredGraph::from_transitions(&mats, n)?;
    let threads = std::thread::available_parallelism().map_or(1, |p| p.get());
    Ok(g.flows_to_with(query, threads, progress)
        .map(|values| TokenMap {
            layout: layout.clone(),
            values: values.into_iter().map(|v| v as f32).collect(),
        }))
}

/// A straightforward max-flow (Edmonds–Karp: shortest augmenting paths by BFS on a dense capacity matrix),
/// the reference the fast code is checked against.
pub fn reference_max_flow(cap: &[Vec<f64>], s: usize, t: usize) -> f64 {
    let v = cap.len();
    let mut res: Vec<Vec<f64>> = cap.to_vec();
    let mut total = 0.0;
    loop {
        let mut prev = vec![usize::MAX; v];
        prev[s] = s;
        let mut queue = std::collections::VecDeque::from([s]);
        while let Some(u) = queue.pop_front() {
            for w in 0..v {
                if prev[w] == usize::MAX && res[u][w] > EPS {
                    prev[w] = u;
                    queue.push_back(w);
                }
            }
        }
        if prev[t] == usize::MAX {
            return total;
        }
        let mut b = f64::INFINITY;
        let mut w = t;
        while w != s {
            b = b.min(res[prev[w]][w]);
            w = prev[w];
        }
        let mut w = t;
        while w != s {
            res[prev[w]][w] -= b;
            res[w][prev[w]] += b;
            w = prev[w];
        }
        total += b;
    }
}

/// The layered graph of `mats` (as for [`LayeredGraph::from_transitions`]) as one dense capacity matrix.
pub fn dense_graph(mats: &[Vec<f64>], n: usize) -> Vec<Vec<f64>> {
    let v = (mats.len() + 1) * n;
    let mut cap = vec![vec![0.0; v]; v];
    for (k, m) in mats.iter().enumerate() {
        for i in 0..n {
            for j in 0..n {
                cap[k * n + j][(k + 1) * n + i] = m[i * n + j];
            }
        }
    }
    cap
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A xorshift generator, so the graphs are reproducible without a dependency.
    fn rng(seed: u64) -> impl FnMut() -> f64 {
        let mut s = seed.wrapping_mul(0x9E3779B97F4A7C15) | 1;
        move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    fn random_stochastic(n: usize, layers: usize, sparsity: f64, seed: u64) -> Vec<Vec<f64>> {
        let mut r = rng(seed);
        (0..layers)
            .map(|_| {
                let mut m: Vec<f64> = (0..n * n)
                    .map(|_| {
                        let x = r();
                        if r() < sparsity { 0.0 } else { x * x * x }
                    })
                    .collect();
                for i in 0..n {
                    let s: f64 = m[i * n..(i + 1) * n].iter().sum::<f64>().max(1e-12);
                    m[i * n..(i + 1) * n].iter_mut().for_each(|v| *v /= s);
                }
                m
            })
            .collect()
    }

    #[test]
    fn equals_reference_max_flow_on_small_graphs() {
        for seed in 0..40 {
            let n = 2 + (seed as usize % 6);
            let layers = 1 + (seed as usize % 4);
            let sparsity = [0.0, 0.3, 0.6][seed as usize % 3];
            let mats = random_stochastic(n, layers, sparsity, seed);
            let g = LayeredGraph::from_transitions(&mats, n).unwrap();
            let dense = dense_graph(&mats, n);
            let sink = seed as usize % n;
            let fast = g.flows_to(sink, 2);
            for (src, f) in fast.iter().enumerate() {
                let r = reference_max_flow(&dense, src, layers * n + sink);
                assert!((f - r).abs() < 1e-12, "seed {seed} src {src}: {f} vs {r}");
            }
        }
    }

    #[test]
    fn identity_layers_carry_flow_only_from_the_query_itself() {
        let n = 5;
        let eye: Vec<f64> = (0..n * n).map(|k| (k / n == k % n) as u8 as f64).collect();
        let g = LayeredGraph::from_transitions(&[eye.clone(), eye.clone(), eye], n).unwrap();
        assert_eq!(g.flows_to(2, 2), vec![0.0, 0.0, 1.0, 0.0, 0.0]);
    }

    #[test]
    fn one_layer_flow_is_the_attention_weight() {
        let mats = random_stochastic(6, 1, 0.0, 7);
        let g = LayeredGraph::from_transitions(&mats, 6).unwrap();
        let f = g.flows_to(3, 1);
        for j in 0..6 {
            assert!((f[j] - mats[0][3 * 6 + j]).abs() < 1e-15);
        }
    }

    #[test]
    fn a_cancelled_flow_stops_and_says_so() {
        let mats = random_stochastic(6, 3, 0.0, 3);
        let g = LayeredGraph::from_transitions(&mats, 6).unwrap();
        let p = Progress::default();
        assert!(g.flows_to_with(0, 2, &p).is_some());
        assert_eq!(p.done.load(Ordering::Relaxed), 6);
        p.cancel.store(true, Ordering::Relaxed);
        assert!(g.flows_to_with(0, 2, &p).is_none());
    }

    #[test]
    fn negative_capacities_are_refused() {
        assert!(LayeredGraph::from_transitions(&[vec![1.0, -0.5, 0.0, 1.0]], 2).is_err());
    }
}
