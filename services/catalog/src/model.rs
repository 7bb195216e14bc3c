//! The catalogue's domain types and the code lists they are checked against
//! (shared/data/codes.md, copied to docs/codes.md).

use serde::{Deserialize, Serialize};

pub const ORG_KINDS: &[&str] = &["department", "town", "village"];
pub const TIME_UNITS: &[&str] = &["working_days", "natural_days", "working_hours"];
pub const HANDLING_KINDS: &[&str] = &["instant", "promised"];
/// 事项类型 with their names; 30–32 are provincial additions.
pub const TASK_TYPES: &[(&str, &str)] = &[
    ("01", "行政许可"),
    ("02", "行政处罚"),
    ("03", "行政强制"),
    ("04", "行政征收"),
    ("05", "行政给付"),
    ("06", "行政检查"),
    ("07", "行政确认"),
    ("08", "行政奖励"),
    ("09", "行政裁决"),
    ("10", "其他行政权力"),
    ("20", "公共服务"),
    ("30", "政府内部审批"),
    ("31", "依申请便民服务"),
    ("32", "主题服务"),
];
/// 行使层级 1..5.
pub const LEVELS: &[(u32, &str)] = &[
    (1, "国家"),
    (2, "省"),
    (3, "地市"),
    (4, "区县"),
    (5, "乡镇"),
];
/// 服务对象.
pub const APPLICANT_KINDS: &[(&str, &str)] = &[
    ("1", "自然人"),
    ("2", "企业法人"),
    ("3", "事业法人"),
    ("4", "社会组织法人"),
    ("5", "非法人企业"),
    ("6", "行政机关"),
    ("9", "其他组织"),
];
pub const POWER_SOURCES: &[&str] = &["1", "2", "3", "4", "5", "6"];
pub const CHANNELS: &[&str] = &[
    "online",
    "mobile",
    "self_service",
    "window",
    "express",
    "appointment",
    "weekend_appointment",
    "cross_province",
];
pub const MATERIAL_FORMATS: &[&str] = &["paper", "electronic", "both"];
pub const MATERIAL_SOURCES: &[&str] =
    &["applicant", "government_shared", "issuing_agency", "other"];
pub const STANDARD_LISTS: &[&str] = &["province", "city"];
pub const BUNDLE_APPLICANT_KINDS: &[&str] = &["person", "legal_person"];

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct TimeLimit {
    pub value: u32,
    /// One of [`TIME_UNITS`].
    pub unit: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Material {
    pub name: String,
    pub required: bool,
    /// One of [`MATERIAL_FORMATS`].
    pub format: String,
    /// One of [`MATERIAL_SOURCES`].
    pub source: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Fee {
    pub name: String,
    pub amount_fen: i64,
}

/// An org unit: a county department, a town or a village/community.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct OrgUnit {
    pub code: String,
    pub name: String,
    /// One of [`ORG_KINDS`].
    pub kind: String,
    pub region_code: String,
    /// Agency USCC; required for departments and towns, may be empty for villages.
    pub uscc: String,
    pub parent: Option<String>,
}

/// The editable content of one version of a service item (stored as JSONB, so new fields need
/// no migration and old versions stay readable as they were).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(default)]
pub struct ItemContent {
    pub catalog_code: String,
    pub name: String,
    pub task_type: String,
    pub level: u32,
    /// Implementing org unit code.
    pub department: String,
    pub legal_limit: Option<TimeLimit>,
    pub promised_limit: Option<TimeLimit>,
    pub handling_kind: String,
    pub applicant_kinds: Vec<String>,
    pub acceptance_conditions: String,
    pub legal_basis: String,
    pub power_source: String,
    pub materials: Vec<Material>,
    pub fees: Vec<Fee>,
    pub online_depth: Vec<u32>,
    pub channels: Vec<String>,
    pub visits_required: u32,
    pub high_frequency: bool,
    pub standard_lists: Vec<String>,
}

impl ItemContent {
    /// 网上可办: accepted online (网上办理深度 reaches 4 受理).
    pub fn online_capable(&self) -> bool {
        self.online_depth.iter().any(|d| *d == 4 || *d == 5)
    }

    /// 全程网办: no visit to a hall, and an online or mobile channel.
    pub fn full_online(&self) -> bool {
        self.visits_required == 0
            && self.online_capable()
            && self.channels.iter().any(|c| c == "online" || c == "mobile")
    }

    /// The text keyword search looks in: the name and every material name.
    pub fn search_text(&self) -> String {
        let mut s = self.name.clone();
        for m in &self.materials {
            s.push('\u{1f}');
            s.push_str(&m.name);
        }
        normalize(&s)
    }
}

/// A bundle (一件事一次办) as created.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct BundleSpec {
    pub name: String,
    /// One of [`BUNDLE_APPLICANT_KINDS`].
    pub applicant_kind: String,
    /// Item codes.
    pub items: Vec<String>,
    pub promised_limit: Option<TimeLimit>,
    pub description: String,
    /// One of the county's high-frequency 一件事.
    #[serde(default)]
    pub high_frequency: bool,
}

/// Search normalisation: full-width ASCII to half-width, lowercase, whitespace removed. Applied to
/// both stored text and queries so "ＩＣＰ 许可" finds "icp许可".
pub fn normalize(s: &str) -> String {
    s.chars()
        .filter_map(|c| {
            let c = match c {
                '\u{3000}' => ' ',
                '\u{ff01}'..='\u{ff5e}' => char::from_u32(c as u32 - 0xfee0).unwrap_or(c),
                _ => c,
            };
            if c.is_whitespace() {
                None
            } else {
                Some(c.to_lowercase().next().unwrap_or(c))
            }
        })
        .collect()
}

/// The index terms of a text: every single character and every pair of adjacent characters.
/// A query of n ≥ 2 characters needs all its bigrams present, which a GIN index answers fast
/// for Chinese text without a word segmenter; the substring check then confirms the match.
pub fn grams(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().filter(|c| *c != '\u{1f}').collect();
    let mut out: Vec<String> = chars.iter().map(|c| c.to_string()).collect();
    // Bigrams do not span the separator between name and materials.
    for part in text.split('\u{1f}') {
        let cs: Vec<char> = part.chars().collect();
        out.extend(cs.windows(2).map(|w| w.iter().collect::<String>()));
    }
    out.sort();
    out.dedup();
    out
}

/// The terms a query needs: its bigrams, or the character itself for a one-character query.
pub fn query_grams(query: &str) -> Vec<String> {
    let cs: Vec<char> = query.chars().collect();
    let mut out: Vec<String> = if cs.len() == 1 {
        vec![cs[0].to_string()]
    } else {
        cs.windows(2).map(|w| w.iter().collect()).collect()
    };
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_and_grams() {
        assert_eq!(normalize("ＩＣＰ 许可"), "icp许可");
        let g = grams(&normalize("营业执照\u{1f}身份证"));
        assert!(
            g.contains(&"营业".to_string())
                && g.contains(&"执照".to_string())
                && g.contains(&"身份".to_string())
        );
        assert!(
            !g.contains(&"照身".to_string()),
            "bigrams must not span fields"
        );
        assert_eq!(query_grams("营业执照"), vec!["业执", "执照", "营业"]);
        assert_eq!(query_grams("证"), vec!["证"]);
    }
}
