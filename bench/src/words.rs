//! `bash bench/run --suite words`: the 错敏词 scanner's throughput on one core, over 64 MiB of
//! Chinese text against a dictionary of 5,000 words, in two mixes: *typical* (common Han
//! characters, digits and punctuation like a government site's pages, a listed word about every
//! 2,000 characters, some of them in traditional or full-width forms) and *dense* (the text made
//! of the dictionary's own characters, a finding every dozen characters: the worst case). The
//! baseline, in the same run, is the aho-corasick automaton over the same text without folding:
//! what the scanner adds is the folding pass and the findings' offsets.

use std::time::Instant;

use yiwang_content::words::{Entry, Scanner};
use yiwang_kit::demo_rng::SplitMix64;

/// Common characters of government prose (the filler of the typical mix).
const COMMON: &str = "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点从业本去把性好应开它合还因由其些然前外天政四日那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比或但质气第向道命此变条只没结解问意建月公无系军很情者最立代想已通并提直题党程展五果料象员革位入常文总次品式活设及管特件长求老头基资边流路级少图山统接知较将组见计别她手角期根论运农指几九区强放决西被干做必战先回则任取据处理府研";

const POOL: &str = "政务服务县人民政府办公室数据资源局市场监督管理审批事项许可证照企业群众办件受理办结评价一网通办改革优化营商环境工作会议要求推进落实建设平台系统网络安全项目资金乡镇村社区窗口中心大厅预约材料申请";

pub fn run(report: &mut Vec<String>) -> anyhow::Result<()> {
    let pool: Vec<char> = POOL.chars().collect();
    let mut rng = SplitMix64::new(2026);
    let words: Vec<String> = (0..5_000)
        .map(|_| {
            let len = 2 + rng.index(6);
            (0..len).map(|_| pool[rng.index(pool.len())]).collect()
        })
        .collect();
    let entries: Vec<Entry> = words
        .iter()
        .map(|w| Entry {
            word: w.clone(),
            kind: "wrong".into(),
            suggestion: String::new(),
            note: String::new(),
        })
        .collect();
    let scanner = Scanner::new(entries);
    let plain = aho_corasick::AhoCorasick::builder()
        .match_kind(aho_corasick::MatchKind::LeftmostLongest)
        .kind(Some(aho_corasick::AhoCorasickKind::DFA))
        .build(&words)?;
    let common: Vec<char> = COMMON.chars().collect();
    for mix in ["typical", "dense"] {
        let mut text = String::with_capacity(64 << 20);
        while text.len() < 64 << 20 {
            let filler = if mix == "typical" { &common } else { &pool };
            match rng.index(if mix == "typical" { 2_000 } else { 100 }) {
                0 => text.push_str("國務院辦公廳"),
                1 => text.push_str("ＡＰＰ下载"),
                2 => text.push_str(&words[rng.index(words.len())]),
                3..=6 => text.push_str(&format!("{}年", 2000 + rng.index(30))),
                7..=30 => text.push('，'),
                31..=38 => text.push_str("。\n"),
                _ => text.push(filler[rng.index(filler.len())]),
            }
        }
        let mb = text.len() as f64 / (1024.0 * 1024.0);
        // Best of three for each, one core.
        let mut best = (f64::MAX, f64::MAX);
        let (mut found, mut found_plain) = (0, 0);
        for _ in 0..3 {
            let t = Instant::now();
            found = scanner.scan(&text).len();
            best.0 = best.0.min(t.elapsed().as_secs_f64());
            let t = Instant::now();
            found_plain = plain.find_iter(&text).count();
            best.1 = best.1.min(t.elapsed().as_secs_f64());
        }
        let (ours, base) = (mb / best.0, mb / best.1);
        report.push(format!(
            "| 错敏词 scan, {mix} text: {mb:.0} MiB, 5,000 words, one core ({found} findings; {found_plain} without folding) | {ours:.1} MB/s | {base:.1} MB/s (aho-corasick without folding) | {:.2}× the baseline{} |",
            ours / base,
            if mix == "typical" {
                format!("; target ≥ 50 MB/s {}", if ours >= 50.0 { "met" } else { "NOT met" })
            } else {
                String::new()
            }
        ));
    }
    Ok(())
}
