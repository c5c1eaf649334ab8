//! Colormaps: perceptual maps from `colorous` (matplotlib's viridis, magma, inferno, Google's turbo)
//! and a plain gray ramp (black → white).
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Colormap {
    #[default]
    Viridis,
    Magma,
    Inferno,
    Turbo,
    Gray,
}

impl Colormap {
    pub const ALL: [Colormap; 5] = [
        Colormap::Viridis,
        Colormap::Magma,
        Colormap::Inferno,
        Colormap::Turbo,
        Colormap::Gray,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Colormap::Viridis => "viridis",
            Colormap::Magma => "magma",
            Colormap::Inferno => "inferno",
            Colormap::Turbo => "turbo",
            Colormap::Gray => "gray",
        }
    }

    /// Colour of `t` in 0..1 (clamped; NaN maps to 0), from the map's table of [`LUT_SIZE`] colours
    /// (nearest entry; the step is 1/4095, well below one 8-bit level of any of these maps). Gray is exact.
    pub fn rgb(self, t: f32) -> [u8; 3] {
        let t = if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) };
        if self == Colormap::Gray {
            let v = (t * 255.0).round() as u8;
            return [v, v, v];
        }
        self.table()[(t * (LUT_SIZE - 1) as f32).round() as usize]
    }

    /// The map sampled at `i / (LUT_SIZE − 1)`, computed once per process.
    fn table(self) -> &'static [[u8; 3]; LUT_SIZE] {
        static TABLES: [OnceLock<Box<[[u8; 3]; LUT_SIZE]>>; 5] = [const { OnceLock::new() }; 5];
        let (slot, g) = match self {
            Colormap::Viridis => (0, colorous::VIRIDIS),
            Colormap::Magma => (1, colorous::MAGMA),
            Colormap::Inferno => (2, colorous::INFERNO),
            Colormap::Turbo => (3, colorous::TURBO),
            Colormap::Gray => (4, colorous::GREYS),
        };
        TABLES[slot].get_or_init(|| {
            let mut t = Box::new([[0u8; 3]; LUT_SIZE]);
            for (i, c) in t.iter_mut().enumerate() {
                let c2 = g.eval_continuous(i as f64 / (LUT_SIZE - 1) as f64);
                *c = [c2.r, c2.g, c2.b];
            }
            t
        })
    }
}

/// Entries in each colormap's table.
pub const LUT_SIZE: usize = 4096;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ends_of_the_maps() {
        assert_eq!(Colormap::Gray.rgb(0.0), [0, 0, 0]);
        assert_eq!(Colormap::Gray.rgb(1.0), [255, 255, 255]);
        assert_eq!(Colormap::Gray.rgb(2.0), [255, 255, 255]);
        // viridis runs from dark purple to yellow
        let lo = Colormap::Viridis.rgb(0.0);
        let hi = Colormap::Viridis.rgb(1.0);
        assert!(
            lo[2] > lo[1] && hi[0] > 200 && hi[1] > 200 && hi[2] < 80,
            "{lo:?} {hi:?}"
        );
        for c in Colormap::ALL {
            assert_ne!(c.rgb(0.0), c.rgb(1.0), "{}", c.name());
        }
    }

    #[test]
    fn the_table_stays_within_one_level_of_the_spline() {
        for c in [
            Colormap::Viridis,
            Colormap::Magma,
            Colormap::Inferno,
            Colormap::Turbo,
        ] {
            let g = match c {
                Colormap::Viridis => colorous::VIRIDIS,
                Colormap::Magma => colorous::MAGMA,
                Colormap::Inferno => colorous::INFERNO,
                _ => colorous::TURBO,
            };
            for i in 0..=10_000 {
                let t = i as f32 / 10_000.0;
                let e = g.eval_continuous(t as f64);
                let got = c.rgb(t);
                for (a, b) in got.iter().zip([e.r, e.g, e.b]) {
                    assert!(
                        a.abs_diff(b) <= 1,
                        "{} at {t}: {got:?} vs {:?}",
                        c.name(),
                        [e.r, e.g, e.b]
                    );
                }
            }
        }
    }
}
