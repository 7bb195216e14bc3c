//! `bash bench/run --suite words`: the 错敏词 scanner's throughput on one core, over 64 MiB of
//! Chinese text (a mix like a government site's: Han characters, digits, punctuation, some
//! Latin, one in a hundred words written in traditional or full-width forms) against a
//! dictionary of 5,000 words. The baseline, in the same run, is the aho-corasick automaton over
//! the same text without folding: what the scanner adds is the folding pass.

use std::time::Instant;

use yiwang_content::words::{Entry, Scanner};

/// splitmix64, as elsewhere in the demo data: deterministic and fast.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const POOL: &str = "政务服务县人民政府办公室数据资源局市场监督管理审批事项许可证照企业群众办件受理办结评价一网通办改革优化营商环境工作会议要求推进落实建设平台系统网络安全项目资金乡镇村社区窗口中心大厅预约材料申请";

pub fn run(report: &mut Vec<String>) -> anyhow::Result<()> {
    let pool: Vec<char> = POOL.chars().collect();
    let mut rng = Rng(2026);
    let words: Vec<String> = (0..5_000)
        .map(|_| {
            let len = 2 + rng.below(6);
            (0..len).map(|_| pool[rng.below(pool.len())]).collect()
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
    let mut text = String::with_capacity(64 << 20);
    while text.len() < 64 << 20 {
        match rng.below(100) {
            0 => text.push_str("國務院辦公廳"),
            1 => text.push_str("ＡＰＰ下载"),
            2..=5 => text.push_str(&format!("{}年", 2000 + rng.below(30))),
            6..=9 => text.push('，'),
            10 => text.push_str("。\n"),
            _ => text.push(pool[rng.below(pool.len())]),
        }
    }
    let mb = text.len() as f64 / (1024.0 * 1024.0);
    let scanner = Scanner::new(entries);
    let plain = aho_corasick::AhoCorasick::builder()
        .match_kind(aho_corasick::MatchKind::LeftmostLongest)
        .kind(Some(aho_corasick::AhoCorasickKind::DFA))
        .build(&words)?;
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
        "| 错敏词 scan, {mb:.0} MiB of Chinese text, 5,000 words, one core ({found} findings; plain {found_plain}) | {ours:.1} MB/s | {base:.1} MB/s (aho-corasick without folding) | {:.2}× the baseline; target ≥ 50 MB/s: {} |",
        ours / base,
        if ours >= 50.0 { "met" } else { "NOT met" }
    ));
    Ok(())
}
