//! Field-by-field validation of catalogue input. Every rule answers with the field's path (as the
//! REST body names it, e.g. `materials[2].format`) and the rule, all violations at once.

use yiwang_kit::ids;
use yiwang_kit::{Result, Violations};

use crate::model::*;

const MAX_NAME: usize = 200;
const MAX_TEXT: usize = 4000;
const MAX_LIST: usize = 100;

fn one_of(value: &str, allowed: &[&str]) -> std::result::Result<(), String> {
    if allowed.contains(&value) {
        Ok(())
    } else {
        Err(format!("must be one of {}", allowed.join(", ")))
    }
}

fn text(v: &mut Violations, field: &str, value: &str, required: bool, max: usize) {
    if required && value.trim().is_empty() {
        v.add(field, "is required");
    } else if value.chars().count() > max {
        v.add(field, format!("must be at most {max} characters"));
    } else if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        v.add(field, "must not contain control characters");
    }
}

use yiwang_kit::ids::check_code as code_chars;

/// An org unit's identifier: [0-9A-Za-z_-], 2..64.
pub fn org_code(value: &str) -> std::result::Result<(), String> {
    if (2..=64).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        Ok(())
    } else {
        Err("must be 2 to 64 characters of letters, digits, '-' and '_'".to_string())
    }
}

pub fn org_unit(u: &OrgUnit) -> Result<()> {
    let mut v = Violations::new();
    v.check("code", org_code(&u.code));
    text(&mut v, "name", &u.name, true, MAX_NAME);
    v.check("kind", one_of(&u.kind, ORG_KINDS));
    v.check("region_code", ids::check_region_code(&u.region_code));
    if u.uscc.is_empty() {
        if u.kind != "village" {
            v.add("uscc", "is required for departments and towns");
        }
    } else {
        v.check("uscc", ids::check_uscc(&u.uscc));
    }
    match (&u.parent, u.kind.as_str()) {
        (None, "village") => v.add("parent", "is required for a village: its town's code"),
        (Some(p), _) => v.check("parent", org_code(p)),
        _ => {}
    }
    v.into_result()
}

/// The implementation code (实施编码). Lengths vary by province, so only the character set and
/// bounds are enforced; when it has the common 31-character shape (USCC + level + basic code),
/// the embedded parts must agree with the item.
pub fn item_code(code: &str, content: Option<&ItemContent>) -> Result<()> {
    let mut v = Violations::new();
    check_item_code(&mut v, code, content);
    v.into_result()
}

fn check_item_code(v: &mut Violations, code: &str, content: Option<&ItemContent>) {
    if let Err(e) = code_chars(code, 8, 64) {
        v.add("code", e);
        return;
    }
    if code.len() == 31 && ids::check_uscc(&code[..18]).is_ok() {
        if let Some(c) = content {
            if code[18..19] != c.level.to_string() {
                v.add(
                    "code",
                    format!(
                        "character 19 is the level ({}) but level is {}",
                        &code[18..19],
                        c.level
                    ),
                );
            }
            if code[19..] != c.catalog_code {
                v.add(
                    "code",
                    format!(
                        "ends with the basic code {} but catalog_code is {}",
                        &code[19..],
                        c.catalog_code
                    ),
                );
            }
        }
    }
}

fn time_limit(v: &mut Violations, field: &str, limit: &TimeLimit) {
    v.check(&format!("{field}.unit"), one_of(&limit.unit, TIME_UNITS));
    let max = if limit.unit == "working_hours" {
        24 * 365
    } else {
        3650
    };
    if limit.value == 0 || limit.value > max {
        v.add(
            format!("{field}.value"),
            format!("must be between 1 and {max}"),
        );
    }
}

/// Everything about an item's content that needs no database.
pub fn item(code: &str, c: &ItemContent) -> Result<()> {
    let mut v = Violations::new();
    check_item_code(&mut v, code, Some(c));
    v.check("catalog_code", code_chars(&c.catalog_code, 4, 32));
    text(&mut v, "name", &c.name, true, MAX_NAME);
    v.check(
        "task_type",
        one_of(
            &c.task_type,
            &TASK_TYPES.iter().map(|t| t.0).collect::<Vec<_>>(),
        ),
    );
    if !LEVELS.iter().any(|l| l.0 == c.level) {
        v.add("level", "must be 1 (national) to 5 (town)");
    }
    v.check("department", org_code(&c.department));
    match &c.promised_limit {
        None => v.add("promised_limit", "is required"),
        Some(p) => time_limit(&mut v, "promised_limit", p),
    }
    if let Some(l) = &c.legal_limit {
        time_limit(&mut v, "legal_limit", l);
        if let Some(p) = &c.promised_limit
            && p.unit == l.unit
            && p.value > l.value
        {
            v.add(
                "promised_limit.value",
                format!("must not exceed the legal limit ({} {})", l.value, l.unit),
            );
        }
    }
    v.check("handling_kind", one_of(&c.handling_kind, HANDLING_KINDS));
    if c.applicant_kinds.is_empty() {
        v.add("applicant_kinds", "needs at least one applicant kind");
    }
    let kinds: Vec<&str> = APPLICANT_KINDS.iter().map(|k| k.0).collect();
    list(&mut v, "applicant_kinds", &c.applicant_kinds, |s| {
        one_of(s, &kinds)
    });
    text(
        &mut v,
        "acceptance_conditions",
        &c.acceptance_conditions,
        false,
        MAX_TEXT,
    );
    text(&mut v, "legal_basis", &c.legal_basis, false, MAX_TEXT);
    if !c.power_source.is_empty() {
        v.check("power_source", one_of(&c.power_source, POWER_SOURCES));
    }
    if c.materials.len() > MAX_LIST {
        v.add("materials", format!("at most {MAX_LIST} materials"));
    }
    for (i, m) in c.materials.iter().enumerate() {
        text(
            &mut v,
            &format!("materials[{i}].name"),
            &m.name,
            true,
            MAX_NAME,
        );
        v.check(
            &format!("materials[{i}].format"),
            one_of(&m.format, MATERIAL_FORMATS),
        );
        v.check(
            &format!("materials[{i}].source"),
            one_of(&m.source, MATERIAL_SOURCES),
        );
    }
    if c.fees.len() > MAX_LIST {
        v.add("fees", format!("at most {MAX_LIST} fees"));
    }
    for (i, f) in c.fees.iter().enumerate() {
        text(&mut v, &format!("fees[{i}].name"), &f.name, true, MAX_NAME);
        if !(0..=1_000_000_000_000).contains(&f.amount_fen) {
            v.add(
                format!("fees[{i}].amount_fen"),
                "must be between 0 and 1000000000000 fen",
            );
        }
    }
    let mut seen = std::collections::HashSet::new();
    for (i, d) in c.online_depth.iter().enumerate() {
        if !(1..=8).contains(d) {
            v.add(
                format!("online_depth[{i}]"),
                "must be 1 to 8 (网上办理深度)",
            );
        } else if !seen.insert(*d) {
            v.add(format!("online_depth[{i}]"), "is listed twice");
        }
    }
    list(&mut v, "channels", &c.channels, |s| one_of(s, CHANNELS));
    if c.visits_required > 10 {
        v.add("visits_required", "must be between 0 and 10");
    }
    list(&mut v, "standard_lists", &c.standard_lists, |s| {
        one_of(s, STANDARD_LISTS)
    });
    v.into_result()
}

fn list(
    v: &mut Violations,
    field: &str,
    values: &[String],
    rule: impl Fn(&str) -> std::result::Result<(), String>,
) {
    let mut seen = std::collections::HashSet::new();
    for (i, s) in values.iter().enumerate() {
        if let Err(e) = rule(s) {
            v.add(format!("{field}[{i}]"), e);
        } else if !seen.insert(s.as_str()) {
            v.add(format!("{field}[{i}]"), "is listed twice");
        }
    }
}

pub fn bundle(b: &BundleSpec) -> Result<()> {
    let mut v = Violations::new();
    text(&mut v, "name", &b.name, true, MAX_NAME);
    v.check(
        "applicant_kind",
        one_of(&b.applicant_kind, BUNDLE_APPLICANT_KINDS),
    );
    if b.items.len() < 2 || b.items.len() > 30 {
        v.add("items", "a bundle groups 2 to 30 items");
    }
    list(&mut v, "items", &b.items, |s| code_chars(s, 8, 64));
    if let Some(p) = &b.promised_limit {
        time_limit(&mut v, "promised_limit", p);
    }
    text(&mut v, "description", &b.description, false, MAX_TEXT);
    v.into_result()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ItemContent {
        ItemContent {
            catalog_code: "000101001000".into(),
            name: "食品经营许可".into(),
            task_type: "01".into(),
            level: 4,
            department: "340522-SCJGJ".into(),
            legal_limit: Some(TimeLimit {
                value: 20,
                unit: "working_days".into(),
            }),
            promised_limit: Some(TimeLimit {
                value: 5,
                unit: "working_days".into(),
            }),
            handling_kind: "promised".into(),
            applicant_kinds: vec!["2".into()],
            materials: vec![Material {
                name: "营业执照".into(),
                required: true,
                format: "electronic".into(),
                source: "government_shared".into(),
            }],
            online_depth: vec![1, 2, 3, 4],
            channels: vec!["online".into(), "window".into()],
            ..Default::default()
        }
    }

    #[test]
    fn accepts_a_good_item_and_names_bad_fields() {
        assert!(
            item("11340522MB0123456X4000101001000", &sample()).is_ok()
                || item("ABCDEFGH", &sample()).is_ok()
        );
        let mut c = sample();
        c.promised_limit = Some(TimeLimit {
            value: 30,
            unit: "weeks".into(),
        });
        c.materials[0].format = "fax".into();
        c.channels.push("online".into());
        let err = item("bad code!", &c).unwrap_err();
        let fields: Vec<&str> = err.violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(
            fields,
            vec![
                "code",
                "promised_limit.unit",
                "materials[0].format",
                "channels[2]"
            ]
        );
    }

    #[test]
    fn promised_within_legal() {
        let mut c = sample();
        c.promised_limit = Some(TimeLimit {
            value: 25,
            unit: "working_days".into(),
        });
        let err = item("ABCDEFGH1", &c).unwrap_err();
        assert_eq!(err.violations[0].field, "promised_limit.value");
    }

    #[test]
    fn standard_code_parts_must_agree() {
        let uscc = yiwang_kit::ids::uscc_with_check("11340522MB0123456").unwrap();
        let ok = format!("{uscc}4000101001000");
        assert!(item(&ok, &sample()).is_ok());
        let wrong_level = format!("{uscc}5000101001000");
        assert!(
            item(&wrong_level, &sample())
                .unwrap_err()
                .message
                .contains("level")
        );
    }
}
