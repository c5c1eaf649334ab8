//! A plain 2-D grid of f32 values, row-major: what analysis produces and render draws.
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Grid {
    pub h: usize,
    pub w: usize,
    pub data: Vec<f32>,
}

impl Grid {
    /// A grid from row-major data; `None` if the length is not `h × w`.
    pub fn new(h: usize, w: usize, data: Vec<f32>) -> Option<Grid> {
        (data.len() == h * w).then_some(Grid { h, w, data })
    }
    pub fn get(&self, row: usize, col: usize) -> f32 {
        self.data[row * self.w + col]
    }
    /// (min, max) of the finite values; (0, 0) when there are none.
    pub fn min_max(&self) -> (f32, f32) {
        let mut it = self.data.iter().copied().filter(|v| v.is_finite());
        let Some(first) = it.next() else {
            return (0.0, 0.0);
        };
        it.fold((first, first), |(lo, hi), v| (lo.min(v), hi.max(v)))
    }
    pub fn sum(&self) -> f32 {
        self.data.iter().sum()
    }
}
