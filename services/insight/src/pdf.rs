//! The work report as PDF, rendered in-process (krilla) with an embedded CJK font — Noto Sans SC
//! subset to GB 2312 (`data/fonts/`), subset again per document by krilla — so no browser and
//! no system font is needed at run time. A4 pages: the title, the paragraphs, the charts drawn as
//! horizontal grouped bars (long department names read across), the table of every figure with
//! how it is counted, and the notes; the page number at the foot of each page.
//!
//! Layout is done first into pages of drawing operations, then drawn: krilla's page borrows
//! the document, so nothing is drawn while a page is still being filled.

use std::sync::LazyLock;

use krilla::Document;
use krilla::color::rgb;
use krilla::geom::{PathBuilder, Point, Rect};
use krilla::num::NormalizedF32;
use krilla::page::PageSettings;
use krilla::paint::Fill;
use krilla::text::{Font, TextDirection};
use yiwang_kit::{Error, Result};
use yiwang_proto::insight::v1 as pb;

use crate::report::{int, pct};

static FONT_DATA: &[u8] = include_bytes!("../../../data/fonts/NotoSansSC-Regular-GB2312.otf");

static FONT: LazyLock<Option<Font>> = LazyLock::new(|| Font::new(krilla::Data::from(FONT_DATA), 0));

const PAGE_W: f32 = 595.0;
const PAGE_H: f32 = 842.0;
const MARGIN: f32 = 56.0;
const WIDTH: f32 = PAGE_W - 2.0 * MARGIN;
const BOTTOM: f32 = PAGE_H - MARGIN;

const INK: (u8, u8, u8) = (34, 34, 34);
const GREY: (u8, u8, u8) = (110, 110, 110);
const RULE: (u8, u8, u8) = (200, 200, 200);
const PALETTE: [(u8, u8, u8); 6] = [
    (192, 57, 43),
    (46, 134, 193),
    (39, 174, 96),
    (243, 156, 18),
    (142, 68, 173),
    (127, 140, 141),
];

enum Op {
    Text {
        x: f32,
        y: f32,
        size: f32,
        color: (u8, u8, u8),
        text: String,
    },
    Rect {
        x: f32,
        y: f32,
        w: f32,
        h: f32,
        color: (u8, u8, u8),
    },
}

/// The width of text, approximately: CJK characters and full-width forms one em, the rest
/// (digits, Latin, ASCII punctuation) a little over half.
fn text_width(s: &str, size: f32) -> f32 {
    s.chars()
        .map(|c| if c.is_ascii() { 0.56 } else { 1.0 })
        .sum::<f32>()
        * size
}

/// Splits text into lines no wider than `width`: anywhere between CJK characters, never inside
/// a run of ASCII (a number, a code, a word).
fn wrap(text: &str, size: f32, width: f32, indent: f32) -> Vec<String> {
    let mut tokens: Vec<String> = Vec::new();
    for c in text.chars() {
        match tokens.last_mut() {
            Some(t)
                if c.is_ascii()
                    && !c.is_ascii_whitespace()
                    && t.chars().all(|x| x.is_ascii() && !x.is_ascii_whitespace()) =>
            {
                t.push(c)
            }
            _ => tokens.push(c.to_string()),
        }
    }
    let mut lines = Vec::new();
    let mut line = String::new();
    let mut avail = width - indent;
    for t in tokens {
        if !line.is_empty() && text_width(&line, size) + text_width(&t, size) > avail {
            lines.push(std::mem::take(&mut line));
            avail = width;
            if t.trim().is_empty() {
                continue;
            }
        }
        line.push_str(&t);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// Pages being filled, top to bottom.
struct Layout {
    pages: Vec<Vec<Op>>,
    y: f32,
}

impl Layout {
    fn new() -> Layout {
        Layout {
            pages: vec![Vec::new()],
            y: MARGIN,
        }
    }
    fn ops(&mut self) -> &mut Vec<Op> {
        self.pages.last_mut().expect("a page")
    }
    fn new_page(&mut self) {
        self.pages.push(Vec::new());
        self.y = MARGIN;
    }
    /// Makes room for `h` points, starting a new page when they do not fit.
    fn room(&mut self, h: f32) {
        if self.y + h > BOTTOM {
            self.new_page();
        }
    }
    fn text(&mut self, x: f32, size: f32, color: (u8, u8, u8), text: &str) {
        let y = self.y + size;
        self.ops().push(Op::Text {
            x,
            y,
            size,
            color,
            text: text.to_string(),
        });
    }
    fn paragraph(&mut self, text: &str, size: f32, color: (u8, u8, u8), indent: bool) {
        let first = if indent { 2.0 * size } else { 0.0 };
        for (i, line) in wrap(text, size, WIDTH, first).into_iter().enumerate() {
            self.room(size * 1.7);
            let x = MARGIN + if i == 0 { first } else { 0.0 };
            self.text(x, size, color, &line);
            self.y += size * 1.7;
        }
    }
    fn rule(&mut self) {
        let y = self.y;
        self.ops().push(Op::Rect {
            x: MARGIN,
            y,
            w: WIDTH,
            h: 0.6,
            color: RULE,
        });
    }
}

fn value_text(v: f64, unit: &str) -> String {
    if unit == "%" {
        pct(v)
    } else if v.fract().abs() > 1e-9 && v.abs() < 1e6 {
        format!("{v:.2} {unit}")
    } else {
        format!("{} {unit}", int(v))
    }
}

/// A chart as horizontal grouped bars: a row per category, a bar per series.
fn chart(l: &mut Layout, c: &pb::Chart) {
    let label_w = 130.0;
    let bar_h = 7.0;
    let group_h = bar_h * c.series.len().max(1) as f32 + 6.0;
    let legend_h = 14.0;
    let height = 22.0 + legend_h + group_h * c.categories.len() as f32 + 10.0;
    l.room(height.min(BOTTOM - MARGIN));
    l.text(MARGIN, 11.0, INK, &c.title);
    l.y += 20.0;
    // Legend.
    let mut x = MARGIN;
    for (si, s) in c.series.iter().enumerate() {
        let y = l.y;
        l.ops().push(Op::Rect {
            x,
            y: y + 1.0,
            w: 8.0,
            h: 8.0,
            color: PALETTE[si % PALETTE.len()],
        });
        l.text(x + 11.0, 8.0, GREY, &s.name);
        x += 16.0 + text_width(&s.name, 8.0) + 10.0;
    }
    l.y += legend_h;
    let max = c
        .series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .fold(0.0f64, f64::max)
        .max(1e-9);
    let bar_area = WIDTH - label_w - 60.0;
    for (g, cat) in c.categories.iter().enumerate() {
        l.room(group_h);
        let top = l.y;
        let name: String = if text_width(cat, 8.0) > label_w - 6.0 {
            cat.chars()
                .take(((label_w - 6.0) / 8.0) as usize - 1)
                .collect::<String>()
                + "…"
        } else {
            cat.clone()
        };
        l.y = top + (group_h - 6.0) / 2.0 - 4.5;
        l.text(MARGIN, 8.0, INK, &name);
        for (si, s) in c.series.iter().enumerate() {
            let v = s.values.get(g).copied().unwrap_or(0.0);
            let w = (bar_area as f64 * v / max) as f32;
            let y = top + bar_h * si as f32;
            l.ops().push(Op::Rect {
                x: MARGIN + label_w,
                y,
                w: w.max(0.5),
                h: bar_h - 1.0,
                color: PALETTE[si % PALETTE.len()],
            });
            l.y = y - 1.5;
            let label = value_text(v, &c.unit);
            l.text(MARGIN + label_w + w + 3.0, 6.5, GREY, label.trim());
        }
        l.y = top + group_h;
    }
    l.y += 10.0;
}

fn layout(r: &pb::WorkReport) -> Layout {
    let mut l = Layout::new();
    let title_w = text_width(&r.title, 17.0);
    l.text((PAGE_W - title_w) / 2.0, 17.0, INK, &r.title);
    l.y += 30.0;
    let meta = format!(
        "统计期间 {} 至 {}（北京时间，含首日、不含末日） 生成 {}",
        date(&r.from),
        date(&r.to),
        date(&r.generated_at)
    );
    l.paragraph(&meta, 8.5, GREY, false);
    l.y += 6.0;
    for s in &r.sections {
        l.room(40.0);
        l.y += 6.0;
        l.text(MARGIN, 13.0, INK, &s.title);
        l.y += 22.0;
        for p in &s.paragraphs {
            l.paragraph(p, 10.5, INK, true);
        }
    }
    l.new_page();
    l.text(MARGIN, 13.0, INK, "图表");
    l.y += 24.0;
    for c in &r.charts {
        chart(&mut l, c);
    }
    l.new_page();
    l.text(MARGIN, 13.0, INK, "数据说明");
    l.y += 24.0;
    for f in &r.figures {
        let value = value_text(f.value, &f.unit);
        let label_lines = wrap(&f.label, 9.0, 150.0, 0.0);
        let how = format!("{} — {}", f.counted_as, f.source);
        let how_lines = wrap(&how, 7.5, WIDTH - 260.0, 0.0);
        let h = (label_lines.len() as f32 * 13.0).max(how_lines.len() as f32 * 11.0) + 6.0;
        l.room(h);
        let top = l.y;
        for (i, line) in label_lines.iter().enumerate() {
            l.y = top + i as f32 * 13.0;
            l.text(MARGIN, 9.0, INK, line);
        }
        l.y = top;
        l.text(
            MARGIN + 250.0 - text_width(value.trim(), 9.0),
            9.0,
            INK,
            value.trim(),
        );
        for (i, line) in how_lines.iter().enumerate() {
            l.y = top + i as f32 * 11.0;
            l.text(MARGIN + 260.0, 7.5, GREY, line);
        }
        l.y = top + h - 3.0;
        l.rule();
        l.y += 3.0;
    }
    l.y += 12.0;
    l.room(30.0);
    l.text(MARGIN, 13.0, INK, "统计口径说明");
    l.y += 22.0;
    for n in &r.notes {
        l.paragraph(&format!("· {n}"), 8.5, INK, false);
    }
    l
}

fn date(t: &Option<prost_types::Timestamp>) -> String {
    t.as_ref()
        .and_then(|t| chrono::DateTime::from_timestamp(t.seconds, 0))
        .map(|t| {
            t.with_timezone(&crate::period::beijing())
                .format("%Y-%m-%d %H:%M")
                .to_string()
        })
        .unwrap_or_default()
}

fn fill(color: (u8, u8, u8)) -> Option<Fill> {
    Some(Fill {
        paint: rgb::Color::new(color.0, color.1, color.2).into(),
        opacity: NormalizedF32::ONE,
        rule: Default::default(),
    })
}

/// The report as a PDF document.
pub fn render(r: &pb::WorkReport) -> Result<Vec<u8>> {
    let font = FONT
        .clone()
        .ok_or_else(|| Error::internal("the embedded CJK font does not load"))?;
    let layout = layout(r);
    let total = layout.pages.len();
    let mut document = Document::new();
    for (n, ops) in layout.pages.into_iter().enumerate() {
        let settings = PageSettings::from_wh(PAGE_W, PAGE_H)
            .ok_or_else(|| Error::internal("A4 is a page size"))?;
        let mut page = document.start_page_with(settings);
        let mut surface = page.surface();
        let footer = format!("第 {} 页，共 {} 页", n + 1, total);
        let footer_op = Op::Text {
            x: (PAGE_W - text_width(&footer, 8.0)) / 2.0,
            y: PAGE_H - MARGIN / 2.0,
            size: 8.0,
            color: GREY,
            text: footer,
        };
        for op in ops.iter().chain(std::iter::once(&footer_op)) {
            match op {
                Op::Text {
                    x,
                    y,
                    size,
                    color,
                    text,
                } => {
                    surface.set_fill(fill(*color));
                    surface.draw_text(
                        Point::from_xy(*x, *y),
                        font.clone(),
                        *size,
                        text,
                        false,
                        TextDirection::Auto,
                    );
                }
                Op::Rect { x, y, w, h, color } => {
                    let Some(rect) = Rect::from_xywh(*x, *y, *w, *h) else {
                        continue;
                    };
                    let mut pb = PathBuilder::new();
                    pb.push_rect(rect);
                    if let Some(path) = pb.finish() {
                        surface.set_fill(fill(*color));
                        surface.draw_path(&path);
                    }
                }
            }
        }
        surface.finish();
        page.finish();
    }
    document
        .finish()
        .map_err(|e| Error::internal(format!("the PDF could not be written: {e:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_break_between_characters_never_inside_numbers() {
        let lines = wrap(
            "全县共受理办件227,000件，其中网上办件占62.97%。",
            10.0,
            100.0,
            0.0,
        );
        assert!(lines.len() > 1);
        assert!(lines.iter().any(|l| l.contains("227,000")));
        assert!(lines.iter().any(|l| l.contains("62.97%")));
        assert_eq!(
            lines.concat(),
            "全县共受理办件227,000件，其中网上办件占62.97%。"
        );
    }

    #[test]
    fn a_report_renders_as_a_pdf_with_the_font_embedded() {
        let report = pb::WorkReport {
            title: "数据资源局2026年上半年工作总结（数据部分）".into(),
            sections: vec![pb::ReportSection {
                key: "services".into(),
                title: "一、“互联网+政务服务”".into(),
                paragraphs: vec![
                    "1—5月，全县共受理办件227,000件，其中网上（含掌上）办件占62.97%。".repeat(40),
                ],
            }],
            charts: vec![pb::Chart {
                key: "c".into(),
                title: "各月办件量".into(),
                kind: "bar".into(),
                unit: "件".into(),
                categories: vec!["2026-01".into(), "2026-02".into()],
                series: vec![pb::Series {
                    name: "网上".into(),
                    values: vec![10.0, 20.0],
                }],
            }],
            ..Default::default()
        };
        let pdf = render(&report).unwrap();
        assert!(pdf.starts_with(b"%PDF-"));
        assert!(pdf.trim_ascii_end().ends_with(b"%%EOF"));
        // The font is embedded, subset to the characters used: far smaller than the 3 MB it
        // comes from, far larger than a PDF without it.
        assert!(
            (10_000..1_000_000).contains(&pdf.len()),
            "{} bytes",
            pdf.len()
        );
    }
}
