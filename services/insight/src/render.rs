//! The work report as a document: one self-contained HTML page (no script, no external
//! resource — it opens the same offline, in a browser or an archive) with its charts drawn as
//! inline SVG, its paragraphs, the table of every figure with how it is counted and where it
//! comes from, and the counting notes.

use std::fmt::Write;

use yiwang_proto::insight::v1 as pb;

use crate::report::{int, pct};

/// Escapes text for HTML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

const PALETTE: [&str; 6] = [
    "#c0392b", "#2e86c1", "#27ae60", "#f39c12", "#8e44ad", "#7f8c8d",
];

fn value_text(v: f64, unit: &str) -> String {
    if unit == "%" {
        pct(v)
    } else if v.fract().abs() > 1e-9 && v.abs() < 1e6 {
        format!("{v:.2}")
    } else {
        int(v)
    }
}

/// A grid line's label: whole numbers (whole percents).
fn axis_text(v: f64, unit: &str) -> String {
    if unit == "%" {
        format!("{v:.0}%")
    } else {
        int(v)
    }
}

/// A grouped bar chart: categories along the bottom, one bar per series in each group.
pub fn bar_chart(c: &pb::Chart) -> String {
    let (w, h, left, bottom, top) = (760.0, 320.0, 56.0, 90.0, 36.0);
    let max = c
        .series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .fold(0.0f64, f64::max)
        .max(1e-9);
    let groups = c.categories.len().max(1) as f64;
    let per = c.series.len().max(1) as f64;
    let plot_w = w - left - 16.0;
    let plot_h = h - bottom - top;
    let group_w = plot_w / groups;
    let bar_w = (group_w * 0.8 / per).max(1.0);
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart" data-chart="{key}" role="img" aria-label="{title}" viewBox="0 0 {w} {h}" xmlns="http://www.w3.org/2000/svg" font-size="11">"#,
        key = esc(&c.key),
        title = esc(&c.title)
    );
    let _ = write!(
        svg,
        r#"<text x="{left}" y="18" font-size="14" font-weight="bold">{}</text>"#,
        esc(&c.title)
    );
    // Axis and three grid lines.
    for i in 0..=4 {
        let y = top + plot_h - plot_h * i as f64 / 4.0;
        let v = max * i as f64 / 4.0;
        let _ = write!(
            svg,
            r##"<line x1="{left}" y1="{y:.1}" x2="{x2:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{tx:.1}" y="{ty:.1}" text-anchor="end">{label}</text>"##,
            x2 = left + plot_w,
            tx = left - 4.0,
            ty = y + 4.0,
            label = esc(&axis_text(v, &c.unit))
        );
    }
    for (g, cat) in c.categories.iter().enumerate() {
        let gx = left + group_w * g as f64 + group_w * 0.1;
        for (si, s) in c.series.iter().enumerate() {
            let v = s.values.get(g).copied().unwrap_or(0.0);
            let bh = plot_h * v / max;
            let x = gx + bar_w * si as f64;
            let y = top + plot_h - bh;
            let _ = write!(
                svg,
                r#"<rect x="{x:.1}" y="{y:.1}" width="{bw:.1}" height="{bh:.1}" fill="{color}"><title>{cat} · {name}: {val}</title></rect>"#,
                bw = (bar_w - 1.0).max(0.5),
                color = PALETTE[si % PALETTE.len()],
                cat = esc(cat),
                name = esc(&s.name),
                val = esc(&value_text(v, &c.unit))
            );
        }
        let cx = gx + group_w * 0.4;
        let cy = top + plot_h + 12.0;
        let _ = write!(
            svg,
            r#"<text x="{cx:.1}" y="{cy:.1}" text-anchor="end" transform="rotate(-35 {cx:.1} {cy:.1})">{}</text>"#,
            esc(cat)
        );
    }
    // Legend.
    for (si, s) in c.series.iter().enumerate() {
        let x = left + 130.0 * si as f64 + 260.0;
        let _ = write!(
            svg,
            r#"<rect x="{x:.1}" y="8" width="10" height="10" fill="{}"/><text x="{tx:.1}" y="17">{}</text>"#,
            PALETTE[si % PALETTE.len()],
            esc(&s.name),
            tx = x + 14.0
        );
    }
    svg.push_str("</svg>");
    svg
}

pub fn html(r: &pb::WorkReport) -> String {
    let mut out = String::with_capacity(64 * 1024);
    let _ = write!(
        out,
        r#"<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8"><title>{title}</title>
<style>
body{{font-family:"Noto Sans CJK SC","Source Han Sans SC","Microsoft YaHei",sans-serif;max-width:860px;margin:2em auto;line-height:1.7;color:#222}}
h1{{text-align:center;font-size:1.5em}} h2{{font-size:1.15em;margin-top:1.6em}}
p{{text-indent:2em}} figure{{margin:1em 0}} .chart{{width:100%;height:auto}}
table{{border-collapse:collapse;width:100%;font-size:.85em}} td,th{{border:1px solid #ccc;padding:3px 6px;vertical-align:top}}
td.n{{text-align:right;white-space:nowrap}} .meta{{color:#666;font-size:.85em;text-align:center}}
</style></head><body>
<h1>{title}</h1>
<p class="meta">统计期间：{from} 至 {to}（北京时间，含首日、不含末日）· 生成时间：{generated}</p>
"#,
        title = esc(&r.title),
        from = esc(&ts(&r.from)),
        to = esc(&ts(&r.to)),
        generated = esc(&ts(&r.generated_at)),
    );
    for s in &r.sections {
        let _ = write!(
            out,
            r#"<section data-section="{}"><h2>{}</h2>"#,
            esc(&s.key),
            esc(&s.title)
        );
        for p in &s.paragraphs {
            let _ = write!(out, "<p>{}</p>", esc(p));
        }
        out.push_str("</section>\n");
    }
    out.push_str("<h2>图表</h2>\n");
    for c in &r.charts {
        let _ = write!(out, "<figure>{}</figure>\n", bar_chart(c));
    }
    out.push_str(
        "<h2>数据说明</h2>\n<table><thead><tr><th>指标</th><th>数值</th><th>口径</th><th>来源</th></tr></thead><tbody>\n",
    );
    for f in &r.figures {
        let _ = write!(
            out,
            r#"<tr data-figure="{key}"><td>{label}</td><td class="n">{value} {unit}</td><td>{counted}</td><td><code>{source}</code></td></tr>"#,
            key = esc(&f.key),
            label = esc(&f.label),
            value = esc(&value_text(f.value, &f.unit)),
            unit = esc(if f.unit == "%" { "" } else { &f.unit }),
            counted = esc(&f.counted_as),
            source = esc(&f.source),
        );
        out.push('\n');
    }
    out.push_str("</tbody></table>\n<h2>统计口径说明</h2>\n<ul>\n");
    for n in &r.notes {
        let _ = write!(out, "<li>{}</li>\n", esc(n));
    }
    out.push_str("</ul>\n</body></html>\n");
    out
}

fn ts(t: &Option<prost_types::Timestamp>) -> String {
    t.as_ref()
        .and_then(|t| chrono::DateTime::from_timestamp(t.seconds, 0))
        .map(|t| {
            t.with_timezone(&crate::period::beijing())
                .format("%Y-%m-%d %H:%M")
                .to_string()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_charts_are_drawn() {
        let chart = pb::Chart {
            key: "k".into(),
            title: "<script>".into(),
            kind: "bar".into(),
            unit: "件".into(),
            categories: vec!["一月".into(), "二月".into()],
            series: vec![pb::Series {
                name: "网上".into(),
                values: vec![10.0, 20.0],
            }],
        };
        let svg = bar_chart(&chart);
        assert!(svg.contains("&lt;script&gt;") && !svg.contains("<script>"));
        assert_eq!(
            svg.matches("<rect").count(),
            2 + 1,
            "two bars and a legend key"
        );
        let page = html(&pb::WorkReport {
            title: "报告 & 总结".into(),
            charts: vec![chart],
            ..Default::default()
        });
        assert!(page.contains("报告 &amp; 总结") && page.contains("data-chart=\"k\""));
    }
}
