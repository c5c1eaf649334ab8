//! Plots for export, drawn by `plotters` (the app itself draws with egui_plot): the ViT paper's distance
//! figure, the prefix-mass plot and the faithfulness curves, as a PNG (the bitmap backend) or an SVG (vector
//! lines, dots and text). One description of a figure ([`Figure`]) serves both, so the two files agree.
//!
//! Sizes are given at 96 dots per inch; a figure rendered at another DPI keeps its physical size (the same
//! layout, every length scaled by `dpi / 96`), and the PNG says its DPI in a `pHYs` chunk, so a paper or
//! slide places it at the intended size whatever the resolution.
use image::RgbImage;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

use super::text::{fmt_tick, text_width};

/// The DPI figure sizes are given at; the scale of a figure is `dpi / BASE_DPI`.
pub const BASE_DPI: u32 = 96;

/// The DPIs offered by the app (screen, print draft, print).
pub const DPI_CHOICES: [u32; 3] = [96, 150, 300];

/// One series of points.
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
    pub color: [u8; 3],
    /// Join consecutive points with a line.
    pub joined: bool,
}

/// One panel of a figure.
pub struct Panel {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
    /// Margin added on both sides of the data's x range (0.5 for layers; 0 for a fraction in [0, 1]).
    pub x_pad: f64,
}

/// Panels side by side, each `panel_size` pixels at [`BASE_DPI`], with the first panel's series as a legend
/// along the bottom (it never covers the data).
pub struct Figure {
    pub panels: Vec<Panel>,
    pub panel_size: (u32, u32),
}

/// A figure that could not be drawn (a backend error, in words).
#[derive(Debug, thiserror::Error)]
#[error("cannot draw the plot: {0}")]
pub struct PlotError(String);

const FONT: &str = "sans-serif";
const LEGEND_ROW: f64 = 28.0;
const LEGEND_LEFT: f64 = 62.0;

fn register_fonts() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // the same font as the app's text and the maps' labels
        if register_font(FONT, FontStyle::Normal, epaint_default_fonts::UBUNTU_LIGHT).is_err() {
            unreachable!("egui's bundled font parses");
        }
    });
}

fn rgb(c: [u8; 3]) -> RGBColor {
    RGBColor(c[0], c[1], c[2])
}

impl Panel {
    /// The axes' ranges: the data's, x padded by `x_pad`, y by 8 % (and down to 0 when the data is positive
    /// and near it, so bars of distance or mass start from nothing).
    fn ranges(&self) -> ((f64, f64), (f64, f64)) {
        let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
        for &(x, y) in self.series.iter().flat_map(|s| s.points.iter()) {
            if x.is_finite() && y.is_finite() {
                x0 = x0.min(x);
                x1 = x1.max(x);
                y0 = y0.min(y);
                y1 = y1.max(y);
            }
        }
        if x0 > x1 {
            (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
        }
        let (x0, x1) = (
            x0 - self.x_pad,
            x1 + self.x_pad.max(if x1 > x0 { 0.0 } else { 1.0 }),
        );
        let pad = ((y1 - y0) * 0.08).max(1e-6);
        let y0 = if y0 >= 0.0 && y0 - pad < 0.0 {
            0.0
        } else {
            y0 - pad
        };
        ((x0, x1), (y0, y1 + pad))
    }
}

impl Figure {
    /// The legend's rows: each entry the series' index and its left edge, at [`BASE_DPI`].
    fn legend_rows(&self) -> Vec<Vec<(usize, f64)>> {
        let total_w = (self.panel_size.0 as usize * self.panels.len()) as f64;
        let mut rows = vec![Vec::new()];
        let mut x = LEGEND_LEFT;
        for (i, s) in self
            .panels
            .first()
            .map_or(&[][..], |p| &p.series)
            .iter()
            .enumerate()
        {
            let item = 8.0 + text_width(13.0, &s.label) as f64 + 14.0;
            if x + item > total_w - 8.0 && !rows.last().is_some_and(Vec::is_empty) {
                rows.push(Vec::new());
                x = LEGEND_LEFT;
            }
            rows.last_mut().expect("a row").push((i, x));
            x += item;
        }
        rows
    }

    /// Width and height in pixels at `dpi`.
    pub fn size(&self, dpi: u32) -> (u32, u32) {
        let s = scale(dpi);
        let w = self.panel_size.0 as f64 * self.panels.len() as f64;
        let h = self.panel_size.1 as f64 + LEGEND_ROW * self.legend_rows().len() as f64;
        ((w * s).round() as u32, (h * s).round() as u32)
    }

    fn draw<DB: DrawingBackend>(
        &self,
        root: DrawingArea<DB, Shift>,
        dpi: u32,
    ) -> Result<(), String> {
        let s = scale(dpi);
        let px = |v: f64| (v * s).round() as i32;
        let font = |size: f64| (FONT, size * s).into_font();
        let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
        root.fill(&WHITE).map_err(err)?;
        let (plots, legend) = root.split_vertically(px(self.panel_size.1 as f64));
        let areas = plots.split_evenly((1, self.panels.len().max(1)));
        for (area, p) in areas.iter().zip(&self.panels) {
            let ((x0, x1), (y0, y1)) = p.ranges();
            let mut chart = ChartBuilder::on(area)
                .caption(&p.title, font(16.0))
                .margin_top(px(6.0))
                .margin_right(px(16.0))
                .margin_left(px(6.0))
                .x_label_area_size(px(44.0))
                .y_label_area_size(px(64.0))
                .build_cartesian_2d(x0..x1, y0..y1)
                .map_err(err)?;
            // whole layers on a layer axis; about six round values on a fraction axis
            let x_labels = if p.x_pad > 0.0 {
                ((x1 - x0).round() as usize).clamp(2, 25)
            } else {
                6
            };
            chart
                .configure_mesh()
                .disable_x_mesh()
                .bold_line_style(RGBColor(225, 225, 225).stroke_width(px(1.0).max(1) as u32))
                .light_line_style(TRANSPARENT)
                .axis_style(BLACK.stroke_width(px(1.0).max(1) as u32))
                .x_labels(x_labels)
                .y_labels(6)
                .x_label_formatter(&|v| fmt_tick(*v))
                .y_label_formatter(&|v| fmt_tick(*v))
                .label_style(font(12.0))
                .axis_desc_style(font(13.0))
                .x_desc(p.x_label.as_str())
                .y_desc(p.y_label.as_str())
                .draw()
                .map_err(err)?;
            for series in &p.series {
                let c = rgb(series.color);
                if series.joined {
                    chart
                        .draw_series(LineSeries::new(
                            series.points.iter().copied(),
                            c.stroke_width(px(2.0).max(1) as u32),
                        ))
                        .map_err(err)?;
                }
                chart
                    .draw_series(
                        series
                            .points
                            .iter()
                            .map(|&p| Circle::new(p, px(3.5).max(1), c.filled())),
                    )
                    .map_err(err)?;
            }
        }
        if let Some(first) = self.panels.first() {
            for (r, row) in self.legend_rows().iter().enumerate() {
                let y = LEGEND_ROW * r as f64;
                for &(i, x) in row {
                    let series = &first.series[i];
                    legend
                        .draw(&Circle::new(
                            (px(x), px(y + 14.0)),
                            px(4.0).max(1),
                            rgb(series.color).filled(),
                        ))
                        .map_err(err)?;
                    legend
                        .draw(&Text::new(
                            series.label.clone(),
                            (px(x + 8.0), px(y + 6.0)),
                            font(13.0),
                        ))
                        .map_err(err)?;
                }
            }
        }
        root.present().map_err(err)
    }

    /// The figure as an RGB image at `dpi`.
    pub fn png(&self, dpi: u32) -> Result<RgbImage, PlotError> {
        register_fonts();
        let (w, h) = self.size(dpi);
        let mut buf = vec![255u8; w as usize * h as usize * 3];
        self.draw(
            BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area(),
            dpi,
        )
        .map_err(PlotError)?;
        RgbImage::from_raw(w, h, buf).ok_or_else(|| PlotError("buffer size".into()))
    }

    /// The figure as an SVG document at `dpi` (its width and height in pixels at that DPI).
    pub fn svg(&self, dpi: u32) -> Result<String, PlotError> {
        register_fonts();
        let mut out = String::new();
        self.draw(
            SVGBackend::with_string(&mut out, self.size(dpi)).into_drawing_area(),
            dpi,
        )
        .map_err(PlotError)?;
        Ok(out)
    }
}

/// The factor every length is multiplied by at `dpi`.
fn scale(dpi: u32) -> f64 {
    dpi.clamp(24, 1200) as f64 / BASE_DPI as f64
}

fn per_head(
    stats: &crate::analysis::HeadStats,
    value: &dyn Fn(usize, usize) -> f64,
) -> Vec<Series> {
    (0..stats.heads)
        .map(|h| Series {
            label: format!("head {h}"),
            points: (0..stats.layers).map(|l| (l as f64, value(l, h))).collect(),
            color: super::category(h),
            joined: false,
        })
        .collect()
}

/// The ViT paper's figure: mean attention distance and entropy against layer, one colour per head.
pub fn distance_figure(
    stats: &crate::analysis::HeadStats,
    model: &str,
    prefix: crate::analysis::PrefixConvention,
) -> Figure {
    let title = format!(
        "{model} - {} image(s), prefix {}",
        stats.images,
        match prefix {
            crate::analysis::PrefixConvention::Renormalise => "renormalised",
            crate::analysis::PrefixConvention::Drop => "dropped",
        }
    );
    Figure {
        panels: vec![
            Panel {
                title,
                x_label: "layer (network depth)".into(),
                y_label: "mean attention distance (px)".into(),
                series: per_head(stats, &|l, h| stats.distance(l, h)),
                x_pad: 0.5,
            },
            Panel {
                title: String::new(),
                x_label: "layer (network depth)".into(),
                y_label: "attention entropy (nats)".into(),
                series: per_head(stats, &|l, h| stats.entropy(l, h)),
                x_pad: 0.5,
            },
        ],
        panel_size: (560, 400),
    }
}

/// The Tokens view's plot: the attention mass patch queries give each prefix token, per layer
/// (`mass[layer][token]`, mean over heads and patch queries), one line per token.
pub fn prefix_mass_figure(mass: &[Vec<f32>], labels: &[String], model: &str) -> Figure {
    let series = labels
        .iter()
        .enumerate()
        .map(|(k, label)| Series {
            label: label.clone(),
            points: mass
                .iter()
                .enumerate()
                .map(|(l, m)| (l as f64, m.get(k).copied().unwrap_or(0.0) as f64))
                .collect(),
            color: super::category(k),
            joined: true,
        })
        .collect();
    Figure {
        panels: vec![Panel {
            title: format!("{model} - attention mass on prefix tokens"),
            x_label: "layer (network depth)".into(),
            y_label: "mean attention from patch queries".into(),
            series,
            x_pad: 0.5,
        }],
        panel_size: (640, 400),
    }
}

/// One method's faithfulness curves: its label, the fractions, the deletion and the insertion scores.
pub type Curves = (String, Vec<f64>, Vec<f64>, Vec<f64>);

/// Deletion and insertion curves side by side: one line per method, the score against the fraction of
/// patches removed or inserted.
pub fn faithfulness_figure(curves: &[Curves], title: &str, score: &str) -> Figure {
    let series = |pick: fn(&Curves) -> &Vec<f64>| -> Vec<Series> {
        curves
            .iter()
            .enumerate()
            .map(|(k, c)| Series {
                label: c.0.clone(),
                points: c.1.iter().copied().zip(pick(c).iter().copied()).collect(),
                color: super::category(k),
                joined: true,
            })
            .collect()
    };
    Figure {
        panels: vec![
            Panel {
                title: title.into(),
                x_label: "fraction of patches removed (most important first)".into(),
                y_label: score.into(),
                series: series(|c| &c.2),
                x_pad: 0.0,
            },
            Panel {
                title: String::new(),
                x_label: "fraction of patches inserted (most important first)".into(),
                y_label: score.into(),
                series: series(|c| &c.3),
                x_pad: 0.0,
            },
        ],
        panel_size: (560, 400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_panel() -> Figure {
        Figure {
            panels: vec![Panel {
                title: "a title".into(),
                x_label: "layer".into(),
                y_label: "distance (px)".into(),
                series: vec![
                    Series {
                        label: "head 0".into(),
                        points: vec![(0.0, 1.0), (1.0, 2.0), (2.0, 4.0)],
                        color: [255, 0, 0],
                        joined: false,
                    },
                    Series {
                        label: "head 1".into(),
                        points: vec![(0.0, 3.0), (1.0, 1.0), (2.0, 0.5)],
                        color: [0, 0, 255],
                        joined: true,
                    },
                ],
                x_pad: 0.5,
            }],
            panel_size: (300, 200),
        }
    }

    #[test]
    fn the_png_draws_every_series_and_its_text() {
        let img = one_panel().png(96).unwrap();
        assert_eq!(
            img.dimensions(),
            (300, 228),
            "one legend row under the panel"
        );
        let count = |c: [u8; 3]| img.pixels().filter(|p| p.0 == c).count();
        assert!(
            count([255, 0, 0]) > 3 * 25,
            "red dots: {}",
            count([255, 0, 0])
        );
        assert!(count([0, 0, 255]) > 3 * 25 + 100, "blue dots and line");
        let dark = img
            .pixels()
            .filter(|p| p.0.iter().all(|&v| v < 100))
            .count();
        assert!(dark > 300, "axes and text: {dark}");
        // the legend row holds both colours, below the panel
        let legend = |c: [u8; 3]| (200..228).any(|y| (0..300).any(|x| img.get_pixel(x, y).0 == c));
        assert!(legend([255, 0, 0]) && legend([0, 0, 255]));
    }

    #[test]
    fn a_higher_dpi_keeps_the_layout_at_more_pixels() {
        let f = one_panel();
        assert_eq!(f.size(192), (600, 456));
        let a = f.png(96).unwrap();
        let b = f.png(192).unwrap();
        assert_eq!(b.dimensions(), (600, 456));
        // the same picture: the 2x image shrunk back is close to the 1x one
        let small = image::imageops::resize(&b, 300, 228, image::imageops::FilterType::Triangle);
        let diff: f64 = a
            .as_raw()
            .iter()
            .zip(small.as_raw())
            .map(|(&x, &y)| (x as f64 - y as f64).abs())
            .sum::<f64>()
            / a.as_raw().len() as f64;
        assert!(diff < 12.0, "mean difference {diff}");
        assert_eq!(f.png(96).unwrap(), a, "bit-identical when drawn again");
    }

    #[test]
    fn the_svg_has_vector_dots_lines_and_text() {
        let svg = one_panel().svg(96).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..80]);
        assert!(svg.contains("width=\"300\"") && svg.contains("height=\"228\""));
        // 3 + 3 data dots and 2 legend dots
        assert_eq!(svg.matches("<circle").count(), 8, "{svg}");
        assert!(svg.contains("<polyline"), "the joined series is a line");
        let flat = svg.replace('\n', "");
        for t in ["a title", "layer", "distance (px)", "head 0", "head 1"] {
            assert!(flat.contains(&format!(">{t}</text>")), "{t} in {svg}");
        }
        assert_eq!(
            one_panel().svg(96).unwrap(),
            svg,
            "identical when drawn again"
        );
    }
}
